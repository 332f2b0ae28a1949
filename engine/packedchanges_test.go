package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// TestCreateChangesReadBackExactly: the field changes of creates, kept a
// row per operation since schema version 14 (plan_create_values, its
// changes joined by the separators U+001E and U+001F), read back as the
// diff made them, byte for byte, by apply and through the plan_changes
// view, whatever the values hold: quotes, backslashes, control
// characters (the separators among them, escaped in JSON text), other
// scripts, an empty string, none. And apply writes them.
func TestCreateChangesReadBackExactly(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	tricky := "Quote \" backslash \\ tab\tnewline\n separators \x1e\x1f nul\x00 é 日本 😀 </b> & end"
	if err := w.erp.Patch("customers", fake.CustomerID(1), connectors.Record{"displayName": tricky, "city": "", "addressLine2": nil}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	wantCounts(t, p, plan.Counts{plan.Create: 3})
	var fromApply []string
	var trickySeq int64
	for _, op := range p.Mappings[0].Operations {
		for _, c := range op.Changes {
			after := "NULL"
			if c.After != nil {
				after = string(c.After)
			}
			fromApply = append(fromApply, fmt.Sprintf("%d %s %s", op.Seq, c.Field, after))
			if c.Field == "name" {
				var s string
				if err := json.Unmarshal(c.After, &s); err == nil && s == tricky {
					trickySeq = op.Seq
				}
			}
		}
	}
	if trickySeq == 0 {
		t.Fatalf("no create carries the name %q: %q", tricky, fromApply)
	}
	if want := fmt.Sprintf("%d address1_city %q", trickySeq, ""); !slices.Contains(fromApply, want) {
		t.Errorf("the empty city is not kept as %s: %q", want, fromApply)
	}
	w.apply(p.ID)
	var named int
	for _, a := range w.crm.All("accounts") {
		if a["name"] == tricky {
			named++
		}
	}
	if named != 1 {
		t.Errorf("%d accounts are named %q, want 1", named, tricky)
	}
	path := w.e.Program().Project.State
	w.e.Close()
	var fromView []string
	err := state.Query(t.Context(), path, `SELECT seq, field, coalesce(after, 'NULL') FROM plan_changes WHERE plan_id = '`+p.ID+`' ORDER BY seq, field`,
		func(_ []string, row []any) error {
			if row != nil {
				fromView = append(fromView, fmt.Sprintf("%d %s %s", row[0], row[1], row[2]))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromView, fromApply) {
		t.Errorf("plan_changes shows\n%q\nwant what apply read\n%q", fromView, fromApply)
	}
	if got := rawQuery(t, path, `SELECT count(*) FROM plan_create_values`); got != "3" {
		t.Errorf("plan_create_values holds %s rows, want one per create (3)", got)
	}
}
