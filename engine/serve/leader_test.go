package serve

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// fakeLeader is a Runner shared with other processes (Leader): it leads
// once lead is closed, holds each run until release is, and records
// what it was asked to queue.
type fakeLeader struct {
	fakeRunner
	lead, release chan struct{}
	lmu           sync.Mutex
	enqueued      []string
	queued        []string
}

func (l *fakeLeader) Lead(ctx context.Context) (<-chan struct{}, error) {
	select {
	case <-l.lead:
		return make(chan struct{}), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *fakeLeader) Enqueue(ctx context.Context, mapping, planID string) error {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	l.enqueued = append(l.enqueued, mapping+planID)
	return nil
}

func (l *fakeLeader) Approve(ctx context.Context, ref, by string) (Approval, error) {
	return Approval{PlanID: ref, Mappings: []string{"C"}, By: by}, nil
}

func (l *fakeLeader) RunApproved(ctx context.Context, drain <-chan struct{}, mapping, planID string) (Result, error) {
	return l.Run(ctx, drain, mapping)
}

func (l *fakeLeader) Run(ctx context.Context, drain <-chan struct{}, mapping string) (Result, error) {
	l.lmu.Lock()
	l.queued = append(l.queued, mapping)
	l.lmu.Unlock()
	Queued(ctx)
	l.runs <- mapping
	select {
	case <-l.release:
	case <-drain:
		return Result{}, ErrDrained
	}
	return Result{PlanID: "p-" + mapping, Counts: map[string]int64{"inserted": 1}, Worker: "host/42/abc"}, nil
}

func (l *fakeLeader) RunState(mapping string) string { return "running on host/42/abc" }

func (l *fakeLeader) ID() string { return "host/7/def" }

// TestLeader checks serve on a Runner shared by several processes: while
// another process schedules, nothing runs here and a run-now, or the
// apply of a plan approved here, goes to the shared queue; once this process leads, the mappings due together are
// all started at once, queued in dependency order, and the status page
// says where each runs and which worker ran it.
func TestLeader(t *testing.T) {
	l := &fakeLeader{fakeRunner: fakeRunner{runs: make(chan string, 10)}, lead: make(chan struct{}), release: make(chan struct{})}
	s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("A", "B", "C"), nil }, Runner: l})
	if code, body := post(t, base+"/runs?mapping=B", nil); code >= 300 {
		t.Fatalf("run-now while another process schedules: %d %s", code, body)
	}
	_, page := get(t, base+"/")
	if !strings.Contains(page, "another process schedules them") {
		t.Errorf("the status page does not say another process schedules:\n%s", page)
	}
	l.lmu.Lock()
	enqueued, queued := strings.Join(l.enqueued, ","), len(l.queued)
	l.lmu.Unlock()
	if enqueued != "B" || queued != 0 {
		t.Errorf("before leading: enqueued %q and ran %d; want the run-now enqueued and nothing run", enqueued, queued)
	}
	// A plan approved here is applied by a job of the shared queue.
	if code, body := post(t, base+"/plans/p-C/approve", nil); code != 200 || !strings.Contains(body, "C runs now") {
		t.Errorf("approve while another process schedules: %d %s", code, body)
	}
	l.lmu.Lock()
	enqueued = strings.Join(l.enqueued, ",")
	l.lmu.Unlock()
	if enqueued != "B,Cp-C" {
		t.Errorf("enqueued %q; want the approved plan's run too", enqueued)
	}

	close(l.lead)
	// All three start before any finishes: the workers run them.
	got := []string{next(t, l.runs), next(t, l.runs), next(t, l.runs)}
	l.lmu.Lock()
	order := strings.Join(l.queued, ",")
	l.lmu.Unlock()
	if order != "A,B,C" {
		t.Errorf("queued %s (started %v); want the dependency order A,B,C", order, got)
	}
	_, page = get(t, base+"/")
	if !strings.Contains(page, "running: running on host/42/abc") || !strings.Contains(page, "it schedules them") {
		t.Errorf("the status page does not say where the runs are:\n%s", page)
	}
	close(l.release)
	settle(t, s)
	_, page = get(t, base+"/")
	if !strings.Contains(page, "on host/42/abc") {
		t.Errorf("the status page does not say which worker ran the last run:\n%s", page)
	}
}
