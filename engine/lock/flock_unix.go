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

// noFollow makes opening the lock file fail on a symbolic link.
const noFollow = syscall.O_NOFOLLOW

// isSymlinkRefusal reports whether err is O_NOFOLLOW's refusal of a link.
func isSymlinkRefusal(err error) bool { return errors.Is(err, syscall.ELOOP) }

// linkCount is the number of names the file has.
func linkCount(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
