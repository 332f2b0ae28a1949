//go:build unix

package lock

import (
	"errors"
	"os"
	"syscall"
)

var errHeld = errors.New("lock held")

// tryLock takes an exclusive flock without waiting. flock locks belong to
// the open file, and the kernel drops them when the process exits.
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errHeld
	}
	return err
}

func unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
