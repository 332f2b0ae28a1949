package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
)

// trackedMapping is the bidirectional CUSTOMER mapping with the CRM side
// read through Dataverse change tracking, and extra keys.
const trackedMapping = `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon, changes: track }
direction: bidirectional
sync_only_coupled: false
%s
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
  - { field: city, integration_field: address1_city }
`

// trackedWorld syncs 5 customers and 2 accounts both ways with the CRM side
// tracked, applies a second (empty) plan, and returns the world.
func trackedWorld(t *testing.T, extra string) *world {
	t.Helper()
	w := newBidiWorldWith(t, fmt.Sprintf(trackedMapping, extra),
		connectors.Record{"accountnumber": "A-1", "name": "Only in the CRM", "address1_city": "Oslo"},
		connectors.Record{"accountnumber": "A-2", "name": "Also only in the CRM", "address1_city": "Lyon"})
	first := w.plan(engine.PlanOptions{})
	if from := part(t, first, "from_integration"); from.ChangeTracking != plan.ChangesStart {
		t.Fatalf("first plan reads the CRM as %q, want %q", from.ChangeTracking, plan.ChangesStart)
	}
	w.apply(first.ID)
	second := w.plan(engine.PlanOptions{})
	if second.HasChanges() {
		t.Fatalf("second plan has changes: %v / %v", second.Mappings[0].Counts, second.Mappings[1].Counts)
	}
	if from := part(t, second, "from_integration"); from.ChangeTracking != plan.ChangesDelta {
		t.Fatalf("second plan reads the CRM as %q, want %q", from.ChangeTracking, plan.ChangesDelta)
	}
	w.apply(second.ID)
	return w
}

// deleteCoupledAccount deletes, in the CRM, the account coupled to the
// third customer, and returns the customer's and the account's ids.
func deleteCoupledAccount(t *testing.T, w *world) (customerID, accountID string) {
	t.Helper()
	pairs, err := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	if err != nil {
		t.Fatal(err)
	}
	customerID = w.erp.All("customers")[2]["id"].(string)
	accountID = pairs[customerID]
	if accountID == "" {
		t.Fatalf("customer %s is not coupled", customerID)
	}
	if err := w.crm.Delete("accounts", accountID); err != nil {
		t.Fatal(err)
	}
	return customerID, accountID
}

// TestChangeTrackingDeletionReachesIncrementalPlan: an account deleted in
// the CRM reaches an incremental plan as the mapping's policy says, with
// no full read of either side: remove_coupling uncouples it,
// propagate_deletes deletes the customer.
func TestChangeTrackingDeletionReachesIncrementalPlan(t *testing.T) {
	t.Parallel()
	t.Run("remove_coupling", func(t *testing.T) {
		w := trackedWorld(t, "conflicts: { delete: remove_coupling }")
		customerID, _ := deleteCoupledAccount(t, w)
		p := w.plan(engine.PlanOptions{})
		to, from := part(t, p, "to_integration"), part(t, p, "from_integration")
		if from.ChangeTracking != plan.ChangesDelta || from.Removed != 1 || from.Read != 0 {
			t.Errorf("CRM read: %q, %d removed, %d read; want a delta with 1 deleted and nothing else", from.ChangeTracking, from.Removed, from.Read)
		}
		// Incremental: the customer whose account was deleted (and those
		// the watermark's overlap reads again), not all 7 of each side.
		if to.Since.IsZero() || to.Read >= 7 || to.DestRead >= 7 {
			t.Errorf("ERP pass read %d customers and %d accounts (since %v); want an incremental read", to.Read, to.DestRead, to.Since)
		}
		if to.Counts[plan.Uncouple] != 1 || from.Counts[plan.Delete] != 0 || p.Totals()[plan.Create]+p.Totals()[plan.Restore] != 0 {
			t.Fatalf("counts: to %v, from %v; want one uncouple and nothing else", to.Counts, from.Counts)
		}
		if !strings.Contains(textOf(t, p), "and 1 deleted (change tracking)") {
			t.Errorf("the plan does not say it read through change tracking:\n%s", textOf(t, p))
		}
		w.apply(p.ID)
		pairs, _ := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
		if _, ok := pairs[customerID]; ok {
			t.Error("the customer is still coupled")
		}
		if _, ok := w.erp.Get("customers", customerID); !ok {
			t.Error("remove_coupling deleted the customer")
		}
		if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
			t.Errorf("plan after apply has changes: %v / %v", again.Mappings[0].Counts, again.Mappings[1].Counts)
		}
	})
	t.Run("propagate_deletes", func(t *testing.T) {
		w := trackedWorld(t, "propagate_deletes: true")
		customerID, _ := deleteCoupledAccount(t, w)
		p := w.plan(engine.PlanOptions{})
		from := part(t, p, "from_integration")
		if from.ChangeTracking != plan.ChangesDelta || from.Counts[plan.Delete] != 1 || from.DestRead != 1 {
			t.Fatalf("CRM pass: %q, counts %v, %d customers read; want a delta deleting the customer, read by key", from.ChangeTracking, from.Counts, from.DestRead)
		}
		for _, op := range from.Operations {
			if op.Kind == plan.Delete && (op.DestID != customerID || op.ETag == "") {
				t.Errorf("delete %+v: want customer %s, conditional on its ETag", op, customerID)
			}
		}
		res := w.apply(p.ID)
		if _, ok := w.erp.Get("customers", customerID); ok {
			t.Errorf("the customer is still there: %+v", res.Runs)
		}
		if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
			t.Errorf("plan after apply has changes: %v / %v", again.Mappings[0].Counts, again.Mappings[1].Counts)
		}
	})
}

