package engine_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
)

// salespeopleAndCustomers is a project in the shape of the bundled set:
// SALESPEOPLE runs from the integration (users -> salespeople, matched by
// e-mail), and CUSTOMER, the other way, looks its salesperson code up
// through SALESPEOPLE's couplings.
const salespeopleAndCustomers = `name: SALESPEOPLE
table: { connector: bc, entity: salespeople, key: code, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: systemusers, key: systemuserid, modified: modifiedon }
direction: from_integration
sync_only_coupled: false
match:
  fields: [ { field: email, integration_field: internalemailaddress, case_sensitive: false } ]
  create_if_no_match: true
  sync_after: true
fields:
  - { field: code, from_integration: 'upper(substr(record.firstname, 1, 1) + substr(record.lastname, 1, 1))' }
  - { field: displayName, integration_field: fullname }
  - { field: email, integration_field: internalemailaddress }
---
name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: to_integration
sync_only_coupled: false
fields:
  - { field: displayName, integration_field: name }
  - { field: salespersonCode, integration_field: ownerid, lookup: SALESPEOPLE }
`

// TestFirstSyncLookupThroughReversePass: in the first plan, a lookup
// through a mapping whose records the same plan couples in its other
// direction (BC salesperson KH matched to a Dataverse user, from the
// integration) is "known after apply", not a failure; one apply puts the
// user's id in the account, and the next plan has nothing to do.
//
// Before the fix the plan failed the customer with `no SALESPEOPLE coupling
// for table id "KH"`, so a first sync of the bundled set took two rounds.
func TestFirstSyncLookupThroughReversePass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "customer.yaml"), salespeopleAndCustomers)
	w := newWorldFrom(t, 0, filepath.Join(dir, "customer.yaml"))
	if _, err := w.erp.Put("salespeople", map[string]any{"code": "KH", "displayName": "Katherine Hull", "email": "KH@cronus.example.com"}); err != nil {
		t.Fatal(err)
	}
	userID, err := w.crm.Put("systemusers", map[string]any{"firstname": "Katherine", "lastname": "Hull",
		"fullname": "Katherine Hull", "internalemailaddress": "kh@cronus.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	c := fake.Customer(0)
	c["salespersonCode"] = "KH"
	if _, err := w.erp.Put("customers", c); err != nil {
		t.Fatal(err)
	}

	p := w.plan(engine.PlanOptions{Full: true})
	var text bytes.Buffer
	if err := report.PlanText(&text, p); err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Mappings {
		if m.Counts[plan.Fail] != 0 {
			t.Errorf("%s %s: %d failed; want none\n%s", m.Name, m.Direction, m.Counts[plan.Fail], text.String())
		}
	}
	if !strings.Contains(text.String(), "ownerid  (known after apply)") {
		t.Errorf("the plan does not show the owner as known after apply:\n%s", text.String())
	}

	res := w.apply(p.ID)
	for _, f := range res.Failures {
		t.Errorf("apply: %s %s failed: %s", f.Mapping, f.SourceID, f.Message)
	}
	accounts := w.crm.All("accounts")
	if len(accounts) != 1 || accounts[0]["ownerid"] != userID {
		t.Errorf("accounts = %v; want one, owned by user %s", accounts, userID)
	}
	next := w.plan(engine.PlanOptions{Full: true})
	for _, m := range next.Mappings {
		for _, k := range []plan.Kind{plan.Create, plan.Update, plan.Couple, plan.Fail} {
			if m.Counts[k] != 0 {
				t.Errorf("next plan, %s %s: %d %s; want none", m.Name, m.Direction, m.Counts[k], k)
			}
		}
	}
}

// TestIncrementalMatchIgnoresCaseWhateverTheCollation: an incremental plan
// looks up match candidates of a match that ignores case. The strict
// Dataverse fake compares text case-sensitively (as a server with a binary
// collation does) and refuses tolower (as Dataverse does), so the plan
// reads the destination widely and compares itself: the account spelt in
// lower case is coupled, not duplicated.
//
// Before the fix the candidates were fetched with eq 'Buyer@…', the server's
// collation missed buyer@…, and the plan created a second account.
func TestIncrementalMatchIgnoresCaseWhateverTheCollation(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 2, `match:
  fields: [ { field: email, integration_field: emailaddress1, case_sensitive: false } ]
  create_if_no_match: true`)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	c := fake.Customer(7)
	c["email"] = "Buyer@Example.com"
	if _, err := w.erp.Put("customers", c); err != nil {
		t.Fatal(err)
	}
	if _, err := w.crm.Put("accounts", map[string]any{"name": "Already there", "emailaddress1": "buyer@example.com",
		"statecode": 0, "customertypecode": 3}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	if p.Full {
		t.Fatal("the second plan was full; want incremental")
	}
	if got := counts(p); got[plan.Couple] != 1 || got[plan.Create] != 0 {
		t.Errorf("incremental plan: %v; want the new customer coupled to the account spelt in lower case", got)
	}
}
