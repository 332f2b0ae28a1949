package engine_test

// Regression tests for the findings of a review of the sync semantics: each
// reproduced a lost edit, an overwrite or a wrong result before its fix.

import (
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

func accountOf(w *world, number any) connectors.Record {
	for _, a := range w.crm.All("accounts") {
		if a["accountnumber"] == number {
			return a
		}
	}
	return nil
}

// R2A: pass 1 (to_integration) update fails as stale; pass 2 found the
// account unchanged and MarkUnchangedSynced records the customer's current
// ETag as synced, so the ERP edit is forgotten and later reverted.
func TestRegressionFailedPass1EditForgottenByPass2Mark(t *testing.T) {
	t.Parallel()
	w := newBidiWorld(t, "")
	w.apply(w.plan(engine.PlanOptions{}).ID)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	c := w.erp.All("customers")[0]
	id := c["id"].(string)
	acc := accountOf(w, c["number"])
	if err := w.erp.Patch("customers", id, connectors.Record{"city": "ERP edit"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{Full: true})
	t.Logf("plan 1: to %v from %v", part(t, p, "to_integration").Counts, part(t, p, "from_integration").Counts)
	// Someone edits the account between plan and apply: pass 1's update is stale.
	if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"name": "CRM edit"}); err != nil {
		t.Fatal(err)
	}
	res, err := w.e.Apply(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply 1 runs: %+v failures %+v", res.Runs, res.Failures)
	p2 := w.plan(engine.PlanOptions{})
	t.Logf("plan 2: to %v from %v", part(t, p2, "to_integration").Counts, part(t, p2, "from_integration").Counts)
	w.apply(p2.ID)
	got, _ := w.erp.Get("customers", id)
	a2, _ := w.crm.Get("accounts", acc["accountid"].(string))
	t.Logf("customer city %v name %v; account city %v name %v", got["city"], got["displayName"], a2["address1_city"], a2["name"])
	if got["city"] != "ERP edit" && a2["address1_city"] != "ERP edit" {
		t.Errorf("BUG: the ERP edit (city) is lost on both sides: customer %v, account %v", got["city"], a2["address1_city"])
	}
}

// R2B: pass 1 found the customer unchanged and marks the account's current
// ETag as synced, while pass 2's update of that account's change fails: the
// CRM edit is forgotten.
func TestRegressionFailedPass2EditForgottenByPass1Mark(t *testing.T) {
	t.Parallel()
	w := newBidiWorld(t, "")
	w.apply(w.plan(engine.PlanOptions{}).ID)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	c := w.erp.All("customers")[0]
	id := c["id"].(string)
	acc := accountOf(w, c["number"])
	if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"address1_city": "CRM edit"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{Full: true})
	t.Logf("plan 1: to %v from %v", part(t, p, "to_integration").Counts, part(t, p, "from_integration").Counts)
	// Someone edits the customer between plan and apply: pass 2's update is stale.
	if err := w.erp.Patch("customers", id, connectors.Record{"displayName": "ERP edit"}); err != nil {
		t.Fatal(err)
	}
	res, err := w.e.Apply(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply 1 failures %+v", res.Failures)
	p2 := w.plan(engine.PlanOptions{})
	t.Logf("plan 2: to %v from %v", part(t, p2, "to_integration").Counts, part(t, p2, "from_integration").Counts)
	w.apply(p2.ID)
	got, _ := w.erp.Get("customers", id)
	a2, _ := w.crm.Get("accounts", acc["accountid"].(string))
	t.Logf("customer city %v name %v; account city %v name %v", got["city"], got["displayName"], a2["address1_city"], a2["name"])
	if got["city"] != "CRM edit" && a2["address1_city"] != "CRM edit" {
		t.Errorf("BUG: the CRM edit (city) is lost on both sides: customer %v, account %v", got["city"], a2["address1_city"])
	}
}

var _ = plan.Update

// R2C: a source record outside the filter still claims its match, so the
// one record in the filter that matches fails "2 records match the same".
func TestRegressionOutOfFilterSourceClaimsMatch(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 3, "match:\n  fields: [ { field: displayName, integration_field: name } ]")
	w.apply(w.plan(engine.PlanOptions{}).ID)
	if _, err := w.crm.Put("accounts", map[string]any{"accountnumber": "X1", "name": "acme co", "statecode": 0, "customertypecode": 3}); err != nil {
		t.Fatal(err)
	}
	a := fake.Customer(50)
	a["id"], a["number"], a["displayName"] = "", "C99990", "acme co"
	b := fake.Customer(51)
	b["id"], b["number"], b["displayName"], b["blocked"] = "", "C99991", "acme co", "All"
	for _, r := range []connectors.Record{a, b} {
		if _, err := w.erp.Put("customers", r); err != nil {
			t.Fatal(err)
		}
	}
	p := w.plan(engine.PlanOptions{})
	for _, op := range p.Mappings[0].Operations {
		t.Logf("%s %s -> %s: %s", op.Kind, op.SourceID, op.DestID, op.Reason)
	}
	if c := counts(p); c[plan.Couple] != 1 {
		t.Errorf("BUG: counts %v; want the one customer in the filter coupled", c)
	}
}

