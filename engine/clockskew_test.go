package engine_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/connectors/rest/resttest"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// TestSourceClockBehindMissesNoEdit: a source whose clock runs 20 s behind
// coupler's, listing in id order (as many SaaS APIs do), is edited while a
// plan pages through it: a record on the page already read, then, 5 s
// later, one on a page still to come. The watermark must stay at or before
// the first edit, so the next incremental plan reads it.
//
// Before the fix the watermark was capped at coupler's clock, 20 s ahead of
// every stamp, so it took the later edit's stamp and the earlier edit was
// never read again: the next plan said unchanged.
func TestSourceClockBehindMissesNoEdit(t *testing.T) {
	t.Parallel()
	erp := fake.NewERP()
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	defer erpSrv.Close()
	api := resttest.New("contacts")
	var ahead atomic.Int64 // how far the source's clock has been moved on
	api.SetClock(func() time.Time {
		return time.Now().Add(-20*time.Second + time.Duration(ahead.Load()))
	})
	var armed atomic.Bool
	var apiURL string
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.ServeHTTP(w, r)
		if r.Method == http.MethodGet && r.URL.Query().Get("cursor") == "" && armed.CompareAndSwap(true, false) {
			// The first page is answered: edit a record it held, then one
			// on a later page, in a later second.
			mustDo(t, http.MethodPatch, apiURL+"/contacts/r1", `{"name":"Ada 3"}`)
			ahead.Add(int64(5 * time.Second))
			mustDo(t, http.MethodPatch, apiURL+"/contacts/r3", `{"name":"Edsger 3"}`)
		}
	}))
	defer apiSrv.Close()
	apiURL = apiSrv.URL
	for _, name := range []string{"Ada", "Grace", "Edsger"} {
		mustDo(t, http.MethodPost, apiSrv.URL+"/contacts", `{"name":"`+name+`"}`)
	}
	dir := restContactsProject(t, fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), apiSrv.URL, 1, "")
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("%v\n%v", err, diags)
	}
	defer e.Close()
	round := func(what string) *plan.MappingPlan {
		t.Helper()
		p, err := e.Plan(t.Context(), engine.PlanOptions{})
		if err != nil {
			t.Fatalf("%s: plan: %v", what, err)
		}
		if _, err := e.Apply(t.Context(), p.ID); err != nil {
			t.Fatalf("%s: apply: %v", what, err)
		}
		return p.Mappings[0]
	}
	round("first sync")
	mustDo(t, http.MethodPatch, apiSrv.URL+"/contacts/r1", `{"name":"Ada 2"}`)
	mustDo(t, http.MethodPatch, apiSrv.URL+"/contacts/r3", `{"name":"Edsger 2"}`)
	armed.Store(true)
	if got := round("edits before the read"); got.Counts[plan.Update] != 2 {
		t.Fatalf("second plan: %v; want the 2 edits made before it", got.Counts)
	}
	round("edits during the read")

	names := map[string]bool{}
	for _, c := range erp.All("customers") {
		names[c["displayName"].(string)] = true
	}
	for _, want := range []string{"Ada 3", "Grace", "Edsger 3"} {
		if !names[want] {
			t.Errorf("no customer named %q: the edit was missed (customers: %v)", want, names)
		}
	}
}
