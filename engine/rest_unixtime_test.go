package engine_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors/fake"
	_ "github.com/couplerhq/coupler/connectors/rest" // registers type rest
	"github.com/couplerhq/coupler/connectors/rest/resttest"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// TestRESTUnixTimeWatermark syncs from a REST API that stamps updated_at in
// Unix milliseconds (resttest) and filters with since.format unix_ms: the
// first plan must read the stamps (the connector hands them over as RFC
// 3339) and store a watermark, and the second must read incrementally and
// find exactly the one contact changed since.
func TestRESTUnixTimeWatermark(t *testing.T) {
	t.Parallel()
	erp := fake.NewERP()
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	defer erpSrv.Close()
	api := resttest.New("contacts")
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	for _, name := range []string{"Ada", "Grace", "Edsger"} {
		mustDo(t, http.MethodPost, apiSrv.URL+"/contacts", `{"name":"`+name+`","email":"`+strings.ToLower(name)+`@example.com"}`)
	}
	dir := restContactsProject(t, fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), apiSrv.URL, 2, `
  - { field: email, integration_field: email }`)
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("%v\n%v", err, diags)
	}
	defer e.Close()
	p, err := e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatalf("first plan: %v", err)
	}
	if got := p.Mappings[0].Counts[plan.Create]; got != 3 {
		t.Fatalf("first plan creates %d customers, want 3", got)
	}
	if _, err := e.Apply(t.Context(), p.ID); err != nil {
		t.Fatal(err)
	}
	mustDo(t, http.MethodPatch, apiSrv.URL+"/contacts/r2", `{"name":"Grace Hopper"}`)
	p, err = e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatalf("second plan: %v", err)
	}
	if p.Full || p.Mappings[0].Counts[plan.Update] != 1 || p.Mappings[0].Counts[plan.Create] != 0 {
		t.Fatalf("second plan (full %v) counts %v, want an incremental read with 1 update", p.Full, p.Mappings[0].Counts)
	}
}

func mustDo(t *testing.T, method, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode > 299 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
}

// restContactsProject writes a project syncing the contacts of the
// resttest API at apiURL (cursor-paged, page_size records a page, stamps in
// Unix milliseconds) into the customers of the BC fake at bcURL, one way:
// name to displayName, and the field mappings in moreFields. It returns
// the project's directory.
func restContactsProject(t *testing.T, bcURL, apiURL string, pageSize int, moreFields string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "coupler.yaml"), fmt.Sprintf(`version: 1
connectors:
  bc: { type: odata, base_url: %q }
  crm:
    type: rest
    base_url: %q
    page_size: %d
    entities:
      contacts:
        records: data
        record: data
        etag: version
        paging: { style: cursor, next: meta.next_cursor, param: cursor, size_param: limit }
        since: { param: updated_since, format: unix_ms }
mappings: ["m.yaml"]
`, bcURL, apiURL, pageSize))
	writeFile(t, filepath.Join(dir, "m.yaml"), `name: CONTACT
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: crm, entity: contacts, key: id, modified: updated_at }
direction: from_integration
sync_only_coupled: false
fields:
  - { field: displayName, integration_field: name }`+moreFields+"\n")
	return dir
}
