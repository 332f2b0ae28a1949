//go:build linux

// Package browsertest runs coupler's HTML pages (plan reports, the serve
// status page) in headless Chromium for tests: it finds Debian's Chromium
// or skips, runs it sandboxed from the network, and keeps screenshots where
// CI collects them.
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Chromium returns the path of Debian's Chromium, or skips the test.
func Chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if path, err := exec.LookPath("chromium"); err == nil {
		return path
	}
	t.Skip("chromium not installed; CI installs Debian's chromium to run this")
	return ""
}

// ArtifactDir is where screenshots go: $COUPLER_TEST_ARTIFACTS/sub when
// the variable is set, for CI to keep, or else a temporary directory.
func ArtifactDir(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("COUPLER_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Run runs headless Chromium with args and returns its stdout. It runs in
// its own process group, so that a timeout ends its helper processes too,
// and without background networking, which this machine's closed network
// refuses many times a start.
func Run(t *testing.T, chromium string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v (timeout: %v)\n%s", strings.Join(args, " "), err, ctx.Err() != nil, stderr.Bytes())
	}
	return stdout.Bytes()
}
