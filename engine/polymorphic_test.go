package engine_test

import (
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

// customerWorld is a fake Business Central with one customer and one
// person contact of it, a strict fake Dataverse, and a project syncing
// customers to accounts and contacts both ways, the contact's customer
// through the Customer (multi-table) lookup parentcustomerid.
func customerWorld(t *testing.T) (*world, connectors.Record) {
	t.Helper()
	erp, crm := fake.NewERP(), fake.NewCRM()
	past := time.Now().Add(-time.Hour)
	erp.SetClock(func() time.Time { return past })
	if err := fake.SeedCustomers(erp, 1); err != nil {
		t.Fatal(err)
	}
	c := fake.Customer(0)
	if _, err := erp.Put("contacts", map[string]any{"displayName": "Ann Contact", "customerId": c["id"]}); err != nil {
		t.Fatal(err)
	}
	erp.SetClock(time.Now)
	dir := bcDataverseProject(t, erp, crm, "")
	writeFile(t, filepath.Join(dir, "mappings", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: to_integration
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
`)
	writeFile(t, filepath.Join(dir, "mappings", "contact.yaml"), `name: CONTACT
table: { connector: bc, entity: contacts, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: contacts, key: contactid, modified: modifiedon }
direction: bidirectional
depends_on: [CUSTOMER]
sync_only_coupled: false
conflicts: { update: send_to_integration }
fields:
  - { field: displayName, integration_field: lastname }
  - { field: customerId, integration_field: parentcustomerid, lookup: CUSTOMER }
`)
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	return &world{t: t, erp: erp, crm: crm, dir: dir, e: e}, c
}

// mappingPart returns the part of p for mapping and direction.
func mappingPart(t *testing.T, p *plan.Plan, mapping, direction string) *plan.MappingPlan {
	t.Helper()
	for _, m := range p.Mappings {
		if m.Name == mapping && m.Direction == direction {
			return m
		}
	}
	t.Fatalf("plan %s has no %s %s", p.ID, mapping, direction)
	return nil
}

// TestContactCreatedWithItsParentAccount: a BC contact of a customer is
// created in Dataverse with its parent customer, the customer's account,
// bound through parentcustomerid_account (the strict fake, like Dataverse,
// refuses parentcustomerid@odata.bind, which failed every CONTACT create
// before); read back, it is what was written, and the next plan is empty.
func TestContactCreatedWithItsParentAccount(t *testing.T) {
	t.Parallel()
	w, c := customerWorld(t)
	res := w.apply(w.plan(engine.PlanOptions{}).ID)
	if len(res.Failures) != 0 {
		t.Fatalf("apply failures: %v", res.Failures)
	}
	accounts, contacts := w.crm.All("accounts"), w.crm.All("contacts")
	if len(accounts) != 1 || len(contacts) != 1 {
		t.Fatalf("%d accounts and %d contacts in the CRM, want 1 and 1", len(accounts), len(contacts))
	}
	if accounts[0]["accountnumber"] != c["number"] || contacts[0]["_parentcustomerid_value"] != accounts[0]["accountid"] {
		t.Fatalf("contact %v, want its parent customer the account %v", contacts[0], accounts[0])
	}
	next := w.plan(engine.PlanOptions{})
	for _, m := range next.Mappings {
		if m.Writes() != 0 || m.Counts[plan.Fail] != 0 || m.Counts[plan.Conflict] != 0 {
			t.Errorf("next plan, %s %s: %v, want nothing to do", m.Name, m.Direction, m.Counts)
		}
	}
}

// TestContactWhoseParentIsAContact: a Dataverse contact whose parent
// customer is a contact, not an account, is not translated through
// CUSTOMER's couplings, which couple accounts, even when that contact's
// GUID is one of a coupled account's: the lookup's lookuplogicalname
// annotation says it is a contact, and the record fails saying so.
func TestContactWhoseParentIsAContact(t *testing.T) {
	t.Parallel()
	w, _ := customerWorld(t)
	if res := w.apply(w.plan(engine.PlanOptions{}).ID); len(res.Failures) != 0 {
		t.Fatalf("apply failures: %v", res.Failures)
	}
	acc := w.crm.All("accounts")[0]["accountid"].(string)
	// A contact whose GUID is the account's, as another table may have.
	if _, err := w.crm.Put("contacts", connectors.Record{"contactid": acc, "lastname": "Boss",
		"parentcustomerid_account@odata.bind": "/accounts(" + acc + ")"}); err != nil {
		t.Fatal(err)
	}
	kid, err := w.crm.Put("contacts", connectors.Record{"lastname": "Kid", "parentcustomerid_contact@odata.bind": "/contacts(" + acc + ")"})
	if err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	from := mappingPart(t, p, "CONTACT", string(mappings.FromIntegration))
	var kidOp, bossOp *plan.Operation
	for i, op := range from.Operations {
		switch op.SourceID {
		case kid:
			kidOp = &from.Operations[i]
		case acc:
			bossOp = &from.Operations[i]
		}
	}
	if bossOp == nil || bossOp.Kind != plan.Create {
		t.Errorf("the contact of the account: %+v, want it created", bossOp)
	}
	if kidOp == nil || kidOp.Kind != plan.Fail || !strings.Contains(kidOp.Reason, "parentcustomerid points to a record of contacts, not of accounts") {
		t.Fatalf("the contact of a contact: %+v, want it failed as pointing to a contact", kidOp)
	}
}
