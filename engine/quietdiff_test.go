package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// TestCoupledRecordLeavingTheDestinationFilterWithSameValuesIsSkipped: the
// diff leaves out early the coupled records that are unchanged with
// nothing to note; one whose destination record left the destination's
// filter, by a field the diff does not compare (create_only), has the same
// values and is unchanged since its last sync, yet must still be skipped
// with its reason, not counted unchanged.
func TestCoupledRecordLeavingTheDestinationFilterWithSameValuesIsSkipped(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("testdata/customer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	variant := strings.Replace(string(body), "{ integration_field: statecode, constant: 0 }", "{ integration_field: statecode, constant: 0, create_only: true }", 1)
	if variant == string(body) {
		t.Fatal("the statecode constant is not in testdata/customer.yaml")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "customer.yaml"), variant)
	const n = 4
	w := newWorldFrom(t, n, filepath.Join(dir, "customer.yaml"))
	w.apply(w.plan(engine.PlanOptions{}).ID)
	wantCounts(t, w.plan(engine.PlanOptions{Full: true}), plan.Counts{plan.Unchanged: n})

	acc := w.crm.All("accounts")[0]
	if err := w.crm.Patch("accounts", acc["accountid"].(string), map[string]any{"statecode": 1}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{Full: true})
	wantCounts(t, p, plan.Counts{plan.Skip: 1, plan.Unchanged: n - 1})
	ops := p.Mappings[0].Operations
	if len(ops) != 1 || ops[0].Reason != "the coupled record is left out by the destination's filter" {
		t.Errorf("operations = %+v, want the one coupled record left out by the destination's filter", ops)
	}
}
