package lock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTwoOpens checks that a second Acquire of one state database fails
// with a message naming the holder, and succeeds once the first releases.
func TestTwoOpens(t *testing.T) {
	state := filepath.Join(t.TempDir(), ".coupler", "state.duckdb")
	first, err := Acquire(state, "coupler serve")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(state, "coupler plan")
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v, want a *HeldError", err)
	}
	want := fmt.Sprintf("pid %d on host", os.Getpid())
	if held.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "(coupler serve)") || !strings.Contains(err.Error(), state) {
		t.Errorf("message %q does not name the holder (%s, coupler serve) and the database", err, want)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(state, "coupler plan")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	again.Release()
	again.Release() // twice is harmless
}

// TestTwoProcesses holds the lock in a child process and checks that this
// one is refused with the child's pid, and admitted once the child exits.
func TestTwoProcesses(t *testing.T) {
	if state := os.Getenv("COUPLER_LOCK_HELPER"); state != "" {
		if _, err := Acquire(state, "coupler helper"); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		bufio.NewReader(os.Stdin).ReadString('\n') // hold until the parent says
		os.Exit(0)
	}
	state := filepath.Join(t.TempDir(), "state.duckdb")
	cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcesses$")
	cmd.Env = append(os.Environ(), "COUPLER_LOCK_HELPER="+state)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper said %q", line)
	}
	_, err = Acquire(state, "coupler plan")
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.PID != cmd.Process.Pid || held.Holder.Command != "coupler helper" || held.Holder.Since.IsZero() {
		t.Fatalf("Acquire while the helper holds the lock: %v (holder %+v), want the helper's pid %d", err, held, cmd.Process.Pid)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(state, "coupler plan")
	if err != nil {
		t.Fatalf("Acquire after the helper exited: %v", err)
	}
	l.Release()
}

// TestExplain checks that DuckDB's lock conflict becomes the holder's
// message and that other errors pass through.
func TestExplain(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.duckdb")
	l, err := Acquire(state, "coupler serve")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	duck := errors.New(`IO Error: Could not set lock on file "` + state + `": Conflicting lock is held in /usr/bin/coupler (PID 7)`)
	got := Explain(duck, state)
	var held *HeldError
	if !errors.As(got, &held) || held.Holder.PID != os.Getpid() {
		t.Errorf("Explain(%v) = %v", duck, got)
	}
	if got := Explain(duck, ""); !errors.As(got, &held) || held.State != state || held.Holder.PID != os.Getpid() {
		t.Errorf("Explain without the path = %v", got)
	}
	other := errors.New("disk full")
	if Explain(other, state) != other {
		t.Error("Explain changed an unrelated error")
	}
}

// TestLockFileSymlinkRefused: a lock file that is a symbolic link (planted
// by someone who can write the state directory) is refused with a message
// naming it, and the link's target is left as it was: Acquire truncates
// and writes its lock file, which must never be another file.
func TestLockFileSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.duckdb")
	target := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(target, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, Path(state)); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	l, err := Acquire(state, "coupler plan")
	if err == nil {
		l.Release()
		t.Fatal("Acquire followed a symbolic link")
	}
	if !strings.Contains(err.Error(), Path(state)) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("error %q does not name the lock file and say it is a symbolic link", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the link's target was changed: %q", b)
	}
}

// TestLockFileHardLinkRefused: a hard link has no link to refuse to follow,
// but it is a second name of another file, which Acquire would truncate
// just the same.
func TestLockFileHardLinkRefused(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.duckdb")
	target := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(target, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(target, Path(state)); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	l, err := Acquire(state, "coupler plan")
	if err == nil {
		l.Release()
		t.Fatal("Acquire wrote a file with another name")
	}
	if !strings.Contains(err.Error(), Path(state)) {
		t.Errorf("error %q does not name the lock file", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the other name's file was changed: %q", b)
	}
}
