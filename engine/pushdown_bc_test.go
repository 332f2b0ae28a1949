package engine_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// worldWithFilter is newWorld with the test mapping's table-side filter
// replaced by filter.
func worldWithFilter(t *testing.T, n int, filter string) *world {
	t.Helper()
	mapping, err := os.ReadFile("testdata/customer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const old = "\nfilter: blocked == \" \"\n"
	if !strings.Contains(string(mapping), old) {
		t.Fatal("testdata/customer.yaml no longer has the filter this test replaces")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "customer.yaml"), strings.Replace(string(mapping), old, "\nfilter: '"+filter+"'\n", 1))
	return newWorldFrom(t, n, filepath.Join(dir, "customer.yaml"))
}

// TestOrAcrossFieldsStaysLocalOnBusinessCentral: Business Central refuses
// a $filter whose or joins two different fields ("Using filter expressions
// in OData URIs"), and so does its fake. Such a filter is evaluated by
// coupler alone; an or on one field is still sent to the server. Before
// the odata connector decided what to push, the engine sent both, and the
// plan failed with the server's 400.
func TestOrAcrossFieldsStaysLocalOnBusinessCentral(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, filter string
		wantPushed   bool
	}{
		{"or across two fields", `blocked == " " || city == "Reykjavik"`, false},
		{"or on one field", `blocked == " " || blocked == "Ship"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := worldWithFilter(t, 8, tt.filter)
			// Block three customers, one of them in Reykjavik and one
			// for shipping only: the filters above admit different sets.
			all := w.erp.All("customers")
			for i, edit := range []connectors.Record{
				{"blocked": "All"},
				{"blocked": "All", "city": "Reykjavik"},
				{"blocked": "Ship"},
			} {
				if err := w.erp.Patch("customers", all[i]["id"].(string), edit); err != nil {
					t.Fatal(err)
				}
			}
			want := int64(0)
			for _, c := range w.erp.All("customers") {
				switch {
				case c["blocked"] == " ",
					tt.wantPushed && c["blocked"] == "Ship",
					!tt.wantPushed && c["city"] == "Reykjavik":
					want++
				}
			}

			xs, err := w.e.Explain(t.Context(), engine.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			src := xs[0].Source
			if tt.wantPushed {
				if src.Pushed == "" || len(src.Local) != 0 || !strings.Contains(src.Request, "Ship") {
					t.Errorf("explain: pushed %q, local %q, request %s; want the whole filter pushed", src.Pushed, src.Local, src.Request)
				}
			} else {
				if src.Pushed != "" || !slices.Equal(src.Local, []string{tt.filter}) || strings.Contains(src.Request, "Reykjavik") {
					t.Errorf("explain: pushed %q, local %q, request %s; want the filter kept local", src.Pushed, src.Local, src.Request)
				}
				var out strings.Builder
				if err := engine.WriteExplanations(&out, xs); err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{"pushed down to the server: (nothing)", "evaluated only by coupler: " + tt.filter} {
					if !strings.Contains(out.String(), want) {
						t.Errorf("plan --explain does not say %q:\n%s", want, out.String())
					}
				}
			}

			p := w.plan(engine.PlanOptions{})
			if got := counts(p)[plan.Create]; got != want {
				t.Errorf("creates = %d, want %d (the records the filter admits)", got, want)
			}
		})
	}
}

// TestExplainSaysWhatTheReadSends: plan --explain's "pushed down to the
// server" names the part of the filter the request carries as $filter, and
// nothing when the request carries none. An incremental read asks only for
// records modified since the watermark and evaluates the filter itself (so
// that records leaving it are reported); explain used to name the pushable
// part even then, claiming a $filter its request lacked.
func TestExplainSaysWhatTheReadSends(t *testing.T) {
	t.Parallel()
	w := worldWithFilter(t, 8, `blocked == " " && trim(displayName) != ""`)
	explain := func() (engine.SideExplanation, string) {
		t.Helper()
		xs, err := w.e.Explain(t.Context(), engine.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := engine.WriteExplanations(&out, xs); err != nil {
			t.Fatal(err)
		}
		return xs[0].Source, out.String()
	}
	full, text := explain()
	if !strings.Contains(full.Request, "$filter=") || full.Pushed == "" || !strings.Contains(text, "pushed down to the server: blocked eq ' '") {
		t.Errorf("first (full) read: request %s, pushed %q; want the pushable part sent as $filter:\n%s", full.Request, full.Pushed, text)
	}
	w.apply(w.plan(engine.PlanOptions{}).ID)
	incr, text := explain()
	if strings.Contains(incr.Request, "$filter=") && !strings.Contains(incr.Request, "lastModifiedDateTime") {
		t.Fatalf("incremental read: request %s has a $filter without the watermark", incr.Request)
	}
	if strings.Contains(incr.Request, "blocked%20eq") || incr.Pushed != "" || strings.Contains(text, "pushed down to the server: blocked") {
		t.Errorf("incremental read: request %s, pushed %q; want nothing of the filter claimed as pushed:\n%s", incr.Request, incr.Pushed, text)
	}
	if want := "evaluated only by coupler: blocked == \" \" && trim(displayName) != \"\""; !strings.Contains(text, want) {
		t.Errorf("incremental read: explain does not say %q:\n%s", want, text)
	}
}