// R2D: an incremental plan fetches match candidates by the lower-cased
// value; a case-sensitive server finds none, and create_if_no_match makes a
// duplicate.
func TestRegressionIncrementalMatchCandidatesLowerCased(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 3, "match:\n  fields: [ { field: number, integration_field: accountnumber } ]\n  create_if_no_match: true")
	w.apply(w.plan(engine.PlanOptions{}).ID)
	if _, err := w.crm.Put("accounts", map[string]any{"accountnumber": "C99990", "name": "pre-existing", "statecode": 0, "customertypecode": 3}); err != nil {
		t.Fatal(err)
	}
	a := fake.Customer(50)
	a["id"], a["number"] = "", "C99990"
	if _, err := w.erp.Put("customers", a); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	t.Logf("incremental: %v", counts(p))
	full := w.plan(engine.PlanOptions{Full: true})
	t.Logf("full: %v", counts(full))
	if counts(p)[plan.Couple] != 1 {
		t.Errorf("BUG: incremental plan %v (full plan %v); want a couple, not a duplicate create", counts(p), counts(full))
	}
}

// R2E: with two match groups, an incremental plan stops fetching candidates
// when the first group's field is blank in every uncoupled source record.
func TestRegressionMatchCandidatesStopAtBlankFirstGroup(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 3, `match:
  fields:
    - { field: email, integration_field: emailaddress1, priority: 1 }
    - { field: number, integration_field: accountnumber, priority: 2 }
  create_if_no_match: true`)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	if _, err := w.crm.Put("accounts", map[string]any{"accountnumber": "c99990", "name": "pre-existing", "statecode": 0, "customertypecode": 3}); err != nil {
		t.Fatal(err)
	}
	a := fake.Customer(50)
	a["id"], a["number"], a["email"] = "", "c99990", ""
	if _, err := w.erp.Put("customers", a); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	full := w.plan(engine.PlanOptions{Full: true})
	if counts(p)[plan.Couple] != 1 {
		t.Errorf("BUG: incremental plan %v (full plan %v); want a couple on the second group", counts(p), counts(full))
	}
}

const r2MatchBidi = `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: bidirectional
sync_only_coupled: true
match:
  fields: [ { field: number, integration_field: accountnumber } ]
  sync_after: true
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name, to_integration: upper(value) }
  - { field: city, integration_field: address1_city }
`

