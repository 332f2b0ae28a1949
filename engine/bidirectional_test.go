package engine_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

const bidiMapping = `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: bidirectional
sync_only_coupled: false
%s
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
  - { field: city, integration_field: address1_city }
`

// newBidiWorld serves 5 customers and 2 unrelated accounts, and a
// bidirectional mapping with the given extra keys (e.g. a conflicts policy).
func newBidiWorld(t *testing.T, extra string) *world {
	t.Helper()
	return newBidiWorldWith(t, fmt.Sprintf(bidiMapping, extra),
		connectors.Record{"accountnumber": "A-1", "name": "Only in the CRM", "address1_city": "Oslo"},
		connectors.Record{"accountnumber": "A-2", "name": "Also only in the CRM", "address1_city": "Lyon"})
}

// newBidiWorldWith serves 5 customers and the given accounts, stamped an
// hour ago, and a project with the given mapping file.
func newBidiWorldWith(t *testing.T, mapping string, accounts ...connectors.Record) *world {
	t.Helper()
	return newBidiWorldOpts(t, engine.Options{}, mapping, accounts...)
}

// newBidiWorldOpts is newBidiWorldWith with the engine opened with opts
// (another state, say).
func newBidiWorldOpts(t *testing.T, opts engine.Options, mapping string, accounts ...connectors.Record) *world {
	t.Helper()
	w := &world{t: t, erp: fake.NewERP(), crm: fake.NewCRM(), dir: t.TempDir()}
	past := time.Now().Add(-time.Hour)
	w.erp.SetClock(func() time.Time { return past })
	w.crm.SetClock(func() time.Time { return past })
	if err := fake.SeedCustomers(w.erp, 5); err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		if _, err := w.crm.Put("accounts", a); err != nil {
			t.Fatal(err)
		}
	}
	w.erp.SetClock(time.Now)
	w.crm.SetClock(time.Now)
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", w.erp))
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", w.crm))
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	writeFile(t, filepath.Join(w.dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "`+fake.BCCompanyURL(erpSrv.URL+"/api/v2.0")+`" }
  dataverse: { type: odata, base_url: "`+crmSrv.URL+`/api/data/v9.2" }
mappings: ["mappings/*.yaml"]
`)
	writeFile(t, filepath.Join(w.dir, "mappings", "customer.yaml"), mapping)
	e, diags, err := engine.OpenProject(t.Context(), w.dir, mappings.LoadOptions{}, opts)
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	acknowledgeFirstSync(t, e)
	w.e = e
	return w
}

// part returns the plan's part for one direction.
func part(t *testing.T, p *plan.Plan, direction string) *plan.MappingPlan {
	t.Helper()
	for _, m := range p.Mappings {
		if m.Direction == direction {
			return m
		}
	}
	t.Fatalf("plan %s has no %s part", p.ID, direction)
	return nil
}

func TestBidirectionalCreatesBothWaysThenRests(t *testing.T) {
	t.Parallel()
	w := newBidiWorld(t, "")
	p := w.plan(engine.PlanOptions{})
	if got := part(t, p, "to_integration").Counts[plan.Create]; got != 5 {
		t.Errorf("to_integration creates = %d, want 5", got)
	}
	if got := part(t, p, "from_integration").Counts[plan.Create]; got != 2 {
		t.Errorf("from_integration creates = %d, want 2", got)
	}
	w.apply(p.ID)
	if w.erp.Len("customers") != 7 || w.crm.Len("accounts") != 7 {
		t.Fatalf("after apply: %d customers, %d accounts; want 7 and 7", w.erp.Len("customers"), w.crm.Len("accounts"))
	}
	// What coupler wrote comes back as modified on both sides, and must not
	// be planned again.
	if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
		t.Fatalf("second plan has changes: to %v, from %v", part(t, again, "to_integration").Counts, part(t, again, "from_integration").Counts)
	}
	w.apply("")

	// A change in the CRM flows to the ERP.
	acc := w.crm.All("accounts")[0]
	if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"address1_city": "Bergen"}); err != nil {
		t.Fatal(err)
	}
	p = w.plan(engine.PlanOptions{})
	if got := part(t, p, "from_integration").Counts[plan.Update]; got != 1 {
		t.Fatalf("from_integration updates = %d, want 1", got)
	}
	if got := part(t, p, "to_integration").Counts[plan.Update]; got != 0 {
		t.Fatalf("to_integration updates = %d, want 0", got)
	}
	w.apply(p.ID)
	found := false
	for _, c := range w.erp.All("customers") {
		if c["number"] == acc["accountnumber"] {
			found = c["city"] == "Bergen"
		}
	}
	if !found {
		t.Error("the CRM's change did not reach the ERP")
	}
	if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
		t.Errorf("plan after the update has changes")
	}
}

// changeBothSides edits the same coupled record on both sides.
func changeBothSides(t *testing.T, w *world) (customerID, accountID string) {
	t.Helper()
	w.apply(w.plan(engine.PlanOptions{}).ID)
	c := w.erp.All("customers")[0]
	for _, a := range w.crm.All("accounts") {
		if a["accountnumber"] == c["number"] {
			accountID = a["accountid"].(string)
		}
	}
	customerID = c["id"].(string)
	if err := w.erp.Patch("customers", customerID, connectors.Record{"city": "From the ERP"}); err != nil {
		t.Fatal(err)
	}
	if err := w.crm.Patch("accounts", accountID, connectors.Record{"address1_city": "From the CRM"}); err != nil {
		t.Fatal(err)
	}
	return customerID, accountID
}

func TestUpdateConflictWithoutPolicyWritesNeitherSide(t *testing.T) {
	t.Parallel()
	w := newBidiWorld(t, "")
	customerID, accountID := changeBothSides(t, w)
	p := w.plan(engine.PlanOptions{})
	to, from := part(t, p, "to_integration"), part(t, p, "from_integration")
	if to.Counts[plan.Conflict] != 1 || from.Counts[plan.Conflict] != 1 || p.HasChanges() {
		t.Fatalf("counts: to %v, from %v; want one conflict each and nothing to write", to.Counts, from.Counts)
	}
	for _, op := range to.Operations {
		if op.Kind == plan.Conflict && !(strings.Contains(op.Reason, `"From the ERP"`) && strings.Contains(op.Reason, `"From the CRM"`)) {
			t.Errorf("conflict reason %q does not name both values", op.Reason)
		}
	}
	res, err := w.e.Apply(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Runs[0].Failed != 1 {
		t.Errorf("run = %+v, want the conflict logged as failed", res.Runs[0])
	}
	if c, _ := w.erp.Get("customers", customerID); c["city"] != "From the ERP" {
		t.Errorf("customer city = %v", c["city"])
	}
	if a, _ := w.crm.Get("accounts", accountID); a["address1_city"] != "From the CRM" {
		t.Errorf("account city = %v", a["address1_city"])
	}
}

func TestUpdateConflictPolicies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		policy string
		want   string
	}{
		{"send_to_integration", "From the ERP"},
		{"get_from_integration", "From the CRM"},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			w := newBidiWorld(t, "conflicts: { update: "+tt.policy+" }")
			customerID, accountID := changeBothSides(t, w)
			w.apply(w.plan(engine.PlanOptions{}).ID)
			c, _ := w.erp.Get("customers", customerID)
			a, _ := w.crm.Get("accounts", accountID)
			if c["city"] != tt.want || a["address1_city"] != tt.want {
				t.Errorf("customer city %v, account city %v; want both %q", c["city"], a["address1_city"], tt.want)
			}
			if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
				t.Errorf("plan after settling has changes")
			}
		})
	}
}

// TestOneSidedEditIsNotAConflict pins the review finding that an edit on one
// side only, with a policy favouring the other side, must still flow: the
// other side has not changed since the last sync, whatever its values.
func TestOneSidedEditIsNotAConflict(t *testing.T) {
	t.Parallel()
	w := newBidiWorld(t, "conflicts: { update: get_from_integration }")
	w.apply(w.plan(engine.PlanOptions{}).ID)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	c := w.erp.All("customers")[1]
	if err := w.erp.Patch("customers", c["id"].(string), connectors.Record{"city": "Edited in the ERP"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	to, from := part(t, p, "to_integration"), part(t, p, "from_integration")
	if to.Counts[plan.Update] != 1 || from.Counts[plan.Update] != 0 || to.Counts[plan.Conflict]+from.Counts[plan.Conflict] != 0 {
		t.Fatalf("to %v, from %v: want one update to the integration and nothing back", to.Counts, from.Counts)
	}
	w.apply(p.ID)
	if got, _ := w.erp.Get("customers", c["id"].(string)); got["city"] != "Edited in the ERP" {
		t.Errorf("the ERP edit was reverted: city = %v", got["city"])
	}
	for _, a := range w.crm.All("accounts") {
		if a["accountnumber"] == c["number"] && a["address1_city"] != "Edited in the ERP" {
			t.Errorf("the ERP edit did not reach the CRM: %v", a["address1_city"])
		}
	}
	if full := w.plan(engine.PlanOptions{Full: true}); full.HasChanges() {
		t.Errorf("a full plan after the sync has changes: to %v, from %v",
			part(t, full, "to_integration").Counts, part(t, full, "from_integration").Counts)
	}
}

func TestMatchBasedCouplingInsteadOfDuplicates(t *testing.T) {
	t.Parallel()
	w := newBidiWorld(t, `match:
  fields: [ { field: number, integration_field: accountnumber } ]
  create_if_no_match: true
  sync_after: true`)
	c := fake.Customer(0)
	// The CRM already holds customer 0 (its number in other case) and two
	// accounts that claim customer 1's number.
	for _, a := range []connectors.Record{
		{"accountnumber": strings.ToLower(c["number"].(string)), "name": "Old name", "address1_city": c["city"]},
		{"accountnumber": fake.Customer(1)["number"], "name": "Twin 1"},
		{"accountnumber": fake.Customer(1)["number"], "name": "Twin 2"},
	} {
		if _, err := w.crm.Put("accounts", a); err != nil {
			t.Fatal(err)
		}
	}
	p := w.plan(engine.PlanOptions{})
	to := part(t, p, "to_integration")
	if to.Counts[plan.Couple] != 1 || to.Counts[plan.Fail] != 1 || to.Counts[plan.Create] != 3 {
		t.Fatalf("to_integration counts = %v; want 1 couple, 1 fail (two matches), 3 creates", to.Counts)
	}
	var coupleOp, failOp plan.Operation
	for _, op := range to.Operations {
		switch op.Kind {
		case plan.Couple:
			coupleOp = op
		case plan.Fail:
			failOp = op
		}
	}
	if coupleOp.SourceID != c["id"] || len(coupleOp.Changes) != 2 {
		t.Errorf("couple op = %+v; want customer 0 with its number and name written (sync_after)", coupleOp)
	}
	if !strings.Contains(failOp.Reason, "2 accounts records match on number = accountnumber") {
		t.Errorf("fail reason = %q", failOp.Reason)
	}
	w.apply(p.ID)
	acc, _ := w.crm.Get("accounts", coupleOp.DestID)
	if acc["name"] != c["displayName"] {
		t.Errorf("matched account name = %v, want %v after sync_after", acc["name"], c["displayName"])
	}
	if n := w.crm.Len("accounts"); n != 2+3+3 {
		t.Errorf("CRM holds %d accounts; want the 5 it had plus 3 created, no duplicate", n)
	}
	runs, _ := w.e.State().Runs(t.Context(), 5)
	var coupled int64
	for _, r := range runs {
		coupled += r.Coupled
	}
	if coupled != 1 {
		t.Errorf("runs report %d coupled, want 1 (the other pass's identical match is not counted twice)", coupled)
	}
}

// deletedAccount syncs a one-way world, deletes one coupled account in the
// CRM, edits its customer so the next plan reads it, and returns both ids.
func deletedAccount(t *testing.T, w *world) (customerID, accountID string) {
	t.Helper()
	w.apply(w.plan(engine.PlanOptions{}).ID)
	c := w.erp.All("customers")[2]
	customerID = c["id"].(string)
	for _, a := range w.crm.All("accounts") {
		if a["accountnumber"] == c["number"] {
			accountID = a["accountid"].(string)
		}
	}
	if err := w.crm.Delete("accounts", accountID); err != nil {
		t.Fatal(err)
	}
	if err := w.erp.Patch("customers", customerID, connectors.Record{"city": "Touched"}); err != nil {
		t.Fatal(err)
	}
	return customerID, accountID
}

// worldWithMapping is newWorld with extra keys added to the test mapping.
func worldWithMapping(t *testing.T, n int, extra string) *world {
	t.Helper()
	mapping, err := os.ReadFile("testdata/customer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "customer.yaml"), string(mapping)+extra+"\n")
	return newWorldFrom(t, n, filepath.Join(dir, "customer.yaml"))
}

func TestDeletionConflictWithoutPolicyFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	deletedAccount(t, w)
	p := w.plan(engine.PlanOptions{})
	if c := counts(p); c[plan.Fail] != 1 || c[plan.Create] != 0 {
		t.Fatalf("counts = %v; want the deletion conflict failed, nothing created", c)
	}
	for _, op := range p.Mappings[0].Operations {
		if op.Kind == plan.Fail && !strings.Contains(op.Reason, "deletion conflict") {
			t.Errorf("reason = %q", op.Reason)
		}
	}
}

func TestDeletionConflictPolicies(t *testing.T) {
	t.Parallel()
	t.Run("restore", func(t *testing.T) {
		w := worldWithMapping(t, 5, "conflicts: { delete: restore }")
		customerID, accountID := deletedAccount(t, w)
		p := w.plan(engine.PlanOptions{})
		if c := counts(p); c[plan.Restore] != 1 {
			t.Fatalf("counts = %v; want one restore", c)
		}
		w.apply(p.ID)
		pairs, _ := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
		if pairs[customerID] == "" || pairs[customerID] == accountID {
			t.Fatalf("customer coupled to %q; want a new account", pairs[customerID])
		}
		if acc, ok := w.crm.Get("accounts", pairs[customerID]); !ok || acc["address1_city"] != "Touched" {
			t.Errorf("restored account = %v", acc)
		}
		if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
			t.Errorf("plan after the restore has changes: %v", counts(again))
		}
	})
	t.Run("remove_coupling", func(t *testing.T) {
		w := worldWithMapping(t, 5, "conflicts: { delete: remove_coupling }")
		customerID, _ := deletedAccount(t, w)
		p := w.plan(engine.PlanOptions{})
		if c := counts(p); c[plan.Uncouple] != 1 {
			t.Fatalf("counts = %v; want one uncouple", c)
		}
		res := w.apply(p.ID)
		if res.Runs[0].Uncoupled != 1 {
			t.Errorf("run = %+v; want 1 uncoupled", res.Runs[0])
		}
		pairs, _ := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
		if _, ok := pairs[customerID]; ok {
			t.Error("the coupling is still there")
		}
		if w.crm.Len("accounts") != 4 {
			t.Errorf("CRM holds %d accounts; remove_coupling must not recreate", w.crm.Len("accounts"))
		}
		// The customer is now uncoupled like any other: an incremental
		// plan leaves it (it did not change), and a full plan creates it
		// again, as the product's full synchronization does with a mapping
		// that syncs uncoupled records (docs/sync-semantics.md).
		if c := counts(w.plan(engine.PlanOptions{})); c[plan.Create] != 0 {
			t.Errorf("incremental plan after remove_coupling: %v; want no create", c)
		}
		full := w.plan(engine.PlanOptions{Full: true})
		if c := counts(full); c[plan.Create] != 1 || full.Mappings[0].Operations[0].SourceID != customerID {
			t.Errorf("full plan after remove_coupling: %v; want the uncoupled customer created again", c)
		}
	})
}

func TestDeletesPropagateOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, propagate := range []bool{false, true} {
		t.Run(fmt.Sprint("propagate_deletes=", propagate), func(t *testing.T) {
			w := worldWithMapping(t, 5, fmt.Sprintf("propagate_deletes: %t", propagate))
			w.apply(w.plan(engine.PlanOptions{}).ID)
			gone := w.erp.All("customers")[1]
			if err := w.erp.Delete("customers", gone["id"].(string)); err != nil {
				t.Fatal(err)
			}
			p := w.plan(engine.PlanOptions{Full: true})
			want := int64(0)
			if propagate {
				want = 1
			}
			if c := counts(p); c[plan.Delete] != want {
				t.Fatalf("counts = %v; want %d delete", c, want)
			}
			res := w.apply(p.ID)
			if res.Runs[0].Deleted != want || w.crm.Len("accounts") != 5-int(want) {
				t.Errorf("run = %+v, CRM holds %d accounts", res.Runs[0], w.crm.Len("accounts"))
			}
		})
	}
}

func TestSyncOneRecordWithPreference(t *testing.T) {
	t.Parallel()
	w := newBidiWorld(t, "")
	customerID, accountID := changeBothSides(t, w)
	// Another customer changes too; a per-record sync leaves it alone.
	other := w.erp.All("customers")[3]
	if err := w.erp.Patch("customers", other["id"].(string), connectors.Record{"city": "Not now"}); err != nil {
		t.Fatal(err)
	}
	p, err := w.e.Plan(t.Context(), engine.PlanOptions{Mappings: []string{"CUSTOMER"}, Record: accountID, Prefer: "integration"})
	if err != nil {
		t.Fatal(err)
	}
	w.apply(p.ID)
	if c, _ := w.erp.Get("customers", customerID); c["city"] != "From the CRM" {
		t.Errorf("customer city = %v; the integration side was preferred", c["city"])
	}
	for _, a := range w.crm.All("accounts") {
		if a["accountnumber"] == other["number"] && a["address1_city"] == "Not now" {
			t.Error("a per-record sync wrote another record")
		}
	}
	// The watermarks did not move: the next plan still sees the other change.
	next := w.plan(engine.PlanOptions{})
	if part(t, next, "to_integration").Counts[plan.Update] != 1 {
		t.Errorf("next plan = %v; want the other customer's change", part(t, next, "to_integration").Counts)
	}
	if _, err := w.e.Plan(t.Context(), engine.PlanOptions{Mappings: []string{"CUSTOMER"}, Record: "no-such-id"}); err == nil || !strings.Contains(err.Error(), "no coupled record") {
		t.Errorf("err = %v; want no coupled record", err)
	}
}
