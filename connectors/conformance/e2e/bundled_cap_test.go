package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/conformance"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// TestBundledSetAgainstCAP runs the bundled bc-dataverse set, loaded as
// `coupler init --defaults bc-dataverse` writes it (defaults: bc-dataverse),
// with the Business Central side served by SAP CAP, a real OData v4 server
// modelled after BC's API v2.0 for every entity set the set reads or writes
// (testdata/servers/cap/db/bc.cds: each set only below companies({id}),
// relative context and next links, pages of 20, server-stamped ETags and
// If-Match required, BC's $filter refusals; seeded with the fake ERP's
// world of conformance.CAPSeedCustomers customers), given its documented
// company URL …/api/v2.0/companies({id}); the Dataverse side is the strict
// fake CRM, holding what a new organization holds, plus one account and
// its contact that BC does not have. validate --online must pass; the
// first sync must be one plan over all 14 mappings with no failure and one
// apply with no failed record, after which neither an incremental nor a
// full plan has anything to do.
//
// Every mapping of the set runs: none needs a Business Central behaviour
// that CAP cannot express. What CAP does not model, so that this test
// cannot catch coupler relying on it: a $batch may hold more than 100
// parts; enums are strings restricted to their members, not Edm enum
// types; each record also shows the composition's foreign key company_id;
// BC's business logic (number series, codes checked against their tables,
// posted invoices read-only) is absent; and the custom API pages and page
// extensions the mappings expect are simply there.
func TestBundledSetAgainstCAP(t *testing.T) {
	t.Parallel()
	company := conformance.StartCAPBusinessCentral(t)
	bc := &capClient{t: t, company: company}

	// The Dataverse side: what a new organization holds (users,
	// currencies, the options its choice columns ship with, a unit group).
	// SeedAll seeds the ERP it is given too; that one is thrown away, CAP
	// holding the same world.
	crm := fake.NewCRM()
	if err := fake.SeedAll(fake.NewERP(), crm, conformance.CAPSeedCustomers); err != nil {
		t.Fatal(err)
	}
	// One customer exists only in the CRM, with a contact: the same plan
	// creates both in CAP, the contact's customer lookup known after apply
	// of CUSTOMER's from_integration part.
	crmAccount, err := crm.Put("accounts", connectors.Record{
		"name": "Northwind Traders (from the CRM)", "accountnumber": "C90000", "customertypecode": 3, "statecode": 0,
		"address1_line1": "1 Harbor View", "address1_line2": "", "address1_city": "Seattle", "address1_stateorprovince": "WA",
		"address1_postalcode": "98101", "address1_country": "US", "telephone1": "+1 206 555 0190",
		"emailaddress1": "info@northwind.example.com", "websiteurl": "www.northwind.example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	crmContact, err := crm.Put("contacts", connectors.Record{
		"firstname": "Nora", "lastname": "Lindqvist", "emailaddress1": "nora.lindqvist@northwind.example.com",
		"jobtitle": "Buyer", "telephone1": "+1 206 555 0191", "address1_city": "Seattle", "address1_country": "US",
		"statecode": 0, "parentcustomerid_account@odata.bind": "/accounts(" + crmAccount + ")",
	})
	if err != nil {
		t.Fatal(err)
	}
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
	defer crmSrv.Close()

	dir := t.TempDir()
	project := fmt.Sprintf(`version: 1
connectors:
  # Business Central's documented company URL; writes in JSON $batch
  # requests, the format Business Central documents.
  bc: { type: odata, base_url: %q, batch_size: 20 }
  dataverse: { type: odata, base_url: %q, lookups: bind, batch_size: 100 }
defaults: bc-dataverse
`, company, crmSrv.URL+"/api/data/v9.2")
	if err := os.WriteFile(filepath.Join(dir, mappings.ProjectFile), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	e, _, err := engine.OpenProject(ctx, dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	// validate --online: every set and field the bundled mappings use is in
	// CAP's $metadata, read at the service root although base_url is the
	// company's, and every value written fits its type.
	online := e.CheckOnline(ctx)
	if err := online.Err(); err != nil {
		t.Fatalf("validate --online: %v", err)
	}

	// One plan over every mapping of the set, failing nothing: a new
	// user's first `coupler plan`, which reads everything (no watermark
	// yet).
	first := planAll(t, e, false)
	planned := map[string]bool{}
	for _, mp := range first.Mappings {
		planned[mp.Name] = true
		if n := mp.Counts[plan.Fail]; n > 0 {
			t.Errorf("first plan: %s %s: %d failing", mp.Name, mp.Direction, n)
			for _, op := range mp.Operations {
				if op.Kind == plan.Fail {
					t.Logf("  %s: %s", op.SourceID, op.Reason)
				}
			}
		}
	}
	bundled := bundledMappingNames(t, dir)
	for _, name := range bundled {
		if !planned[name] {
			t.Errorf("the first plan has no part for %s", name)
		}
	}
	if len(planned) != len(bundled) {
		t.Errorf("the first plan covers %d mappings, the bundled set has %d", len(planned), len(bundled))
	}

	// The CAP world's customer C00100 (Denmark, salesperson MH, DKK,
	// payment terms COD): its lookups all go through records the same plan
	// couples (MH, by e-mail) or creates (DKK, the COD option), so they
	// are known after apply, not failures.
	cust := bc.one("customers", "number eq 'C00100'")
	custOp := operation(first, "CUSTOMER", "to_integration", cust["id"].(string))
	if custOp == nil || custOp.Kind != plan.Create {
		t.Fatalf("first plan: no create of customer C00100 (%v)", custOp)
	}
	for _, lookup := range []string{"ownerid", "transactioncurrencyid"} {
		if after := changeTo(custOp, lookup); !strings.HasPrefix(after, `"\u0000known after apply`) {
			t.Errorf("first plan: customer C00100's %s is %s, want (known after apply)", lookup, after)
		}
	}
	// The other direction: the contact that exists only in the CRM points
	// at a customer that CUSTOMER's from_integration part of the same plan
	// creates in CAP.
	noraOp := operation(first, "CONTACT", "from_integration", crmContact)
	if noraOp == nil || noraOp.Kind != plan.Create {
		t.Fatalf("first plan: no create of the CRM's contact in CAP (%v)", noraOp)
	}
	if after := changeTo(noraOp, "customerId"); !strings.HasPrefix(after, `"\u0000known after apply`) {
		t.Errorf("first plan: the CRM contact's customerId is %s, want (known after apply)", after)
	}
	if t.Failed() {
		t.FailNow()
	}

	res, err := e.Apply(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures {
		t.Errorf("apply: %s %s: %s", f.Mapping, f.SourceID, f.Message)
	}
	var created int64
	for _, r := range res.Runs {
		t.Logf("apply %-18s %-16s %3d inserted, %3d coupled, %3d modified, %d failed", r.Mapping, r.Direction, r.Inserted, r.Coupled, r.Modified, r.Failed)
		created += r.Inserted
	}
	if created == 0 {
		t.Fatalf("apply created nothing: %+v", res.Runs)
	}

	// What Business Central assigned when coupler created a customer there
	// (its creditLimit of 0, a field that flows to the CRM only) is the one
	// thing the next plan writes: the CRM's account has no value yet.
	assigned := planAll(t, e, false)
	for _, mp := range assigned.Mappings {
		for _, k := range plan.Writes {
			if n := mp.Counts[k]; n > 0 && !(mp.Name == "CUSTOMER" && mp.Direction == "to_integration" && k == plan.Update && n == 1) {
				t.Errorf("plan after apply: %s %s would %s %d records, e.g. %+v", mp.Name, mp.Direction, k, n, firstOp(mp, k))
			}
		}
	}
	if to := assigned.Mappings[partIndex(t, assigned, "CUSTOMER", "to_integration")]; to.Counts[plan.Update] == 1 {
		if ch := to.Operations[0].Changes; len(ch) != 1 || ch[0].Field != "creditlimit" || string(ch[0].After) != "0" {
			t.Errorf("CUSTOMER to_integration after apply writes %+v; want only the creditlimit BC assigned", ch)
		}
	}
	if _, err := e.Apply(ctx, assigned.ID); err != nil {
		t.Fatal(err)
	}

	for _, full := range []bool{false, true} {
		next := planAll(t, e, full)
		for _, mp := range next.Mappings {
			for _, k := range plan.Writes {
				if mp.Counts[k] > 0 {
					t.Errorf("plan (full %v) after apply: %s %s would %s %d records, e.g. %+v", full, mp.Name, mp.Direction, k, mp.Counts[k], firstOp(mp, k))
				}
			}
			if n := mp.Counts[plan.Fail]; n > 0 {
				t.Errorf("plan (full %v) after apply: %s %s: %d failing", full, mp.Name, mp.Direction, n)
			}
		}
	}

	// An edit in CAP after the first sync is read incrementally, by CAP's
	// own stamp, and is the only change the next plan has.
	bc.patch("customers", cust["id"].(string), connectors.Record{"phoneNumber": "+45 33 55 0100"})
	edit := planAll(t, e, false)
	if got := edit.Totals(); got[plan.Update] != 1 || got[plan.Create]+got[plan.Couple]+got[plan.Fail] != 0 {
		t.Fatalf("plan after an edit in CAP: totals %v, want 1 update", got)
	}
	if op := operation(edit, "CUSTOMER", "to_integration", cust["id"].(string)); op == nil || op.Kind != plan.Update || changeTo(op, "telephone1") != `"+45 33 55 0100"` {
		t.Fatalf("plan after an edit in CAP: %+v, want C00100's telephone1 updated", op)
	}
	if res, err = e.Apply(ctx, edit.ID); err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures {
		t.Errorf("apply of the edit: %s %s: %s", f.Mapping, f.SourceID, f.Message)
	}
	if last := planAll(t, e, false); last.HasChanges() {
		t.Errorf("plan after the edit's apply has changes: %v", last.Totals())
	}

	// Spot checks. The account made from C00100, with its fields and the
	// lookups apply resolved.
	acc := one(t, crm, "accounts", func(r connectors.Record) bool { return r["accountnumber"] == "C00100" })
	for field, want := range map[string]any{
		"name": cust["displayName"], "address1_city": cust["city"], "address1_country": "DK",
		"emailaddress1": cust["email"], "customertypecode": json.Number("3"), "telephone1": "+45 33 55 0100",
		"paymenttermscode": json.Number("100000000"), // COD, as PAYMENT TERMS created it
	} {
		if fmt.Sprint(acc[field]) != fmt.Sprint(want) {
			t.Errorf("account C00100: %s = %v, want %v", field, acc[field], want)
		}
	}
	if got := crm.Options("account", "paymenttermscode")[100000000]; got != "COD" {
		t.Errorf("account.paymenttermscode option 100000000 is labelled %q, want COD", got)
	}
	mh := bc.one("salespeople", "code eq 'MH'")
	user := one(t, crm, "systemusers", func(r connectors.Record) bool {
		return strings.EqualFold(fmt.Sprint(r["internalemailaddress"]), fmt.Sprint(mh["email"]))
	})
	if acc["_ownerid_value"] != user["systemuserid"] {
		t.Errorf("account C00100: owner %v, want MH's user %v", acc["_ownerid_value"], user["systemuserid"])
	}
	dkk := one(t, crm, "transactioncurrencies", func(r connectors.Record) bool { return r["isocurrencycode"] == "DKK" })
	if acc["_transactioncurrencyid_value"] != dkk["transactioncurrencyid"] {
		t.Errorf("account C00100: currency %v, want the DKK that CURRENCY created, %v", acc["_transactioncurrencyid_value"], dkk["transactioncurrencyid"])
	}

	// A person of C00100 became a contact whose parent customer is that
	// account, bound as parentcustomerid_account.
	person := bc.one("contacts", fmt.Sprintf("customerId eq %s and type eq 'Person'", cust["id"]))
	contact := one(t, crm, "contacts", func(r connectors.Record) bool { return r["emailaddress1"] == person["email"] })
	if contact["_parentcustomerid_value"] != acc["accountid"] {
		t.Errorf("contact %v: parent customer %v, want account C00100 %v", person["displayName"], contact["_parentcustomerid_value"], acc["accountid"])
	}

	// CUSTOMER and CONTACT wrote to CAP: the CRM's account became a
	// customer, its contact a person contact of that customer.
	nw := bc.one("customers", "number eq 'C90000'")
	if nw["displayName"] != "Northwind Traders (from the CRM)" || nw["blocked"] != " " || nw["city"] != "Seattle" {
		t.Errorf("customer C90000 in CAP: %v", nw)
	}
	nora := bc.one("contacts", "email eq 'nora.lindqvist@northwind.example.com'")
	if nora["customerId"] != nw["id"] || nora["displayName"] != "Nora Lindqvist" || nora["type"] != "Person" {
		t.Errorf("contact Nora Lindqvist in CAP: %v, want of customer %v", nora, nw["id"])
	}

	// SALESPEOPLE wrote to CAP: a licensed user with no salesperson became
	// one, coded by its initials and the start of its id.
	nancy := one(t, crm, "systemusers", func(r connectors.Record) bool { return r["internalemailaddress"] == "nancy.davolio@cronus.example.com" })
	code := "ND-" + strings.ToUpper(nancy["systemuserid"].(string)[:4])
	if nd := bc.one("salespeople", "code eq '"+code+"'"); nd["email"] != "nancy.davolio@cronus.example.com" || nd["displayName"] != "Nancy Davolio" {
		t.Errorf("salesperson %s in CAP: %v", code, nd)
	}
}

// planAll plans every mapping and returns the plan with all its
// operations listed.
func planAll(t *testing.T, e *engine.Engine, full bool) *plan.Plan {
	t.Helper()
	p, err := e.Plan(t.Context(), engine.PlanOptions{Full: full})
	if err != nil {
		t.Fatal(err)
	}
	listed, err := e.State().LoadPlan(t.Context(), p.ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	return listed
}

// patch changes fields of the record of set with key in CAP's company, as
// a Business Central user would, unconditionally (If-Match: *).
func (c *capClient) patch(set, key string, fields connectors.Record) {
	c.t.Helper()
	body, err := json.Marshal(fields)
	if err != nil {
		c.t.Fatal(err)
	}
	u := c.company + "/" + set + "(" + key + ")"
	req, err := http.NewRequestWithContext(c.t.Context(), http.MethodPatch, u, strings.NewReader(string(body)))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("If-Match", "*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		c.t.Fatalf("PATCH %s: %s", u, resp.Status)
	}
}

// bundledMappingNames returns the names of the mappings of the project in
// dir, which must be the 14 of the bundled bc-dataverse set.
func bundledMappingNames(t *testing.T, dir string) []string {
	t.Helper()
	prog, diags := engine.Load(dir, mappings.LoadOptions{})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range prog.Project.Mappings {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if len(names) != 14 {
		t.Fatalf("defaults: bc-dataverse loads %d mappings, want 14: %v", len(names), names)
	}
	return names
}

// operation returns the operation of mapping m, direction dir, on the
// source record id, or nil.
func operation(p *plan.Plan, m, dir, id string) *plan.Operation {
	for _, mp := range p.Mappings {
		if mp.Name != m || mp.Direction != dir {
			continue
		}
		for i := range mp.Operations {
			if mp.Operations[i].SourceID == id {
				return &mp.Operations[i]
			}
		}
	}
	return nil
}

// changeTo returns the JSON value op writes into the field named field (or
// into its lookup binding), or "" when it writes none.
func changeTo(op *plan.Operation, field string) string {
	for _, c := range op.Changes {
		if c.Field == field || strings.HasPrefix(c.Field, field+"@") {
			return string(c.After)
		}
	}
	return ""
}

// firstOp returns the first listed operation of kind k, for a message.
func firstOp(mp *plan.MappingPlan, k plan.Kind) any {
	for _, op := range mp.Operations {
		if op.Kind == k {
			return op
		}
	}
	return nil
}

// one returns the one record of set in s that keep accepts.
func one(t *testing.T, s *fake.Server, set string, keep func(connectors.Record) bool) connectors.Record {
	t.Helper()
	var found []connectors.Record
	for _, r := range s.All(set) {
		if keep(r) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s match, want 1", len(found), set)
	}
	return found[0]
}

// capClient reads CAP's Business Central-shaped company directly.
type capClient struct {
	t       *testing.T
	company string
}

// one returns the first record of set below the company that filter
// selects.
func (c *capClient) one(set, filter string) connectors.Record {
	c.t.Helper()
	u := c.company + "/" + set + "?$top=1&$filter=" + url.PathEscape(filter)
	resp, err := http.Get(u)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Value []connectors.Record `json:"value"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %s, %v", u, resp.Status, err)
	}
	if len(body.Value) == 0 {
		c.t.Fatalf("GET %s: no record", u)
	}
	return body.Value[0]
}

// partIndex returns the index of the part of p for mapping and direction.
func partIndex(t *testing.T, p *plan.Plan, mapping, direction string) int {
	t.Helper()
	for i, mp := range p.Mappings {
		if mp.Name == mapping && mp.Direction == direction {
			return i
		}
	}
	t.Fatalf("plan %s has no %s %s part", p.ID, mapping, direction)
	return -1
}