// R2F: both passes match the same pair; the second pass's "already coupled"
// result goes through the synced UPDATE and puts back the account's ETag as
// read before pass 1's sync_after write (and nulls the table marks), so
// what coupler wrote comes back as a CRM change.
func TestRegressionAlreadyCoupledResetsMarks(t *testing.T) {
	t.Parallel()
	w := newBidiWorldWith(t, r2MatchBidi)
	c := fake.Customer(0)
	if _, err := w.crm.Put("accounts", map[string]any{"accountnumber": c["number"], "name": "Old name", "address1_city": "Old city"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	t.Logf("plan 1: to %v from %v", part(t, p, "to_integration").Counts, part(t, p, "from_integration").Counts)
	w.apply(p.ID)
	acc := accountOf(w, c["number"])
	t.Logf("account after apply: name %v city %v", acc["name"], acc["address1_city"])
	p2 := w.plan(engine.PlanOptions{})
	to, from := part(t, p2, "to_integration"), part(t, p2, "from_integration")
	t.Logf("plan 2: to %v from %v", to.Counts, from.Counts)
	for _, op := range from.Operations {
		for _, ch := range op.Changes {
			t.Logf("  from %s %s: %s %s -> %s", op.Kind, op.SourceID, ch.Field, ch.Before, ch.After)
		}
	}
	if p2.HasChanges() {
		t.Errorf("BUG: the plan after coupling echoes coupler's own write back: from %v", from.Counts)
	}
}

// R2G: a lookup to a record whose coupling the same plan restores translates
// to the deleted record's id (the old coupling), not "known after apply".
func TestRegressionLookupToRestoredRecordUsesDeletedID(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 3, `conflicts: { delete: restore }
---
name: CONTACT
table: { connector: bc, entity: contacts, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: contacts, key: contactid, modified: modifiedon }
sync_only_coupled: false
fields:
  - { field: displayName, integration_field: lastname }
  - { field: customerId, integration_field: parentcustomerid, lookup: CUSTOMER }`)
	c1, c2 := fake.Customer(1), fake.Customer(2)
	contactID, err := w.erp.Put("contacts", map[string]any{"displayName": "Ann Contact", "customerId": c2["id"]})
	if err != nil {
		t.Fatal(err)
	}
	w.apply(w.plan(engine.PlanOptions{}).ID)
	old := accountOf(w, c1["number"])["accountid"].(string)
	if err := w.crm.Delete("accounts", old); err != nil {
		t.Fatal(err)
	}
	if err := w.erp.Patch("customers", c1["id"].(string), connectors.Record{"city": "Touched"}); err != nil {
		t.Fatal(err)
	}
	if err := w.erp.Patch("contacts", contactID, connectors.Record{"customerId": c1["id"]}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	for _, m := range p.Mappings {
		t.Logf("%s: %v", m.Name, m.Counts)
		for _, op := range m.Operations {
			for _, ch := range op.Changes {
				t.Logf("  %s %s: %s %q -> %q", op.Kind, op.SourceID, ch.Field, ch.Before, ch.After)
			}
		}
	}
	res := w.apply(p.ID)
	t.Logf("failures: %+v", res.Failures)
	pairs, _ := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	got := w.crm.All("contacts")
	t.Logf("old account %s, restored account %s, contact points at %v", old, pairs[c1["id"].(string)], got[0]["parentcustomerid"])
	if got[0]["parentcustomerid"] != pairs[c1["id"].(string)] {
		t.Errorf("BUG: contact's parentcustomerid = %v (the deleted account %s); want the restored account %s", got[0]["parentcustomerid"], old, pairs[c1["id"].(string)])
	}
	if next := w.plan(engine.PlanOptions{}); next.HasChanges() {
		t.Logf("next plan fixes it")
	} else {
		t.Logf("next incremental plan has no changes: the dangling reference stays")
	}
}

// R2H: a couple op whose destination got coupled to another record after the
// plan: apply checks only the source side, writes sync_after values over the
// other record's account, then the coupling insert conflicts.
func TestRegressionCoupleToDestinationCoupledMeanwhile(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 2, "match:\n  fields: [ { field: number, integration_field: accountnumber } ]\n  sync_after: true")
	c := fake.Customer(0)
	dest, err := w.crm.Put("accounts", map[string]any{"accountnumber": c["number"], "name": "Belongs to T-OTHER", "statecode": 0, "customertypecode": 3})
	if err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	t.Logf("plan: %v", counts(p))
	if err := w.e.State().CoupleOne(t.Context(), "CUSTOMER", "T-OTHER", dest); err != nil {
		t.Fatal(err)
	}
	res, err := w.e.Apply(t.Context(), p.ID)
	t.Logf("apply err %v; failures %+v", err, res.Failures)
	acc, _ := w.crm.Get("accounts", dest)
	pairs, _ := w.e.State().CouplingMap(t.Context(), "CUSTOMER", false)
	t.Logf("account name now %v; coupled to %v", acc["name"], pairs[dest])
	fs, _ := w.e.State().Failures(t.Context(), "CUSTOMER", 10)
	runs, _ := w.e.State().Runs(t.Context(), 1)
	t.Logf("state failures %+v; run %+v", fs, runs)
	if acc["name"] != "Belongs to T-OTHER" {
		t.Errorf("BUG: the account coupled to T-OTHER was overwritten with customer 0's values (name %v)", acc["name"])
	}
}

// R2I: retry of a record that fails in the from_integration pass also moves
// the table side's watermark back, to a time taken from the CRM's clock.
func TestRegressionRetryLowersBothSides(t *testing.T) {
	t.Parallel()
	w := newBidiWorldWith(t, `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: bidirectional
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber }
  - { field: city, integration_field: address1_city, from_integration: 'value == "Boom" ? int("x") : value' }
`)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	acc := w.crm.All("accounts")[0]
	past := time.Now().Add(-2 * time.Hour)
	w.crm.SetClock(func() time.Time { return past })
	if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"address1_city": "Boom"}); err != nil {
		t.Fatal(err)
	}
	w.crm.SetClock(time.Now)
	for range 3 {
		w.apply(w.plan(engine.PlanOptions{Full: true}).ID)
	}
	before, _, _ := w.e.State().Watermark(t.Context(), "CUSTOMER", plan.SideTable)
	n, err := w.e.Retry(t.Context(), "CUSTOMER", nil)
	after, _, _ := w.e.State().Watermark(t.Context(), "CUSTOMER", plan.SideTable)
	t.Logf("retry %d %v; table watermark %s -> %s", n, err, before, after)
	if after.Before(before) {
		t.Errorf("BUG: retrying a from_integration failure moved the table watermark back by %s", before.Sub(after))
	}
}

