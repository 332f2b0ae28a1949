package schedule

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// clock is a fake clock the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func mustCron(t *testing.T, spec string) Cron {
	t.Helper()
	c, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// step is one thing that happens to a scheduler: the clock moves to at
// (minutes after t0), then one action.
type step struct {
	at float64 // minutes after t0
	// due, when not nil, calls Due and expects exactly these names.
	due []string
	// done finishes a run of this job with changed and err.
	done    string
	changed bool
	err     error
	// trigger asks for a run now.
	trigger string
	// next expects Next() to be this many minutes after t0 (-1: none).
	next *float64
}

func mins(m float64) *float64 { return &m }

func TestScheduler(t *testing.T) {
	type job struct {
		name    string
		every   time.Duration
		cron    string
		timeout time.Duration
	}
	tests := []struct {
		name  string
		jobs  []job
		steps []step
	}{{
		name: "interval runs at once, then every interval from the start of the last run",
		jobs: []job{{name: "A", every: 30 * time.Minute}},
		steps: []step{
			{at: 0, due: []string{"A"}},
			{at: 0, due: []string{}}, // running: not due twice
			{at: 2, done: "A", changed: true, next: mins(30)},
			{at: 29, due: []string{}},
			{at: 30, due: []string{"A"}},
			{at: 75, done: "A", changed: true, next: mins(75)}, // overran: at once
			{at: 75, due: []string{"A"}},
		},
	}, {
		name: "cron waits for its first time and follows the expression",
		jobs: []job{{name: "A", cron: "*/15 * * * *"}},
		steps: []step{
			{at: 0, due: []string{}, next: mins(15)},
			{at: 15, due: []string{"A"}},
			{at: 16, done: "A", changed: true, next: mins(30)},
			{at: 31, due: []string{"A"}},
			{at: 50, done: "A", changed: true, next: mins(60)}, // 45 passed while it ran
		},
	}, {
		name: "inactivity back-off after a run that changed nothing, reset by a change",
		jobs: []job{{name: "A", every: 30 * time.Minute, timeout: 12 * time.Hour}},
		steps: []step{
			{at: 0, due: []string{"A"}},
			{at: 1, done: "A", changed: false, next: mins(1 + 12*60)},
			{at: 30, due: []string{}},
			{at: 1 + 12*60, due: []string{"A"}},
			{at: 2 + 12*60, done: "A", changed: true, next: mins(1 + 12*60 + 30)},
			{at: 1 + 12*60 + 30, due: []string{"A"}},
		},
	}, {
		name: "a failed run does not back off",
		jobs: []job{{name: "A", every: 30 * time.Minute, timeout: 12 * time.Hour}},
		steps: []step{
			{at: 0, due: []string{"A"}},
			{at: 1, done: "A", err: errors.New("connection refused"), next: mins(30)},
		},
	}, {
		name: "run now wakes an idle job",
		jobs: []job{{name: "A", every: 30 * time.Minute, timeout: 12 * time.Hour}},
		steps: []step{
			{at: 0, due: []string{"A"}},
			{at: 1, done: "A", next: mins(1 + 12*60)},
			{at: 5, trigger: "A", next: mins(5)},
			{at: 5, due: []string{"A"}},
		},
	}, {
		name: "single flight: run now while running runs again after, not alongside",
		jobs: []job{{name: "A", every: 30 * time.Minute}},
		steps: []step{
			{at: 0, due: []string{"A"}},
			{at: 1, trigger: "A"},
			{at: 1, due: []string{}},
			{at: 3, done: "A", changed: true, next: mins(3)},
			{at: 3, due: []string{"A"}},
		},
	}, {
		name: "due together run in dependency order",
		jobs: []job{{name: "SALESPEOPLE", every: time.Hour}, {name: "CURRENCY", every: 30 * time.Minute}, {name: "CUSTOMER", every: 30 * time.Minute}},
		steps: []step{
			{at: 0, due: []string{"SALESPEOPLE", "CURRENCY", "CUSTOMER"}},
			{at: 1, done: "CUSTOMER", changed: true},
			{at: 1, done: "SALESPEOPLE", changed: true},
			{at: 1, done: "CURRENCY", changed: true, next: mins(30)},
			{at: 30, due: []string{"CURRENCY", "CUSTOMER"}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: t0}
			s := New(c.now)
			var jobs []Job
			for _, j := range tt.jobs {
				job := Job{Name: j.name, Every: j.every, InactivityTimeout: j.timeout, Spec: j.cron}
				if j.cron != "" {
					job.Cron = mustCron(t, j.cron)
				}
				jobs = append(jobs, job)
			}
			if err := s.Set(jobs); err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				c.t = t0.Add(time.Duration(st.at * float64(time.Minute)))
				switch {
				case st.due != nil:
					if got := s.Due(); !slices.Equal(got, st.due) && !(len(got) == 0 && len(st.due) == 0) {
						t.Fatalf("step %d at %vm: Due() = %q, want %q", i, st.at, got, st.due)
					}
				case st.done != "":
					s.Done(st.done, st.changed, st.err)
				case st.trigger != "":
					if err := s.Trigger(st.trigger); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				}
				if st.next != nil {
					got, ok := s.Next()
					want := t0.Add(time.Duration(*st.next * float64(time.Minute)))
					if !ok || !got.Equal(want) {
						t.Fatalf("step %d at %vm: Next() = %v, %v; want %v", i, st.at, got.Sub(t0), ok, want.Sub(t0))
					}
				}
			}
		})
	}
}

