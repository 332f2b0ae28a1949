package engine_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors/fake"
	_ "github.com/couplerhq/coupler/connectors/rest"
	"github.com/couplerhq/coupler/connectors/rest/resttest"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// openWorld opens an engine on dir, with the fake ERP and CRM behind
// ${BC_URL} and ${DATAVERSE_URL} and extra variables from env.
func openWorld(t *testing.T, w *world, env map[string]string) {
	t.Helper()
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	e, diags, err := engine.OpenProject(t.Context(), w.dir, mappings.LoadOptions{Getenv: getenv}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	w.e = e
}

// seededERP returns a fake ERP with n customers stamped in the past.
func seededERP(t *testing.T, n int) *fake.Server {
	t.Helper()
	erp := fake.NewERP()
	stamp := time.Now().Add(-time.Duration(n+10) * time.Minute)
	erp.SetClock(func() time.Time { stamp = stamp.Add(time.Minute); return stamp })
	if err := fake.SeedCustomers(erp, n); err != nil {
		t.Fatal(err)
	}
	erp.SetClock(time.Now)
	return erp
}

// A delete rolled back with its change set (atomicity: batch) because
// another delete of the set found its record gone must not be taken for
// "gone already": its record still exists and must stay coupled, and the
// delete is proposed again. Before the fix the rolled-back delete wrapped
// the other delete's ErrNotFound, and the engine uncoupled it.
func TestRolledBackDeleteStaysCoupled(t *testing.T) {
	t.Parallel()
	w := &world{t: t, erp: seededERP(t, 5), crm: fake.NewCRM(), dir: t.TempDir()}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", w.erp))
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", w.crm))
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	writeFile(t, filepath.Join(w.dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "${BC_URL}", page_size: 40, max_retries: 3 }
  dataverse: { type: odata, base_url: "${DATAVERSE_URL}", page_size: 40, max_retries: 3, batch_size: 10, atomicity: batch }
mappings: ["mappings/*.yaml"]
`)
	mapping, err := os.ReadFile("testdata/customer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.dir, "mappings", "customer.yaml"), string(mapping)+"propagate_deletes: true\n")
	openWorld(t, w, map[string]string{"BC_URL": fake.BCCompanyURL(erpSrv.URL + "/api/v2.0"), "DATAVERSE_URL": crmSrv.URL + "/api/data/v9.2"})
	w.apply(w.plan(engine.PlanOptions{}).ID)

	cs := w.erp.All("customers")
	id0 := accountOf(w, cs[0]["number"])["accountid"].(string)
	id1 := accountOf(w, cs[1]["number"])["accountid"].(string)
	// Both customers are deleted in the ERP; account 0 was also deleted in
	// the CRM by hand, so its delete fails 404 and rolls back account 1's.
	for _, c := range cs[:2] {
		if err := w.erp.Delete("customers", c["id"].(string)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.crm.Delete("accounts", id0); err != nil {
		t.Fatal(err)
	}
	res := w.apply(w.plan(engine.PlanOptions{Full: true}).ID)
	msg := ""
	for _, f := range res.Failures {
		if f.DestID == id1 {
			msg = f.Message
		}
	}
	if !strings.HasPrefix(msg, state.TemporaryPrefix+"delete accounts("+id1+"): rolled back") {
		t.Errorf("the rolled-back delete failed with %q, want a temporary failure saying it was rolled back", msg)
	}

	if _, ok := w.crm.Get("accounts", id1); !ok {
		t.Fatalf("account %s was deleted although its change set failed", id1)
	}
	pairs, err := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	if err != nil {
		t.Fatal(err)
	}
	coupled := false
	for _, d := range pairs {
		coupled = coupled || d == id1
	}
	if !coupled {
		t.Fatalf("account %s was rolled back with its change set (it still exists) but was uncoupled as if deleted", id1)
	}
	// Account 0's delete is settled (gone: uncoupled); account 1's is
	// proposed again, not skipped, and now goes through alone.
	p := w.plan(engine.PlanOptions{Full: true})
	if c := counts(p); c[plan.Delete] != 1 || c[plan.Skip] != 0 {
		t.Fatalf("next plan: %v, want the rolled-back delete proposed again", c)
	}
	w.apply(p.ID)
	if _, ok := w.crm.Get("accounts", id1); ok {
		t.Errorf("account %s still exists after the retried delete", id1)
	}
}

// refusingREST is a REST API (resttest) that refuses, with 422, the
// creation of an account whose number is refused, and counts the list
// reads an apply makes.
type refusingREST struct {
	api     *resttest.Server
	refused string
	lists   atomic.Int32
	posts   atomic.Int32
}

func (s *refusingREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.Trim(r.URL.Path, "/") == "accounts" {
		s.lists.Add(1)
	}
	if r.Method == http.MethodPost {
		s.posts.Add(1)
		body, _ := io.ReadAll(r.Body)
		var rec map[string]any
		if json.Unmarshal(body, &rec) == nil && rec["number"] == s.refused {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":{"message":"number is reserved"}}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.api.ServeHTTP(w, r)
}

// A REST destination that refuses a record (422) fails that record for
// good: it is not called temporary, so after two failed runs it is skipped,
// and a refused create is not looked for by its values. Before rest.Error
// had HTTPStatus every REST refusal was a temporary failure, retried
// forever and read back after each attempt.
func TestRESTRefusalFailsTheRecord(t *testing.T) {
	t.Parallel()
	w := &world{t: t, erp: seededERP(t, 4), dir: t.TempDir()}
	bad := w.erp.All("customers")[2]
	api := &refusingREST{api: resttest.New("accounts"), refused: bad["number"].(string)}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", w.erp))
	crmSrv := httptest.NewServer(api)
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	writeFile(t, filepath.Join(w.dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "${BC_URL}", page_size: 40, max_retries: 3 }
  crm:
    type: rest
    base_url: "${CRM_URL}"
    max_retries: 3
    entities:
      accounts:
        records: data
        record: data
        key: id
        etag: version
        paging: { style: cursor, next: meta.next_cursor, param: cursor, size_param: limit }
mappings: ["mappings/*.yaml"]
`)
	writeFile(t, filepath.Join(w.dir, "mappings", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: crm, entity: accounts, key: id }
direction: to_integration
sync_only_coupled: false
fields:
  - { field: number, integration_field: number }
  - { field: displayName, integration_field: name }
`)
	openWorld(t, w, map[string]string{"BC_URL": fake.BCCompanyURL(erpSrv.URL + "/api/v2.0"), "CRM_URL": crmSrv.URL})

	for round := 1; round <= 2; round++ {
		p := w.plan(engine.PlanOptions{Full: true})
		lists := api.lists.Load()
		res, err := w.e.Apply(t.Context(), p.ID)
		if err != nil {
			t.Fatalf("round %d: apply: %v", round, err)
		}
		if n := api.lists.Load() - lists; n != 0 {
			t.Errorf("round %d: apply read the accounts %d times: a refused create was looked for by its values", round, n)
		}
		t.Logf("round %d: %+v", round, res)
	}
	if n := api.api.Len("accounts"); n != 3 {
		t.Fatalf("%d accounts, want the 3 that were not refused", n)
	}
	p := w.plan(engine.PlanOptions{Full: true})
	var op plan.Operation
	for _, o := range p.Mappings[0].Operations {
		if o.SourceID == bad["id"] {
			op = o
		}
	}
	if op.Kind != plan.Skipped || !strings.Contains(op.Reason, "skipped: failed 2 runs in a row") {
		t.Fatalf("third plan: %+v; want the refused record skipped", op)
	}
	posts := api.posts.Load()
	w.apply(p.ID)
	if api.posts.Load() != posts {
		t.Errorf("the skipped record was sent again")
	}
}
