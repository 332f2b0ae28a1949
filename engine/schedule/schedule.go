// Package schedule decides when coupler serve runs each mapping: at an
// interval or at the times of a cron expression, backing off for an
// inactivity timeout after a run that changed nothing, as the product's job
// queue does. It holds no goroutine and reads the time only through the
// clock it is given, so that tests drive it with a fake clock; the caller
// asks what is due, runs it, and reports back.
package schedule

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Cron is a parsed cron expression: the first activation after t.
// github.com/robfig/cron/v3's Schedule satisfies it.
type Cron interface {
	Next(t time.Time) time.Time
}

// Job is one mapping's schedule.
type Job struct {
	Name string
	// Every runs the job at this interval, counted from the start of the
	// previous run; used when Cron is nil.
	Every time.Duration
	// Cron runs the job at the cron expression's times instead.
	Cron Cron
	// Spec is the schedule as the user wrote it, for display.
	Spec string
	// InactivityTimeout, when positive, is how long the job sleeps after a
	// run that changed nothing, instead of its schedule when that is sooner.
	InactivityTimeout time.Duration
}

// State is where a job stands, for the status page and metrics.
type State struct {
	Job
	// Next is when the job runs next; zero while it runs, and for a cron
	// expression that never fires (30 February): such a job runs only when
	// asked to.
	Next time.Time
	// Running is true while a run of the job is under way.
	Running bool
	// Idle is true when the last run changed nothing and the job sleeps
	// for its inactivity timeout.
	Idle bool
	// LastStart and LastEnd bound the last finished run; zero before one.
	LastStart, LastEnd time.Time
	// LastErr is the last run's error, if it failed.
	LastErr error
	// Pending is a run-now request that arrived while the job ran: it runs
	// again as soon as it finishes.
	Pending bool
}

type entry struct {
	State
	started time.Time
}

// Scheduler tracks the jobs of one serve process. Its methods are safe for
// concurrent use.
type Scheduler struct {
	mu   sync.Mutex
	now  func() time.Time
	jobs map[string]*entry
	// order is the dependency order of the jobs: due together, they are
	// returned in this order, so that a lookup finds the couplings the
	// mapping it depends on has just made.
	order []string
}

// New returns a scheduler that reads the time from now (time.Now when nil).
func New(now func() time.Time) *Scheduler {
	if now == nil {
		now = time.Now
	}
	return &Scheduler{now: now, jobs: map[string]*entry{}}
}

// Set replaces the jobs, given in dependency order. A job that was known
// already keeps its state (last run, idleness, running); its next run is
// recomputed when its schedule changed. A new job is due at once when it
// runs at an interval, and at its next cron time otherwise.
func (s *Scheduler) Set(jobs []Job) error {
	for _, j := range jobs {
		if j.Cron == nil && j.Every <= 0 {
			return fmt.Errorf("job %s: no interval and no cron expression", j.Name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	next := map[string]*entry{}
	s.order = s.order[:0]
	for _, j := range jobs {
		s.order = append(s.order, j.Name)
		e, ok := s.jobs[j.Name]
		if !ok {
			e = &entry{State: State{Job: j}}
			if j.Cron != nil {
				e.Next = j.Cron.Next(now)
			} else {
				e.Next = now
			}
			next[j.Name] = e
			continue
		}
		changed := e.Spec != j.Spec || e.Every != j.Every || e.InactivityTimeout != j.InactivityTimeout || (e.Cron == nil) != (j.Cron == nil)
		e.Job = j
		if changed && !e.Running {
			if e.LastEnd.IsZero() {
				e.Next = now
				if j.Cron != nil {
					e.Next = j.Cron.Next(now)
				}
			} else {
				e.Next = e.nextAfter(e.LastStart, e.LastEnd, !e.Idle, e.LastErr)
			}
		}
		next[j.Name] = e
	}
	s.jobs = next
	return nil
}

// Due returns the jobs due now that are not running, in dependency order,
// and marks them running: the caller must call Done for each.
func (s *Scheduler) Due() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []string
	for _, name := range s.order {
		e := s.jobs[name]
		if e.Running || e.Next.IsZero() || e.Next.After(now) {
			continue // a zero Next is never: a cron that never fires
		}
		e.Running, e.Pending, e.started, e.Next = true, false, now, time.Time{}
		out = append(out, name)
	}
	return out
}

// Done reports that a run of job name that Due returned has ended: changed
// says whether it wrote or coupled anything, err whether it failed. The
// job's next run follows its schedule; after a successful run that changed
// nothing, it waits for the inactivity timeout instead when that is later.
func (s *Scheduler) Done(name string, changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.jobs[name]
	if !ok || !e.Running {
		return
	}
	now := s.now()
	e.Running = false
	e.LastStart, e.LastEnd, e.LastErr = e.started, now, err
	e.Idle = err == nil && !changed && e.InactivityTimeout > 0
	e.Next = e.nextAfter(e.started, now, changed, err)
	if e.Pending {
		e.Pending, e.Idle, e.Next = false, false, now
	}
}

// nextAfter is when a job runs after a run from start to end.
func (e *entry) nextAfter(start, end time.Time, changed bool, err error) time.Time {
	var next time.Time
	if e.Cron != nil {
		next = e.Cron.Next(end)
	} else {
		next = start.Add(e.Every)
		if next.Before(end) {
			// The run took longer than the interval: go again at once, but
			// never run two at a time.
			next = end
		}
	}
	if err == nil && !changed && e.InactivityTimeout > 0 {
		if idle := end.Add(e.InactivityTimeout); idle.After(next) {
			next = idle
		}
	}
	return next
}

// Trigger makes job name due now, waking it from an inactivity timeout.
// When it is running, it runs again as soon as the current run ends: two
// runs of one job never overlap.
func (s *Scheduler) Trigger(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.jobs[name]
	if !ok {
		return fmt.Errorf("no scheduled mapping named %q", name)
	}
	if e.Running {
		e.Pending = true
		return nil
	}
	e.Idle, e.Next = false, s.now()
	return nil
}

// Restore tells the scheduler of a run of job name that ended before this
// scheduler started (read from the state database when serve restarts), so
// that the job's next run follows its schedule and inactivity timeout from
// that run instead of coming due at once. It does nothing to a job that
// has run here already or is running.
func (s *Scheduler) Restore(name string, start, end time.Time, changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.jobs[name]
	if !ok || e.Running || !e.LastEnd.IsZero() || end.IsZero() {
		return
	}
	e.LastStart, e.LastEnd = start, end
	e.Idle = !changed && e.InactivityTimeout > 0
	e.Next = e.nextAfter(start, end, changed, nil)
}

// Next returns the earliest time a job that is not running is due, and
// false when there is none.
func (s *Scheduler) Next() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first time.Time
	for _, e := range s.jobs {
		if e.Running || e.Next.IsZero() {
			continue
		}
		if first.IsZero() || e.Next.Before(first) {
			first = e.Next
		}
	}
	return first, !first.IsZero()
}

// States returns every job's state, in dependency order.
func (s *Scheduler) States() []State {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]State, 0, len(s.order))
	for _, name := range s.order {
		out = append(out, s.jobs[name].State)
	}
	return out
}

// Names returns the names of the jobs, in dependency order.
func (s *Scheduler) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}
