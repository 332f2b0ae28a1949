//go:build linux

package serve

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// findChromium finds Debian's Chromium, or skips the test.
func findChromium(t *testing.T) string {
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

// artifactDir is where screenshots go: $COUPLER_TEST_ARTIFACTS/serve when
// set, for CI to keep, or a temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("COUPLER_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "serve")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runChromium runs headless Chromium with args in its own process group,
// so that a timeout ends its helpers too, and returns its stdout.
func runChromium(t *testing.T, chromium string, args ...string) []byte {
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

// TestStatusPageInChromium loads the status page of a running server in
// headless Chromium: every mapping with its schedule, state, counts and
// errors, a hostile error message shown as text, one run-now form per
// mapping posting to /runs, and a screenshot.
func TestStatusPageInChromium(t *testing.T) {
	chromium := findChromium(t)
	r := &fakeRunner{runs: make(chan string, 10), result: Result{PlanID: "20261124-100000-abcdef", Changed: true,
		Counts:   map[string]int64{"inserted": 12, "modified": 3, "failed": 1},
		Failures: []string{`C-7: <img src=x onerror="document.title='pwned'"> name is required`}},
		errFor: map[string]error{"CUSTOMER": errors.New("plan: read accounts: giving up after 5 attempts, last status 503 Service Unavailable")}}
	proj := testProject("SALESPEOPLE", "CUSTOMER")
	proj.Jobs[0].Spec, proj.Jobs[1].Spec = "every 1h", "every 1h"
	proj.Jobs[1].InactivityTimeout = 12 * time.Hour
	s, base := startServer(t, Config{Load: func() (*Project, error) { return proj, nil }, Runner: r})
	next(t, r.runs)
	next(t, r.runs)
	settle(t, s)

	dom := string(runChromium(t, chromium, "--dump-dom", base+"/"))
	for _, want := range []string{
		`id="mapping-SALESPEOPLE"`, `id="mapping-CUSTOMER"`,
		"every 1h", "inactivity timeout 12h",
		"12 inserted, 3 modified, 1 failed",
		"giving up after 5 attempts",
		`action="/runs?mapping=CUSTOMER"`, `<button type="submit">Run now</button>`,
		"/srv/sync",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page in Chromium lacks %q", want)
		}
	}
	if strings.Contains(dom, "<img") || strings.Contains(dom, "pwned") && !strings.Contains(dom, "&lt;img") {
		t.Errorf("an error message became markup:\n%s", dom)
	}
	if n := strings.Count(dom, `method="post"`); n != 2 {
		t.Errorf("%d run-now forms, want 2", n)
	}

	png := filepath.Join(artifactDir(t), "status.png")
	runChromium(t, chromium, "--screenshot="+png, "--window-size=1280,600", base+"/")
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG", png)
	}
	t.Logf("screenshot %s (%d bytes)", png, len(b))
}
