package fake

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// TestCloneIsASnapshot: a clone holds the records with their keys, ETags
// and stamps, and carries on numbering and versioning from where the
// original was; after that the two are independent.
func TestCloneIsASnapshot(t *testing.T) {
	erp, crm := NewERP(), NewCRM()
	erp.SetClock(stepClock(time.Second))
	if err := SeedCustomers(erp, 3); err != nil {
		t.Fatal(err)
	}
	acct, err := crm.Put("accounts", connectors.Record{"name": "Before"})
	if err != nil {
		t.Fatal(err)
	}
	erpC, crmC := erp.Clone(), crm.Clone()
	for _, s := range [][2]*Server{{erp, erpC}, {crm, crmC}} {
		for _, set := range s[0].Sets() {
			a, b := s[0].All(set), s[1].All(set)
			if len(a) != len(b) {
				t.Fatalf("%s: %d records in the clone, want %d", set, len(b), len(a))
			}
		}
	}
	id := CustomerID(1)
	etag, _ := erp.ETag("customers", id)
	if got, _ := erpC.ETag("customers", id); got != etag {
		t.Errorf("clone's ETag of %s = %s, want %s", id, got, etag)
	}
	orig, _ := erp.Get("customers", id)
	if got, _ := erpC.Get("customers", id); got["lastModifiedDateTime"] != orig["lastModifiedDateTime"] {
		t.Errorf("clone's stamp %v, want %v", got["lastModifiedDateTime"], orig["lastModifiedDateTime"])
	}

	// Writes to either leave the other as it was; both go on from the same
	// ETag version and number.
	if err := erpC.Patch("customers", id, connectors.Record{"displayName": "Clone"}); err != nil {
		t.Fatal(err)
	}
	if err := erp.Patch("customers", id, connectors.Record{"displayName": "Original"}); err != nil {
		t.Fatal(err)
	}
	a, _ := erp.Get("customers", id)
	b, _ := erpC.Get("customers", id)
	if a["displayName"] != "Original" || b["displayName"] != "Clone" {
		t.Errorf("after a write to each: original %v, clone %v", a["displayName"], b["displayName"])
	}
	ea, _ := erp.ETag("customers", id)
	eb, _ := erpC.ETag("customers", id)
	if ea != eb || ea == etag {
		t.Errorf("ETags after one write each: original %s, clone %s (before %s)", ea, eb, etag)
	}
	if a, b := erp.tables["customers"].lastNo, erpC.tables["customers"].lastNo; a == 0 || a != b {
		t.Errorf("number series: the original's last number %d, the clone's %d", a, b)
	}

	// Change tracking: a delta link of the original is one of the clone's,
	// and a deletion in one is not in the other's changes.
	srv := httptest.NewServer(crm)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/accounts", nil)
	req.Header.Set("Prefer", "odata.track-changes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	crmC2 := crm.Clone()
	if err := crm.Delete("accounts", acct); err != nil {
		t.Fatal(err)
	}
	if _, ok := crmC2.Get("accounts", acct); !ok {
		t.Error("a deletion in the original reached the clone")
	}
	if !crmC2.ChangeTracking("accounts") {
		t.Error("the clone lost the accounts' change tracking")
	}
	crm.ExpireChangeTokens()
	if crmC2.changes.epoch == crm.changes.epoch || len(crmC2.changes.removed["accounts"]) != 0 {
		t.Errorf("the clone's change log followed the original's: epoch %d vs %d, removed %v",
			crmC2.changes.epoch, crm.changes.epoch, crmC2.changes.removed["accounts"])
	}
	if !strings.HasPrefix(crmC2.Namespace(), crm.Namespace()) {
		t.Errorf("namespace %q, want %q", crmC2.Namespace(), crm.Namespace())
	}
}