// TestChangeTrackingExpiredTokenFallsBackToFullRead: when the service has
// forgotten the delta link, the plan reads every record, says so, and still
// propagates the deletion.
func TestChangeTrackingExpiredTokenFallsBackToFullRead(t *testing.T) {
	t.Parallel()
	w := trackedWorld(t, "propagate_deletes: true")
	customerID, _ := deleteCoupledAccount(t, w)
	w.crm.ExpireChangeTokens()
	p := w.plan(engine.PlanOptions{})
	from := part(t, p, "from_integration")
	if from.ChangeTracking != plan.ChangesRestart || from.Read != 6 {
		t.Fatalf("CRM read: %q, %d records; want a restart reading all 6 accounts", from.ChangeTracking, from.Read)
	}
	if len(from.Warnings) == 0 || !strings.Contains(strings.Join(from.Warnings, "\n"), "expired delta link") {
		t.Errorf("warnings %q: want the expired delta link named", from.Warnings)
	}
	if from.Counts[plan.Delete] != 1 {
		t.Errorf("counts %v: the full read must still find the deleted account", from.Counts)
	}
	w.apply(p.ID)
	if _, ok := w.erp.Get("customers", customerID); ok {
		t.Error("the customer is still there")
	}
	next := w.plan(engine.PlanOptions{})
	if from := part(t, next, "from_integration"); from.ChangeTracking != plan.ChangesDelta || next.HasChanges() {
		t.Errorf("after the restart: %q, changes %v; want a delta again, no changes", from.ChangeTracking, next.HasChanges())
	}
}

// TestChangeTrackingTokenMovesOnlyWithApply: a plan that is not applied
// (killed, or just left) leaves the token where it was, so the next plan
// reads the same changes; apply moves it at the run's end.
func TestChangeTrackingTokenMovesOnlyWithApply(t *testing.T) {
	t.Parallel()
	w := trackedWorld(t, "conflicts: { delete: remove_coupling }")
	token := func() string {
		tok, ok, err := w.e.State().ChangeToken(t.Context(), "CUSTOMER", plan.SideIntegration)
		if err != nil || !ok {
			t.Fatalf("token: %q %v %v", tok, ok, err)
		}
		return tok
	}
	before := token()
	acc := w.crm.All("accounts")[0]
	if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"name": "Renamed"}); err != nil {
		t.Fatal(err)
	}
	p1 := w.plan(engine.PlanOptions{})
	if part(t, p1, "from_integration").Counts[plan.Update] != 1 {
		t.Fatalf("counts %v, want the rename", part(t, p1, "from_integration").Counts)
	}
	if token() != before {
		t.Fatal("planning moved the token")
	}
	p2 := w.plan(engine.PlanOptions{})
	if from := part(t, p2, "from_integration"); from.Counts[plan.Update] != 1 {
		t.Fatalf("second plan counts %v: the unapplied plan's changes must be read again", from.Counts)
	}
	w.apply(p2.ID)
	if token() == before {
		t.Error("apply did not move the token")
	}
	if _, err := w.e.Apply(t.Context(), p1.ID); err == nil {
		t.Error("the older plan was applied over the newer one")
	}
	if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
		t.Errorf("plan after apply has changes: %v / %v", again.Mappings[0].Counts, again.Mappings[1].Counts)
	}
}

// TestChangeTrackingRefusedByTheTable: a table without change tracking
// fails the plan, saying what to turn on, rather than reading otherwise.
func TestChangeTrackingRefusedByTheTable(t *testing.T) {
	t.Parallel()
	w := newBidiWorldWith(t, fmt.Sprintf(trackedMapping, ""))
	if err := w.crm.SetChangeTracking("accounts", false); err != nil {
		t.Fatal(err)
	}
	_, err := w.e.Plan(t.Context(), engine.PlanOptions{})
	if err == nil || !strings.Contains(err.Error(), "Track changes") {
		t.Fatalf("plan: %v; want an error naming Track changes", err)
	}
}

// textOf renders p as coupler plan prints it.
func textOf(t *testing.T, p *plan.Plan) string {
	t.Helper()
	var b strings.Builder
	if err := report.PlanText(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestExplainChangeTracking: plan --explain shows the request a tracked
// side is read by: every record with Prefer: odata.track-changes before
// the first apply, the delta link the last apply kept after it.
func TestExplainChangeTracking(t *testing.T) {
	t.Parallel()
	w := newBidiWorldWith(t, fmt.Sprintf(trackedMapping, ""))
	explained := func() engine.SideExplanation {
		t.Helper()
		xs, err := w.e.Explain(t.Context(), engine.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range xs {
			if x.Direction == "from_integration" {
				return x.Source
			}
		}
		t.Fatal("no from_integration pass explained")
		return engine.SideExplanation{}
	}
	start := explained()
	if !strings.Contains(start.Request, "/accounts?$select=") || !strings.Contains(start.Request, "Prefer: odata.track-changes") || !strings.Contains(start.Note, "change tracking") {
		t.Errorf("before the first apply: %q, %q; want every account read with Prefer: odata.track-changes", start.Request, start.Note)
	}
	w.apply(w.plan(engine.PlanOptions{}).ID)
	token, ok, err := w.e.State().ChangeToken(t.Context(), "CUSTOMER", "integration")
	if err != nil || !ok {
		t.Fatalf("no change token after the first apply (%v)", err)
	}
	delta := explained()
	if delta.Request != token || !strings.Contains(delta.Note, "delta link") {
		t.Errorf("after the first apply: %q, %q; want the delta link %q", delta.Request, delta.Note, token)
	}
}
