package statetest

import (
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// Impl is a state storage implementation under test, with what the
// suite needs of it beyond state.Store.
type Impl struct {
	// Open returns a new, empty store for one check.
	Open func(t *testing.T) state.Store
	// SaveDiff writes what a plan's diff made of one part into a store,
	// by the implementation's own means: the diff is DuckDB SQL over
	// staging tables, which a PostgreSQL worker runs in a DuckDB of its
	// own and copies in (pgstate's SaveDiff).
	SaveDiff func(t *testing.T, s state.Store, d Diff)
	// Files returns a directory a store from Open may write files in
	// (ExportOperations): a sealed DuckDB state writes only in its
	// scratch directory.
	Files func(t *testing.T, s state.Store) string
}

// Run checks a state storage implementation part by part: what the engine
// relies on of couplings, watermarks, definitions, plans, runs, write
// intents and the store as a whole. Each check runs in parallel with the
// others, in a store of its own. The engine tests exercise these through
// plans and applies; here each behaviour is asserted on its own, so that
// a second implementation (PostgreSQL) is held to the same behaviour as
// DuckDB's.
func Run(t *testing.T, impl Impl) {
	t.Run("couplings", func(t *testing.T) {
		RunCouplings(t, func(t *testing.T) state.Couplings { return impl.Open(t) })
	})
	t.Run("watermarks", func(t *testing.T) {
		RunWatermarks(t, func(t *testing.T) state.Watermarks { return impl.Open(t) })
	})
	t.Run("definitions", func(t *testing.T) {
		RunDefinitions(t, func(t *testing.T) state.Definitions { return impl.Open(t) })
	})
	t.Run("intents", func(t *testing.T) {
		RunIntents(t, func(t *testing.T) state.Intents { return impl.Open(t) })
	})
	t.Run("plans", func(t *testing.T) { RunPlans(t, impl) })
	t.Run("runs", func(t *testing.T) { RunRuns(t, impl) })
	t.Run("admin", func(t *testing.T) { RunAdmin(t, impl.Open) })
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
