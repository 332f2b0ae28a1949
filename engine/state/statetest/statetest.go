// Package statetest holds what the test suites of the packages that open
// state databases share.
package statetest

import (
	"os"

	"github.com/couplerhq/coupler/engine/state"
)

// OneThread makes the state databases that this process and the processes
// it starts open run DuckDB on one thread (state.ThreadsEnv), unless the
// variable is set already: a test's database is small, and a pool of
// threads per database costs a third of the suite's CPU time for nothing
// (docs/architecture.md, "Test suite"). Call it from TestMain, before the
// tests run.
func OneThread() {
	if _, set := os.LookupEnv(state.ThreadsEnv); !set {
		os.Setenv(state.ThreadsEnv, "1")
	}
}
