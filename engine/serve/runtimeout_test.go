package serve

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// stuckRunner's run of a stuck mapping never ends by itself, like a read
// of a server that pages for ever: it returns when told to drain (honour
// true) or only when its context is cancelled; every other run is
// reported on runs at once.
type stuckRunner struct {
	stuck  string
	honour bool
	runs   chan string
	mu     sync.Mutex
	seen   []string // how each stuck run ended
}

func (r *stuckRunner) Use(*Project) {}

func (r *stuckRunner) Run(ctx context.Context, drain <-chan struct{}, mapping string) (Result, error) {
	if mapping != r.stuck {
		r.runs <- mapping
		return Result{}, nil
	}
	if r.honour {
		select {
		case <-drain:
			r.record("drain")
			return Result{}, ErrDrained
		case <-ctx.Done():
		}
	} else {
		<-ctx.Done()
	}
	r.record("cancel")
	return Result{}, ctx.Err()
}

func (r *stuckRunner) record(how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, how)
}

// TestRunTimeout: a run longer than RunTimeout is told to drain, as at
// shutdown, and cancelled ShutdownTimeout later if it goes on; it is
// recorded as failed, saying so, and the mappings after it run (issue 14,
// finding 11: runs go one at a time, so one stuck read stopped them all).
func TestRunTimeout(t *testing.T) {
	for _, honour := range []bool{true, false} {
		name := map[bool]string{true: "drains", false: "ignores drain"}[honour]
		t.Run(name, func(t *testing.T) {
			r := &stuckRunner{stuck: "CUSTOMER", honour: honour, runs: make(chan string, 10)}
			s, _ := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER", "VENDOR"), nil },
				Runner: r, RunTimeout: 50 * time.Millisecond, ShutdownTimeout: 50 * time.Millisecond})
			select {
			case m := <-r.runs:
				if m != "VENDOR" {
					t.Fatalf("ran %s, want VENDOR", m)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("VENDOR did not run within 10s: the stuck CUSTOMER run holds up the others")
			}
			settle(t, s)
			s.mu.Lock()
			lr := s.last["CUSTOMER"]
			s.mu.Unlock()
			if lr == nil || !strings.Contains(lr.Err, "run timeout") || !strings.Contains(lr.Err, "50ms") {
				t.Errorf("CUSTOMER's run: %+v, want it failed by the run timeout", lr)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			want := map[bool]string{true: "drain", false: "cancel"}[honour]
			if len(r.seen) == 0 || r.seen[0] != want {
				t.Errorf("the stuck run ended by %v, want %s", r.seen, want)
			}
		})
	}
}

// TestRunTimeoutIsError: ErrRunTimeout is what such a run's error wraps.
func TestRunTimeoutIsError(t *testing.T) {
	var err error = runTimeout{limit: time.Minute, err: ErrDrained}
	if !errors.Is(err, ErrRunTimeout) || errors.Is(err, ErrDrained) {
		t.Errorf("%v: want ErrRunTimeout, and not ErrDrained (no shutdown)", err)
	}
}
