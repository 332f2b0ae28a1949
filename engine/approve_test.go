package engine_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
)

// TestApprovalRules: a plan changing more than the project's
// approval: changed_share waits for a person, and says why in the saved
// plan; coupler approve records who approved it, once; a plan that needs
// none, one applied, and one made stale by a later apply are refused.
func TestApprovalRules(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 4)
	replaceIn(t, filepath.Join(w.dir, "coupler.yaml"), "mappings: [", "approval: { changed_share: 50%, min_records: 0 }\nmappings: [")
	w.reopen()
	ctx := t.Context()

	// The initial load into an empty destination changes every record,
	// as it must: it does not wait.
	initial := w.plan(engine.PlanOptions{})
	if initial.NeedsApproval() {
		t.Fatalf("the initial load needs approval: %q", initial.ApprovalReasons())
	}
	w.apply(initial.ID)
	for i := range 3 {
		if err := w.erp.Patch("customers", fake.CustomerID(i), map[string]any{"displayName": fmt.Sprintf("Renamed %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	first, second := w.plan(engine.PlanOptions{}), w.plan(engine.PlanOptions{})
	reasons := first.ApprovalReasons()
	if !first.WaitsForApproval() || len(reasons) != 1 || !strings.Contains(reasons[0], "3 of the 4 records it covers would change (75%), more than approval: changed_share 50%") {
		t.Fatalf("first plan: waits %v, reasons %q", first.WaitsForApproval(), reasons)
	}
	p, err := w.e.Approve(ctx, engine.LatestPlan, "ana")
	if err != nil {
		t.Fatalf("approve latest: %v", err)
	}
	if p.ID != second.ID || p.Approved == nil || p.Approved.By != "ana" || p.Approved.At.IsZero() {
		t.Fatalf("approve latest: plan %s, approval %+v; want %s approved by ana", p.ID, p.Approved, second.ID)
	}
	if p, err = w.e.Approve(ctx, second.ID, "bo"); err != nil || p.Approved.By != "ana" {
		t.Fatalf("approving again: %v, %+v; want the first approval to stand", err, p.Approved)
	}
	saved, err := w.e.SavedPlan(ctx, second.ID, 0)
	if err != nil || saved.WaitsForApproval() || saved.Approved == nil || saved.Approved.By != "ana" {
		t.Fatalf("saved plan: %v, approval %+v", err, saved.Approved)
	}
	w.apply(second.ID)
	if _, err := w.e.Approve(ctx, second.ID, "ana"); err == nil || !strings.Contains(err.Error(), "is applied") {
		t.Errorf("approving an applied plan: %v", err)
	}
	if _, err := w.e.Approve(ctx, first.ID, "ana"); !errors.Is(err, engine.ErrStalePlan) {
		t.Errorf("approving a plan made stale by a later apply: %v; want ErrStalePlan", err)
	}
	quiet := w.plan(engine.PlanOptions{})
	if _, err := w.e.Approve(ctx, quiet.ID, "ana"); !errors.Is(err, engine.ErrNoApprovalNeeded) {
		t.Errorf("approving a plan that needs none: %v", err)
	}
}

// TestApprovedFirstSyncIntoExistingApplies: a first sync into a
// destination holding records needs approval, in the plan as in apply,
// which refuses it; approving that plan, rather than acknowledging the
// mapping, lets apply write it.
func TestApprovedFirstSyncIntoExistingApplies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	if _, err := w.crm.Put("accounts", map[string]any{"name": "Existing", "statecode": 0, "customertypecode": 3}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	if r := p.ApprovalReasons(); len(r) != 1 || !strings.Contains(r[0], "first sync into a destination that holds records: 3 records would be created in accounts") {
		t.Fatalf("reasons %q", r)
	}
	if _, err := w.e.Apply(t.Context(), p.ID); !errors.Is(err, engine.ErrNeedsReview) || !strings.Contains(err.Error(), "coupler approve "+p.ID) {
		t.Fatalf("apply before approval: %v", err)
	}
	if _, err := w.e.Approve(t.Context(), p.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	w.apply(p.ID)
	if got := w.crm.Len("accounts"); got != 4 {
		t.Errorf("%d accounts after the approved apply, want 1 + 3", got)
	}
}