// R2J: propagate_deletes deletes a coupled destination record that is outside
// the destination filter (never synchronized, per the filter rule).
func TestRegressionPropagatedDeleteIgnoresDestinationFilter(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 5, "propagate_deletes: true")
	w.apply(w.plan(engine.PlanOptions{}).ID)
	c := w.erp.All("customers")[1]
	acc := accountOf(w, c["number"])
	if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"customertypecode": 11}); err != nil {
		t.Fatal(err)
	}
	if err := w.erp.Delete("customers", c["id"].(string)); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{Full: true})
	t.Logf("plan %v", counts(p))
	w.apply(p.ID)
	if _, ok := w.crm.Get("accounts", acc["accountid"].(string)); !ok {
		t.Errorf("BUG?: the account outside the integration filter was deleted")
	}
}

// R2K: bidirectional, two match groups: pass 1 couples S0 to D1 (first
// group), pass 2 couples D2 to S0 (second group). Apply checks only the
// source side, so pass 2's sync_after write overwrites S0 with D2's values.
func TestRegressionBidiPassesCoupleDifferentPairs(t *testing.T) {
	t.Parallel()
	w := newBidiWorldWith(t, `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: bidirectional
sync_only_coupled: true
match:
  fields:
    - { field: number, integration_field: accountnumber, priority: 1 }
    - { field: displayName, integration_field: name, priority: 2 }
  sync_after: true
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
  - { field: city, integration_field: address1_city }
`)
	past := time.Now().Add(-time.Hour)
	w.crm.SetClock(func() time.Time { return past })
	older := past.Add(-10 * time.Minute)
	w.crm.SetClock(func() time.Time { return older })
	d1, _ := w.crm.Put("accounts", map[string]any{"accountnumber": "c99999", "name": "d1", "address1_city": "D1 city"})
	w.crm.SetClock(func() time.Time { return past })
	d2, _ := w.crm.Put("accounts", map[string]any{"accountnumber": "zzz", "name": "d2", "address1_city": "D2 city"})
	w.crm.SetClock(time.Now)
	p1 := w.plan(engine.PlanOptions{})
	t.Logf("plan 1: to %v from %v", part(t, p1, "to_integration").Counts, part(t, p1, "from_integration").Counts)
	w.apply(p1.ID)
	s0 := w.erp.All("customers")[0]
	if err := w.erp.Patch("customers", s0["id"].(string), connectors.Record{"number": "c99999", "displayName": "zed corp"}); err != nil {
		t.Fatal(err)
	}
	if err := w.crm.Patch("accounts", d2, connectors.Record{"name": "zed corp"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	for _, m := range p.Mappings {
		for _, op := range m.Operations {
			t.Logf("%s %s %s -> %s: %s", m.Direction, op.Kind, op.SourceID, op.DestID, op.Reason)
		}
	}
	res, err := w.e.Apply(t.Context(), p.ID)
	t.Logf("apply err %v failures %+v", err, res.Failures)
	got, _ := w.erp.Get("customers", s0["id"].(string))
	pairs, _ := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	t.Logf("S0 now number %v name %v city %v; coupled to %v (d1 %s, d2 %s)", got["number"], got["displayName"], got["city"], pairs[s0["id"].(string)], d1, d2)
	if got["number"] != "c99999" {
		t.Errorf("BUG: S0, coupled to D1, was overwritten with D2's values (number %v)", got["number"])
	}
}
