// Package statetest holds what the test suites of the packages that open
// state databases share.
package statetest

import (
	"flag"
	"os"
	"runtime"
	"strconv"

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

// MoreParallel lets twice as many parallel tests run as there are cores,
// unless -test.parallel was given. Many of the engine's tests wait on
// something else for much of their time (a crash test's child process,
// the fault soak's timeouts and Retry-After), and at the default, one
// test a core, the cores sat idle through those waits: the engine package
// took 72 to 74 s alone on two cores, and 57 s at twice (61 s at four
// times: beyond twice, the cores are busy). cmd/coupler's scripts gained
// nothing from it (19 to 20 s either way). Call it from TestMain after
// flag.Parse.
func MoreParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(2*runtime.GOMAXPROCS(0)))
	}
}
