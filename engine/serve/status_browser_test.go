//go:build linux

package serve

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/report/browsertest"
)

// TestStatusPageInChromium loads the status page of a running server in
// headless Chromium: every mapping with its schedule, state, counts and
// errors, a hostile error message shown as text, one run-now form per
// mapping posting to /runs, and a screenshot.
func TestStatusPageInChromium(t *testing.T) {
	browser := browsertest.New(t)
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

	dom := browser.DOM(t, base+"/", 1280, 600)
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

	png := filepath.Join(browsertest.ArtifactDir(t, "serve"), "status.png")
	browser.Screenshot(t, base+"/", png, 1280, 600)
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG", png)
	}
	t.Logf("screenshot %s (%d bytes)", png, len(b))
}
