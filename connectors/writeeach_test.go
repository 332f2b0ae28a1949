package connectors_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestWriteEachKeepsOrderAndConcurrency: every op is written once, its
// result where its op is, with as many in flight as allowed and never
// more.
func TestWriteEachKeepsOrderAndConcurrency(t *testing.T) {
	const limit = 3
	ops := make([]connectors.WriteOp, 50)
	for i := range ops {
		ops[i] = connectors.WriteOp{Op: connectors.OpCreate, Key: fmt.Sprint("K", i)}
	}
	var inFlight, most, calls atomic.Int64
	full := make(chan struct{})
	var once sync.Once
	results, started := connectors.WriteEach(t.Context(), ops, limit, func(op connectors.WriteOp) connectors.WriteResult {
		calls.Add(1)
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if n == limit {
			once.Do(func() { close(full) })
		}
		<-full // the first writes wait until limit of them are in flight
		return connectors.WriteResult{Key: "written " + op.Key}
	})
	if started != len(ops) || calls.Load() != int64(len(ops)) {
		t.Fatalf("started %d, write called %d times, want %d", started, calls.Load(), len(ops))
	}
	for i, r := range results {
		if want := fmt.Sprint("written K", i); r.Key != want {
			t.Fatalf("result %d is %q, want %q", i, r.Key, want)
		}
	}
	if most.Load() != limit {
		t.Errorf("at most %d writes in flight, want %d", most.Load(), limit)
	}
}

// TestWriteEachStopsWhenCancelled: once the context ends no further op
// starts, and started counts those that did, their results kept.
func TestWriteEachStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ops := make([]connectors.WriteOp, 10)
	var calls int
	results, started := connectors.WriteEach(ctx, ops, 1, func(connectors.WriteOp) connectors.WriteResult {
		calls++
		if calls == 4 {
			cancel()
		}
		return connectors.WriteResult{Key: "written"}
	})
	if started != 4 || calls != 4 {
		t.Fatalf("started %d, write called %d times, want 4 each", started, calls)
	}
	for i, r := range results {
		if got, want := r.Key == "written", i < 4; got != want {
			t.Errorf("result %d written: %v, want %v", i, got, want)
		}
	}
}

// TestWriteEachHoldsConcurrency: while concurrency writes are held in
// flight, no further write starts. Each write is held until the test lets
// one go, and it lets one go only once concurrency are in flight: a
// further write would find them all there, where a write that finishes
// first would not (TestWriteEachKeepsOrderAndConcurrency lets its first
// writes go as soon as they are all in flight).
func TestWriteEachHoldsConcurrency(t *testing.T) {
	for _, limit := range []int{1, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			ops := make([]connectors.WriteOp, 30)
			for i := range ops {
				ops[i] = connectors.WriteOp{Op: connectors.OpCreate, Key: fmt.Sprint("K", i)}
			}
			var inFlight, most atomic.Int64
			entered, release := make(chan struct{}), make(chan struct{})
			done := make(chan []connectors.WriteResult)
			go func() {
				results, _ := connectors.WriteEach(t.Context(), ops, limit, func(op connectors.WriteOp) connectors.WriteResult {
					n := inFlight.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					entered <- struct{}{}
					<-release
					inFlight.Add(-1)
					return connectors.WriteResult{Key: op.Key}
				})
				done <- results
			}()
			for i := range ops {
				<-entered
				if i >= limit-1 { // concurrency writes in flight: let one go
					// Yield first: a further write, which must not start,
					// gets its chance to (no wait could show it never does).
					for range 10 {
						runtime.Gosched()
					}
					release <- struct{}{}
				}
			}
			for range limit - 1 {
				release <- struct{}{}
			}
			results := <-done
			for i, r := range results {
				if r.Key != ops[i].Key {
					t.Fatalf("result %d is %q, want %q", i, r.Key, ops[i].Key)
				}
			}
			if most.Load() != int64(limit) {
				t.Errorf("at most %d writes in flight, want %d", most.Load(), limit)
			}
		})
	}
}