// TestSetKeepsState checks that reloading the jobs (a changed mapping file)
// keeps a job's last run and reschedules it by its new schedule, and that
// an unknown job cannot be triggered.
func TestSetKeepsState(t *testing.T) {
	c := &clock{t: t0}
	s := New(c.now)
	if err := s.Set([]Job{{Name: "A", Every: 30 * time.Minute, Spec: "every 30m"}}); err != nil {
		t.Fatal(err)
	}
	s.Due()
	c.t = t0.Add(time.Minute)
	s.Done("A", true, nil)
	if err := s.Set([]Job{{Name: "A", Every: 10 * time.Minute, Spec: "every 10m"}, {Name: "B", Every: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	st := s.States()
	if len(st) != 2 || !st[0].Next.Equal(t0.Add(10*time.Minute)) || !st[0].LastEnd.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after reload: %+v", st)
	}
	if !st[1].Next.Equal(c.t) {
		t.Errorf("new job B next = %v, want now", st[1].Next)
	}
	if err := s.Trigger("NOPE"); err == nil {
		t.Error("Trigger of an unknown job succeeded")
	}
	if err := s.Set([]Job{{Name: "C"}}); err == nil {
		t.Error("a job without interval or cron was accepted")
	}
}

// After a restart, a job that ran recently waits out the rest of its
// interval (or its inactivity timeout) instead of running at once, and a
// job whose time passed while serve was down runs at once.
func TestRestore(t *testing.T) {
	tests := []struct {
		name           string
		job            Job
		start, end     time.Duration // of the past run, relative to now
		changed        bool
		wantNext       time.Duration // relative to now
		wantIdle       bool
		runHereFirst   bool
		wantUnrestored bool
	}{
		{name: "recent run waits the rest of the interval", job: Job{Name: "A", Every: 30 * time.Minute},
			start: -10 * time.Minute, end: -9 * time.Minute, changed: true, wantNext: 20 * time.Minute},
		{name: "overdue job runs at once", job: Job{Name: "A", Every: 30 * time.Minute},
			start: -2 * time.Hour, end: -2 * time.Hour, changed: true, wantNext: -90 * time.Minute},
		{name: "idle job keeps sleeping", job: Job{Name: "A", Every: 30 * time.Minute, InactivityTimeout: 12 * time.Hour},
			start: -time.Hour, end: -time.Hour, changed: false, wantNext: 11 * time.Hour, wantIdle: true},
		{name: "a run here wins over history", job: Job{Name: "A", Every: 30 * time.Minute},
			start: -10 * time.Minute, end: -9 * time.Minute, changed: true, runHereFirst: true, wantUnrestored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: t0}
			s := New(c.now)
			if err := s.Set([]Job{tt.job}); err != nil {
				t.Fatal(err)
			}
			if tt.runHereFirst {
				s.Due()
				s.Done("A", true, nil)
			}
			s.Restore("A", t0.Add(tt.start), t0.Add(tt.end), tt.changed)
			s.Restore("UNKNOWN", t0, t0, true) // ignored
			st := s.States()[0]
			if tt.wantUnrestored {
				if !st.LastEnd.Equal(t0) {
					t.Fatalf("history replaced a run made here: last end %v", st.LastEnd)
				}
				return
			}
			if !st.Next.Equal(t0.Add(tt.wantNext)) || st.Idle != tt.wantIdle || !st.LastEnd.Equal(t0.Add(tt.end)) {
				t.Fatalf("next %v idle %v last end %v; want next %v idle %v", st.Next.Sub(t0), st.Idle, st.LastEnd.Sub(t0), tt.wantNext, tt.wantIdle)
			}
		})
	}
}

// A cron expression that never fires (30 February) leaves its job
// unscheduled, not due over and over, and does not hide the other jobs'
// next runs; run-now still runs it.
func TestCronThatNeverFires(t *testing.T) {
	c := &clock{t: t0}
	s := New(c.now)
	if err := s.Set([]Job{{Name: "FEB30", Cron: mustCron(t, "0 0 30 2 *")}, {Name: "OTHER", Every: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		for _, n := range s.Due() {
			if n == "FEB30" {
				t.Fatalf("minute %d: the job whose cron never fires ran", i)
			}
			s.Done(n, false, nil)
		}
		c.t = c.t.Add(time.Minute)
	}
	if next, ok := s.Next(); !ok || !next.Equal(t0.Add(time.Hour)) {
		t.Errorf("Next() = %v, %v; want OTHER's run at %v", next, ok, t0.Add(time.Hour))
	}
	if err := s.Trigger("FEB30"); err != nil {
		t.Fatal(err)
	}
	if due := s.Due(); !slices.Equal(due, []string{"FEB30"}) {
		t.Errorf("after run-now, due = %v", due)
	}
}
