package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// customerVariant writes testdata/customer.yaml with old replaced by new,
// once, to a file of its own and returns its path.
func customerVariant(t *testing.T, old, new string) string {
	t.Helper()
	body, err := os.ReadFile("testdata/customer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), old) {
		t.Fatalf("testdata/customer.yaml has no %q", old)
	}
	path := filepath.Join(t.TempDir(), "customer.yaml")
	writeFile(t, path, strings.Replace(string(body), old, new, 1))
	return path
}

// TestUnchangedRecordLeavingAFilterIsSkipped: the diff leaves out early
// the coupled records that are unchanged with nothing to note (the steady
// state). A record that left a filter with its values and version the
// same, by an edit of the filter or by a field the diff does not compare
// (create_only), is no such record: it is skipped with its reason, not
// counted unchanged.
func TestUnchangedRecordLeavingAFilterIsSkipped(t *testing.T) {
	t.Parallel()
	const n = 4
	for _, tc := range []struct {
		name   string
		leave  func(t *testing.T, w *world)
		reason string
	}{
		{
			name: "the source filter, edited",
			leave: func(t *testing.T, w *world) {
				mapping, err := os.ReadFile(filepath.Join(w.dir, "mappings", "customer.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				w.editMapping(strings.Replace(string(mapping), `filter: blocked == " "`,
					`filter: blocked == " " && number != "`+fake.Customer(0)["number"].(string)+`"`, 1))
			},
			reason: "left out by filter",
		},
		{
			name: "the destination filter, by a field not compared",
			leave: func(t *testing.T, w *world) {
				acc := w.crm.All("accounts")[0]
				if err := w.crm.Patch("accounts", acc["accountid"].(string), map[string]any{"statecode": 1}); err != nil {
					t.Fatal(err)
				}
			},
			reason: "the coupled record is left out by the destination's filter",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorldFrom(t, n, customerVariant(t, "{ integration_field: statecode, constant: 0 }", "{ integration_field: statecode, constant: 0, create_only: true }"))
			w.apply(w.plan(engine.PlanOptions{}).ID)
			wantCounts(t, w.plan(engine.PlanOptions{Full: true}), plan.Counts{plan.Unchanged: n})
			tc.leave(t, w)
			p := w.plan(engine.PlanOptions{Full: true})
			wantCounts(t, p, plan.Counts{plan.Skip: 1, plan.Unchanged: n - 1})
			if ops := p.Mappings[0].Operations; len(ops) != 1 || ops[0].Reason != tc.reason {
				t.Errorf("operations = %+v, want one skipped: %s", ops, tc.reason)
			}
		})
	}
}
