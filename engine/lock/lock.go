// Package lock keeps two coupler processes off one state database. DuckDB
// refuses a second writer too, but with a message about file locks that
// does not say which coupler holds it; this lock, taken before the
// database is opened, names the holder: its process id, host, command and
// since when it holds the lock.
package lock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Holder describes the process that holds a lock.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// String renders the holder for messages: "pid 42 on host db1 (coupler
// serve), since 2026-11-24T10:00:00Z".
func (h Holder) String() string {
	if h.PID == 0 {
		return "another process (it has not said which)"
	}
	return fmt.Sprintf("pid %d on host %s (%s), since %s", h.PID, h.Host, h.Command, h.Since.UTC().Format(time.RFC3339))
}

// HeldError is returned when another process holds the lock.
type HeldError struct {
	// State is the state database the lock guards.
	State  string
	Holder Holder
}

// Error says who holds the state database and what to do.
func (e *HeldError) Error() string {
	return fmt.Sprintf("state database %s is in use by another coupler: %s; stop it, or wait for it to finish (one coupler process per state database)", e.State, e.Holder)
}

// Lock is a held lock on a state database.
type Lock struct {
	f    *os.File
	path string
}

// Path returns the lock file of a state database: beside it, with .lock
// appended.
func Path(state string) string { return state + ".lock" }

// Acquire takes the lock of the state database at path for this process,
// recording command (e.g. "coupler serve") as what holds it. It fails at
// once with a *HeldError when another process holds it. The operating
// system releases the lock when the process ends, however it ends.
func Acquire(state, command string) (*Lock, error) {
	if err := os.MkdirAll(dirOf(state), 0o755); err != nil {
		return nil, fmt.Errorf("lock state database %s: %w", state, err)
	}
	p := Path(state)
	f, err := openLockFile(p)
	if err != nil {
		return nil, fmt.Errorf("lock state database %s: %w", state, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errHeld) {
			return nil, &HeldError{State: state, Holder: readHolder(p)}
		}
		return nil, fmt.Errorf("lock state database %s: %w", state, err)
	}
	host, _ := os.Hostname()
	h := Holder{PID: os.Getpid(), Host: host, Command: command, Since: time.Now().UTC().Truncate(time.Second)}
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	return &Lock{f: f, path: p}, nil
}

// openLockFile opens (creating it) the lock file at p, which Acquire then
// truncates and writes: so it must be a file of coupler's own, never one a
// symbolic or hard link planted in the state directory points to, whose
// target would be destroyed. The link is not followed (O_NOFOLLOW where
// the system has it; a check before opening elsewhere) and the file opened
// must be a regular file with one name.
func openLockFile(p string) (*os.File, error) {
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, symlinkError(p)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|noFollow, 0o644)
	if err != nil {
		if isSymlinkRefusal(err) {
			return nil, symlinkError(p)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || linkCount(fi) > 1) {
		err = fmt.Errorf("lock file %s is not a plain file of its own (a device, a directory or a file with another name); coupler does not write to it: remove it and coupler creates it again", p)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func symlinkError(p string) error {
	return fmt.Errorf("lock file %s is a symbolic link; coupler does not follow it, since it truncates and writes its lock file: remove the link and coupler creates the file again", p)
}

// Release gives the lock up. It is safe to call on a nil Lock and more
// than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	// The holder is cleared before unlocking, so that nobody reads a stale
	// one; the file stays, since removing a lock file races with the next
	// process opening it.
	_ = l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// readHolder reads who holds the lock, as far as it has said.
func readHolder(path string) Holder {
	var h Holder
	b, err := os.ReadFile(path)
	if err == nil {
		_ = json.Unmarshal(b, &h)
	}
	return h
}

// Explain turns DuckDB's refusal to open a state database that another
// process has open into the same message as a held lock, naming the holder
// when its lock file says; other errors are returned as they are.
// An empty state takes the database's path from DuckDB's message.
func Explain(err error, state string) error {
	if err == nil {
		return nil
	}
	m := duckLockRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	if state == "" {
		state = m[1]
	}
	var held *HeldError
	if errors.As(err, &held) {
		return err
	}
	return fmt.Errorf("%w (DuckDB: %v)", &HeldError{State: state, Holder: readHolder(Path(state))}, err)
}

var duckLockRE = regexp.MustCompile(`Could not set lock on file "([^"]*)"`)

func dirOf(path string) string {
	i := strings.LastIndexAny(path, `/\`)
	if i < 0 {
		return "."
	}
	if i == 0 {
		return "/"
	}
	return path[:i]
}
