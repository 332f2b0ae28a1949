package engine_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

// loseCreates handles every POST to set, then hangs up instead of
// answering: the create happened, and the client never learns it.
func loseCreates(h http.Handler, set string, lost *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/"+set) {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		lost.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err) // httptest servers can hijack
		}
		conn.Close()
	})
}

// TestLostCreateWithLookupByAlternateKeySettled: a contact created with
// its parent account bound by the account's alternate key, whose answer is
// lost, is recognised when read back although Dataverse (and the fake)
// return the account's GUID in _parentcustomerid_value: the lookup is left
// out of the comparison, and the contact's other values pick the one
// record. Before, the create was forgotten and made again by the next plan.
func TestLostCreateWithLookupByAlternateKeySettled(t *testing.T) {
	t.Parallel()
	erp, crm := fake.NewERP(), fake.NewCRM()
	past := time.Now().Add(-time.Hour)
	erp.SetClock(func() time.Time { return past })
	if err := fake.SeedCustomers(erp, 2); err != nil {
		t.Fatal(err)
	}
	c := fake.Customer(1)
	if _, err := erp.Put("contacts", map[string]any{"displayName": "Ann Contact", "customerId": c["id"]}); err != nil {
		t.Fatal(err)
	}
	erp.SetClock(time.Now)
	if err := crm.SetAlternateKeys("accounts", []string{"accountnumber"}); err != nil {
		t.Fatal(err)
	}
	var lost atomic.Int32
	dir := bcDataverseProject(t, erp, loseCreates(crm, "contacts", &lost), `,
    entities: { accounts: { alternate_key: [accountnumber] } }`)
	writeFile(t, filepath.Join(dir, "mappings", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountnumber, modified: modifiedon }
direction: to_integration
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
`)
	writeFile(t, filepath.Join(dir, "mappings", "contact.yaml"), `name: CONTACT
table: { connector: bc, entity: contacts, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: contacts, key: contactid, modified: modifiedon }
direction: to_integration
sync_only_coupled: false
fields:
  - { field: displayName, integration_field: lastname }
  - { field: customerId, integration_field: parentcustomerid, lookup: CUSTOMER }
`)
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	w := &world{t: t, erp: erp, crm: crm, dir: dir, e: e}
	res := w.apply(w.plan(engine.PlanOptions{}).ID)
	if lost.Load() != 1 {
		t.Fatalf("%d contact creates lost, want 1", lost.Load())
	}
	if len(res.Failures) != 0 {
		t.Errorf("apply failures: %v; want the lost create settled as happened", res.Failures)
	}
	w.apply(w.plan(engine.PlanOptions{}).ID)
	contacts := crm.All("contacts")
	if len(contacts) != 1 {
		t.Fatalf("%d contacts in the CRM, want 1: %v", len(contacts), contacts)
	}
	pairs, err := e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	if err != nil {
		t.Fatal(err)
	}
	acc := crm.All("accounts")
	var parent any
	for _, a := range acc {
		if a["accountnumber"] == pairs[c["id"].(string)] {
			parent = a["accountid"]
		}
	}
	if parent == nil || contacts[0]["_parentcustomerid_value"] != parent {
		t.Errorf("contact's parent = %v, want the account's primary key %v", contacts[0]["_parentcustomerid_value"], parent)
	}
}

// bcDataverseProject serves erp and crm (the fakes, or handlers around
// them) as Business Central's and Dataverse's APIs, and writes a project
// whose bc connector uses the company URL and whose dataverse connector
// binds lookups and does not retry, with crmExtra appended to its
// settings (", entities: …"). It returns the project's directory; the
// mappings go under its mappings/.
func bcDataverseProject(t *testing.T, erp, crm http.Handler, crmExtra string) string {
	t.Helper()
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "`+fake.BCCompanyURL(erpSrv.URL+"/api/v2.0")+`" }
  dataverse: { type: odata, base_url: "`+crmSrv.URL+`/api/data/v9.2", lookups: bind, max_retries: 0`+crmExtra+` }
mappings: ["mappings/*.yaml"]
`)
	return dir
}
