// Package e2e_test syncs the demo's CUSTOMER mapping from the fake Business
// Central into SAP CAP, a real OData v4 server shaped like Dataverse's
// accounts, through the whole engine: plan, apply, plan again. It lives in a
// package of its own because it links the engine, and with it DuckDB.
package e2e_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/conformance"
	"github.com/couplerhq/coupler/connectors/fake"
	_ "github.com/couplerhq/coupler/connectors/odata"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

const customers = 120

func TestDemoCustomerIntoCAP(t *testing.T) {
	t.Parallel()
	crmURL := conformance.StartCAP(t)
	erp := fake.NewERP()
	stamp := time.Now().Add(-time.Duration(customers+60) * time.Minute)
	erp.SetClock(func() time.Time { stamp = stamp.Add(time.Minute); return stamp })
	if err := fake.SeedCustomers(erp, customers); err != nil {
		t.Fatal(err)
	}
	erp.SetClock(time.Now)
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	defer erpSrv.Close()

	dir := t.TempDir()
	project := fmt.Sprintf(`version: 1
connectors:
  bc: { type: odata, base_url: %q, page_size: 50 }
  dataverse: { type: odata, base_url: %q, batch_size: 25, batch_format: multipart }
mappings: ["mappings/*.yaml"]
`, fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), crmURL)
	mapping, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "demo", "project", "mappings", "customer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "mappings"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, mappings.ProjectFile), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mappings", "customer.yaml"), mapping, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx := t.Context()
	e, _, err := engine.OpenProject(ctx, dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	first, err := e.Plan(ctx, engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wantCreates int64
	for i := range customers {
		if fake.Customer(i)["blocked"] == " " {
			wantCreates++
		}
	}
	if got := first.Totals()[plan.Create]; got != wantCreates {
		t.Fatalf("first plan: %d creates, want %d (totals %v)", got, wantCreates, first.Totals())
	}
	res, err := e.Apply(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures {
		t.Errorf("apply: %s %s: %s", f.Mapping, f.SourceID, f.Message)
	}

	// Edit one customer so that the second plan has one update to send
	// with If-Match, then a third plan must find nothing to do.
	id := fake.CustomerID(0)
	if err := erp.Patch("customers", id, connectors.Record{"displayName": "Renamed for CAP"}); err != nil {
		t.Fatal(err)
	}
	second, err := e.Plan(ctx, engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Totals()[plan.Update]; got != 1 || second.Totals()[plan.Create] != 0 {
		t.Fatalf("second plan: totals %v, want 1 update", second.Totals())
	}
	if res, err = e.Apply(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures {
		t.Errorf("apply: %s %s: %s", f.Mapping, f.SourceID, f.Message)
	}
	for _, full := range []bool{false, true} {
		last, err := e.Plan(ctx, engine.PlanOptions{Full: full})
		if err != nil {
			t.Fatal(err)
		}
		if last.HasChanges() {
			t.Fatalf("plan (full %v) after apply has changes: %v", full, last.Totals())
		}
	}
}
