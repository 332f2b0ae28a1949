//go:build linux

// Package browsertest runs coupler's HTML pages (plan reports, the serve
// status page) in headless Chromium for tests: it finds Debian's Chromium
// or skips, runs it sandboxed from the network, and keeps screenshots where
// CI collects them.
//
// A test starts one Browser and opens each page in a tab of it: starting
// Chromium costs seconds of CPU, a tab milliseconds, and the test suite
// runs on two cores.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath returns the path of Debian's Chromium, or skips the test.
func chromiumPath(t *testing.T) string {
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

// Browser is one headless Chromium, driven over its DevTools pipe, that a
// test and its subtests share.
type Browser struct {
	ctx context.Context
}

// tabTimeout bounds what a test does in one tab: long enough for a
// loaded CI machine and a page that waits for a run, short enough that
// a hung Chromium fails the test.
const tabTimeout = 2 * time.Minute

// New starts headless Chromium for t, or skips t when it is not
// installed. The browser ends with t (t.Cleanup), after its subtests.
// It runs without a sandbox (the tests run as root in CI) and without
// background networking, which this machine's closed network refuses
// many times a start.
func New(t *testing.T) *Browser {
	t.Helper()
	chromium := chromiumPath(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true))...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser: a failure to start is this
	// test's, not the first page's.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", chromium, err)
	}
	return &Browser{ctx: ctx}
}

// Tab opens a new tab whose viewport is width x height CSS pixels and
// returns its context for chromedp actions; the tab closes with t.
func (b *Browser) Tab(t *testing.T, width, height int64) context.Context {
	t.Helper()
	tab, cancelTab := chromedp.NewContext(b.ctx)
	tab, cancelTimeout := context.WithTimeout(tab, tabTimeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
	})
	if err := chromedp.Do(tab, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("open a chromium tab: %v", err)
	}
	return tab
}

// DOM loads url in a new tab width x height pixels and returns the
// document's markup once the page has loaded and its scripts have run,
// as Chromium's --dump-dom does.
func (b *Browser) DOM(t *testing.T, url string, width, height int64) string {
	t.Helper()
	tab := b.Tab(t, width, height)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium: load %s: %v", url, err)
	}
	dom, err := chromedp.Run(tab, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
	if err != nil {
		t.Fatalf("chromium: DOM of %s: %v", url, err)
	}
	return dom
}

// Screenshot loads url in a new tab width x height pixels and saves what
// the viewport shows, as PNG, to path.
func (b *Browser) Screenshot(t *testing.T, url, path string, width, height int64) {
	t.Helper()
	tab := b.Tab(t, width, height)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium: load %s: %v", url, err)
	}
	png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("chromium: screenshot of %s: %v", url, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
