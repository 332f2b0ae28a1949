package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/engine/state/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// span is one run a fakeRunner made.
type span struct {
	mapping    string
	start, end time.Time
}

// fakeRunner stands for an engine: it records its runs, and fails or
// waits for approval as its mapping's name says.
type fakeRunner struct {
	mu    *sync.Mutex
	spans *[]span
	// release, when set, holds a run of HELD until closed.
	release chan struct{}
}

func (f fakeRunner) Use(*serve.Project) {}

func (f fakeRunner) Run(ctx context.Context, drain <-chan struct{}, mapping string) (serve.Result, error) {
	s := span{mapping: mapping, start: time.Now()}
	if mapping == "HELD" && f.release != nil {
		<-f.release
	}
	time.Sleep(20 * time.Millisecond) // a run takes time, for overlaps to show
	s.end = time.Now()
	f.mu.Lock()
	*f.spans = append(*f.spans, s)
	f.mu.Unlock()
	res := serve.Result{PlanID: "plan-" + mapping, Changed: true, Counts: map[string]int64{"inserted": 1}}
	switch mapping {
	case "REVIEW":
		return res, fmt.Errorf("%w: plan plan-REVIEW deletes records", serve.ErrNeedsReview)
	case "BROKEN":
		return res, errors.New("the server said no")
	}
	return res, nil
}

// openCluster opens a cluster of workers fake runners on the schema
// tenant of the database at url.
func openCluster(t *testing.T, url string, workers int, mu *sync.Mutex, spans *[]span, release chan struct{}) *Cluster {
	t.Helper()
	c := openStopped(t, url, workers, mu, spans, release)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

// openStopped is openCluster without starting its workers.
func openStopped(t *testing.T, url string, workers int, mu *sync.Mutex, spans *[]span, release chan struct{}) *Cluster {
	t.Helper()
	var rs []serve.Runner
	for range workers {
		rs = append(rs, fakeRunner{mu: mu, spans: spans, release: release})
	}
	c, err := Open(t.Context(), Config{URL: url, Schema: "tenant", Runners: rs, RunTimeout: time.Minute, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func database(t *testing.T) string {
	t.Helper()
	url := pgtest.Database(t)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `CREATE SCHEMA tenant`); err != nil {
		t.Fatal(err)
	}
	return url
}

// TestRuns runs mappings through two processes' workers: each run's
// outcome comes back to the scheduler, whichever worker ran it (an
// approval awaited and a failure as such); a mapping asked for twice at
// once runs once; a mapping runs after the one it depends on.
func TestRuns(t *testing.T) {
	t.Parallel()
	url := database(t)
	var mu sync.Mutex
	var spans []span
	// Two processes starting together migrate River's tables one at a
	// time.
	cs := make([]*Cluster, 2)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() { cs[i] = openCluster(t, url, 2, &mu, &spans, nil) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sched := cs[0]
	sched.Use(&serve.Project{DependsOn: map[string][]string{"B": {"A"}}})
	cs[1].Use(&serve.Project{DependsOn: map[string][]string{"B": {"A"}}})

	type got struct {
		res serve.Result
		err error
	}
	results := map[string][]got{}
	var rmu sync.Mutex
	var runs sync.WaitGroup
	// As serve queues runs due together: in dependency order, each once
	// the one before is queued.
	for _, m := range []string{"A", "B", "REVIEW", "BROKEN", "C", "C"} {
		queued := make(chan struct{})
		var once sync.Once
		ctx := serve.WithQueued(t.Context(), func() { once.Do(func() { close(queued) }) })
		runs.Go(func() {
			res, err := sched.Run(ctx, nil, m)
			rmu.Lock()
			results[m] = append(results[m], got{res, err})
			rmu.Unlock()
		})
		<-queued
	}
	runs.Wait()

	for _, m := range []string{"A", "B", "C"} {
		for _, g := range results[m] {
			if g.err != nil || g.res.PlanID != "plan-"+m || g.res.Counts["inserted"] != 1 || g.res.Worker == "" {
				t.Errorf("run of %s: %+v, %v", m, g.res, g.err)
			}
		}
	}
	if g := results["REVIEW"][0]; !errors.Is(g.err, serve.ErrNeedsReview) || g.res.PlanID != "plan-REVIEW" {
		t.Errorf("run of REVIEW: %+v, %v; want it waiting for approval", g.res, g.err)
	}
	if g := results["BROKEN"][0]; g.err == nil || g.err.Error() != "the server said no" || errors.Is(g.err, serve.ErrNeedsReview) {
		t.Errorf("run of BROKEN: %v; want the runner's error", g.err)
	}
	byMapping := map[string][]span{}
	for _, s := range spans {
		byMapping[s.mapping] = append(byMapping[s.mapping], s)
	}
	if n := len(byMapping["C"]); n != 1 {
		t.Errorf("C, asked for twice at once, ran %d times; want once", n)
	}
	if a, b := byMapping["A"], byMapping["B"]; len(a) != 1 || len(b) != 1 || b[0].start.Before(a[0].end) {
		t.Errorf("B must run after A, which it depends on: A %v, B %v", a, b)
	}
}

// TestLead checks that one process schedules at a time, and that another
// takes over when it stops.
func TestLead(t *testing.T) {
	t.Parallel()
	url := database(t)
	var mu sync.Mutex
	var spans []span
	a, b := openCluster(t, url, 1, &mu, &spans, nil), openCluster(t, url, 1, &mu, &spans, nil)
	actx, stopA := context.WithCancel(t.Context())
	lostA, err := a.Lead(actx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	if _, err := b.Lead(short); err == nil {
		t.Fatal("a second process leads while the first does")
	}
	stopA()
	<-lostA
	if _, err := b.Lead(t.Context()); err != nil {
		t.Fatalf("the second process cannot lead after the first stopped: %v", err)
	}
}

// TestDeadWorker checks that the job of a worker whose process is gone
// (its liveness lock free) is given to another at once, and says so.
func TestDeadWorker(t *testing.T) {
	t.Parallel()
	url := database(t)
	var mu sync.Mutex
	var spans []span
	release := make(chan struct{})
	dying := openCluster(t, url, 1, &mu, &spans, release)
	defer close(release)
	// The scheduler's workers start once the dying process has the job.
	sched := openStopped(t, url, 1, &mu, &spans, nil)
	res, err := sched.insert(t.Context(), RunArgs{Mapping: "HELD"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		job, err := sched.client.JobGet(t.Context(), res.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if job.State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never ran")
		}
		time.Sleep(50 * time.Millisecond) // polling
	}
	// The process dies: its sessions end (its run never returns).
	admin, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(t.Context())
	if _, err := admin.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, dying.ID()); err != nil {
		t.Fatal(err)
	}
	if err := sched.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	out, err := sched.await(t.Context(), nil, res.Job)
	if err != nil {
		t.Fatalf("the dead worker's job: %v", err)
	}
	if out.Worker != sched.ID() {
		t.Errorf("the job was finished by %q; want the surviving worker %q", out.Worker, sched.ID())
	}
	if want := "worker stopped during the run"; !strings.Contains(out.Note, want) || !strings.Contains(out.Note, dying.ID()) {
		t.Errorf("note %q does not say the worker %s stopped", out.Note, dying.ID())
	}
}
