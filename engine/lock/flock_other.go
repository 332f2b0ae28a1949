//go:build !unix

package lock

import (
	"errors"
	"os"
)

var errHeld = errors.New("lock held")

// tryLock does not lock where flock is missing: DuckDB's own file lock
// still refuses a second writer, and Explain names it.
func tryLock(*os.File) error { return nil }

func unlock(*os.File) error { return nil }
