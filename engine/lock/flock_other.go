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

// noFollow is 0 where O_NOFOLLOW is missing: openLockFile's check before
// opening stands in for it.
const noFollow = 0

func isSymlinkRefusal(error) bool { return false }

func linkCount(os.FileInfo) uint64 { return 1 }
