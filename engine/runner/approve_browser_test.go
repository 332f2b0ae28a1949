//go:build linux

package runner_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/report/browsertest"
	"github.com/couplerhq/coupler/engine/runner"
	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/mappings"
)

// runLog is a slog.Handler that passes on serve's log lines about the end
// of a run, "MESSAGE MAPPING", so that a test waits for a run, not a time.
type runLog struct{ ends, errs chan string }

func (h runLog) Enabled(context.Context, slog.Level) bool { return true }
func (h runLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h runLog) WithGroup(string) slog.Handler            { return h }
func (h runLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "run ") || r.Message == "run requested" {
		return nil
	}
	mapping := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "mapping" {
			mapping = a.Value.String()
		}
		return true
	})
	if r.Message != "run" { // "run" starts one
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				h.errs <- a.Value.String()
			}
			return true
		})
		h.ends <- r.Message + " " + mapping
	}
	return nil
}

// lastErr is the error of the latest run that ended with one.
func (h runLog) lastErr() string {
	last := ""
	for {
		select {
		case e := <-h.errs:
			last = e
		default:
			return last
		}
	}
}

func (h runLog) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-h.ends:
		return m
	case <-time.After(60 * time.Second):
		t.Fatal("no run ended within 60s")
		return ""
	}
}

// TestApproveInChromium drives serve's pages in headless Chromium, as a
// person would: the first sync of CUSTOMER would create records in a
// CRM that already holds one, so serve's run waits for approval; the
// status page says so and links to the plan; the plan's page shows why,
// with an Approve button; clicking it runs the mapping at once with that
// plan, after which the run log and the status page show what it wrote.
// Screenshots of each step are kept (browsertest.ArtifactDir).
func TestApproveInChromium(t *testing.T) {
	t.Parallel()
	dir := project(t)
	log := runLog{ends: make(chan string, 10), errs: make(chan string, 10)}
	r := runner.New(dir, mappings.LoadOptions{}, engine.Options{})
	srv, err := serve.New(serve.Config{Load: r.Load, Runner: r, Listen: "127.0.0.1:0", WatchInterval: -1, Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	base := "http://" + addr.String()
	if got := log.next(t); got != "run waiting for approval CUSTOMER" {
		t.Fatalf("first run: %q", got)
	}

	browser := browsertest.New(t).Tab(t, 1280, 900)
	shots := browsertest.ArtifactDir(t, "serve-approve")
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// click clicks and waits for the page it loads.
	click := func(sel string) {
		t.Helper()
		if _, err := chromedp.Run(browser, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}

	if err := chromedp.Do(browser, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#mapping-CUSTOMER"))); err != nil {
		t.Fatal(err)
	}
	shot("1-status-waiting.png")
	if got := text("#mapping-CUSTOMER .result"); !strings.Contains(got, "waiting for approval") {
		t.Fatalf("status page result %q", got)
	}
	click("#mapping-CUSTOMER a.review")
	planID := text("#plan-id")
	if got := text("#approval"); !strings.Contains(got, "Waiting for approval") || !strings.Contains(got, "first sync into a destination that holds records: 3 records would be created in accounts") {
		t.Fatalf("plan page's approval box: %q", got)
	}
	shot("2-plan-waiting.png")
	if err := chromedp.Do(browser, chromedp.SendKeys(chromedp.CSS(`#approve-form input[name="by"]`), "ana")); err != nil {
		t.Fatal(err)
	}
	click("#approve")
	if loc, err := chromedp.Run(browser, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/plans/"+planID+"?approved=1") {
		body, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("after Approve the browser is at %q (%v): %s", loc, err, body)
	}
	if got := text("#approval"); !strings.Contains(got, "Approved by ana (coupler serve page from 127.0.0.1)") {
		t.Errorf("approval box after approving: %q", got)
	}
	shot("3-plan-approved.png")

	if got := log.next(t); got != "run finished CUSTOMER" {
		t.Fatalf("the run after the approval: %q: %s", got, log.lastErr())
	}
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/runs"), chromedp.WaitVisible(chromedp.CSS("#runs"))); err != nil {
		t.Fatal(err)
	}
	shot("4-runs-applied.png")
	runs := text("#runs tbody")
	for _, want := range []string{planID + "\tCUSTOMER\tto_integration", "3 inserted", planID + "\tCUSTOMER\tfrom_integration", "1 inserted"} {
		if !strings.Contains(runs, want) {
			t.Errorf("run log lacks %q:\n%s", want, runs)
		}
	}
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#mapping-CUSTOMER"))); err != nil {
		t.Fatal(err)
	}
	shot("5-status-applied.png")
	if got := text("#mapping-CUSTOMER"); !strings.Contains(got, "4 inserted") || !strings.Contains(got, "approved by ana") || strings.Contains(got, "waiting for approval") {
		t.Errorf("status page after the approved run: %q", got)
	}
	t.Logf("screenshots in %s", shots)
}
