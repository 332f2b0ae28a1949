package statetest

import (
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// Run checks a state storage implementation part by part: what the engine
// relies on of couplings, watermarks, definitions, write intents and runs.
// open returns a new, empty store for one check; each check runs in
// parallel with the others, in a store of its own. The engine tests
// exercise these through plans and applies; here each behaviour is
// asserted on its own, so that a second implementation (PostgreSQL) is
// held to the same behaviour as DuckDB's.
//
// Not yet checked: the plans part, and the parts of Runs that read a
// plan's operations (TrackFailures, Retry, EarliestFailure, RunFailed,
// Failures, MarkUnchangedSynced), since only DuckDB's diff writes
// operations.
func Run(t *testing.T, open func(t *testing.T) state.Store) {
	t.Run("couplings", func(t *testing.T) {
		RunCouplings(t, func(t *testing.T) state.Couplings { return open(t) })
	})
	t.Run("watermarks", func(t *testing.T) {
		RunWatermarks(t, func(t *testing.T) state.Watermarks { return open(t) })
	})
	t.Run("definitions", func(t *testing.T) {
		RunDefinitions(t, func(t *testing.T) state.Definitions { return open(t) })
	})
	t.Run("intents", func(t *testing.T) {
		RunIntents(t, func(t *testing.T) state.Intents { return open(t) })
	})
	t.Run("runs", func(t *testing.T) { RunRuns(t, open) })
}

// check is one named behaviour of a part S.
type check[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// runChecks runs each check in parallel on a store of its own.
func runChecks[S any](t *testing.T, open func(t *testing.T) S, checks []check[S]) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// storedTime is t as a store gives it back: in UTC, and to the
// microsecond, cut rather than rounded (a watermark rounded up could pass
// the start of the run that read up to it, and miss a record).
func storedTime(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// sameTime reports whether got is want as a store gives it back.
func sameTime(got, want time.Time) bool {
	return got.Equal(storedTime(want)) && got.Location() == time.UTC
}

// aTime is a time with nanoseconds, outside UTC, to check both.
var aTime = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
