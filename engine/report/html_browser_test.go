//go:build linux

package report

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report/browsertest"
)

// writePage renders p into dir and returns the page's file: URL.
func writePage(t *testing.T, dir, name string, p *plan.Plan) *url.URL {
	t.Helper()
	var b bytes.Buffer
	if err := PlanHTML(&b, p); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &url.URL{Scheme: "file", Path: path}
}

// dumpDOM loads u and returns the DOM after the page's script ran.
func dumpDOM(t *testing.T, b *browsertest.Browser, u *url.URL) string {
	t.Helper()
	dom := b.DOM(t, u.String(), 1280, 900)
	if !strings.Contains(dom, `id="plan-id"`) {
		t.Fatalf("DOM dump of %s is not the plan page:\n%s", u, dom)
	}
	return dom
}

// TestPlanHTMLInChromium loads plan pages in headless Chromium, one tab
// per page and subtest, in parallel.
func TestPlanHTMLInChromium(t *testing.T) {
	t.Parallel()
	browser := browsertest.New(t)
	dir := browsertest.ArtifactDir(t, "report")
	page := writePage(t, dir, "plan.html", samplePlan())
	hostile := writePage(t, dir, "plan-hostile.html", hostilePlan())
	nochanges := writePage(t, dir, "plan-nochanges.html", noChangesPlan())

	t.Run("summary", func(t *testing.T) {
		t.Parallel()
		dom := dumpDOM(t, browser, page)
		got := summaryCounts(dom)
		for k, want := range wantTotals {
			if got[k] != want {
				t.Errorf("total-%s = %q in the DOM, want %q", k, got[k], want)
			}
		}
		if !strings.Contains(dom, `id="shown">3<`) {
			t.Error("the script did not count 3 shown operations")
		}
		for _, r := range opRows(dom) {
			if r.hidden {
				t.Errorf("unfiltered page hides %+v", r)
			}
		}
	})

	// The page's script reads the filter from the URL fragment.
	for _, tc := range []struct {
		fragment string
		shown    []string // source ids of the rows shown
	}{
		{"op=update", []string{"c-2"}},
		{"op=create,fail", []string{"c-1", "c-4"}},
		{"op=create&op=update", []string{"c-1", "c-2"}},
		{"q=C-4", []string{"c-4"}},
		{"q=a-2", []string{"c-2"}},     // destination id
		{"q=contoso", []string{"c-1"}}, // a display value
		{"op=update,fail&q=4", []string{"c-4"}},
		{"op=none", nil},
		{"q=nothing", nil},
	} {
		t.Run(tc.fragment, func(t *testing.T) {
			t.Parallel()
			u := *page
			u.Fragment = tc.fragment
			dom := dumpDOM(t, browser, &u)
			var shown []string
			for _, r := range opRows(dom) {
				if !r.hidden {
					shown = append(shown, r.key)
				}
			}
			if strings.Join(shown, " ") != strings.Join(tc.shown, " ") {
				t.Errorf("#%s shows %v, want %v", tc.fragment, shown, tc.shown)
			}
			if want := `id="shown">` + itoa(len(tc.shown)) + `<`; !strings.Contains(dom, want) {
				t.Errorf("#%s: no %s in the DOM", tc.fragment, want)
			}
			if nomatch := strings.Contains(dom, `<p class="nomatch">`); nomatch != (len(tc.shown) == 0) {
				t.Errorf("#%s: no-match notice shown = %v", tc.fragment, nomatch)
			}
		})
	}

	t.Run("hostile", func(t *testing.T) {
		t.Parallel()
		dom := dumpDOM(t, browser, hostile)
		if n := strings.Count(dom, "<script"); n != 1 {
			t.Errorf("%d script elements in the DOM, want 1", n)
		}
		if strings.Contains(dom, "<img") {
			t.Error("a value became an <img> element")
		}
		if rows := opRows(dom); len(rows) != 6 {
			t.Errorf("%d operation rows in the DOM, want 6", len(rows))
		}
	})

	for name, u := range map[string]*url.URL{
		"plan.png":           page,
		"plan-update.png":    {Scheme: "file", Path: page.Path, Fragment: "op=update"},
		"plan-nochanges.png": nochanges,
		"plan-hostile.png":   hostile,
	} {
		t.Run("screenshot "+name, func(t *testing.T) {
			t.Parallel()
			png := filepath.Join(dir, name)
			browser.Screenshot(t, u.String(), png, 1280, 900)
			b, err := os.ReadFile(png)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("%s is not a PNG", png)
			}
			t.Logf("screenshot %s (%d bytes)", png, len(b))
		})
	}
}
