package runner_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	_ "github.com/couplerhq/coupler/connectors/odata" // registers type odata
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/runner"
	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/mappings"
)

// project writes a bidirectional CUSTOMER project against fake servers
// with 3 customers and 1 account, all stamped an hour ago, and returns its
// directory.
func project(t *testing.T) string {
	t.Helper()
	erp, crm := fake.NewERP(), fake.NewCRM()
	past := time.Now().Add(-time.Hour)
	erp.SetClock(func() time.Time { return past })
	crm.SetClock(func() time.Time { return past })
	if err := fake.SeedCustomers(erp, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := crm.Put("accounts", connectors.Record{"accountnumber": "A-1", "name": "Only in the CRM", "address1_city": "Oslo"}); err != nil {
		t.Fatal(err)
	}
	erp.SetClock(time.Now)
	crm.SetClock(time.Now)
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("coupler.yaml", `version: 1
connectors:
  bc: { type: odata, base_url: "`+fake.BCCompanyURL(erpSrv.URL+"/api/v2.0")+`" }
  dataverse: { type: odata, base_url: "`+crmSrv.URL+`/api/data/v9.2" }
mappings: ["mappings/*.yaml"]
`)
	write("mappings/customer.yaml", `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: bidirectional
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
  - { field: city, integration_field: address1_city }
`)
	return dir
}

// TestHistoryCountsAPlanStillApplyingAsInterrupted: an apply drained
// between a bidirectional mapping's two passes leaves both its runs
// finished (the second never started) but its plan applying. After a
// restart serve must take the mapping for interrupted, to run it at once,
// not for done.
func TestHistoryCountsAPlanStillApplyingAsInterrupted(t *testing.T) {
	dir := project(t)
	ctx := t.Context()
	// Draining is asked before each pass and before each batch of writes:
	// pass one asks before itself, before its one batch and once more
	// after it; the fourth question comes before pass two.
	calls := 0
	e, diags, err := engine.OpenProject(ctx, dir, mappings.LoadOptions{}, engine.Options{Draining: func() bool { calls++; return calls >= 4 }})
	if err != nil {
		t.Fatalf("open: %v\n%v", err, diags)
	}
	// The fakes hold unrelated records on both sides: accept the creates.
	if err := e.Acknowledge(ctx, []string{"CUSTOMER"}); err != nil {
		t.Fatal(err)
	}
	p, err := e.Plan(ctx, engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(ctx, p.ID); !errors.Is(err, engine.ErrDrained) {
		t.Fatalf("apply: %v, want it drained", err)
	}
	runs, err := e.State().Runs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].FinishedAt.IsZero() {
		t.Fatalf("runs after the drain: %+v; want the first pass's run, finished", runs)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	r := runner.New(dir, mappings.LoadOptions{}, engine.Options{})
	defer r.Close()
	proj, err := r.Load()
	if err != nil {
		t.Fatal(err)
	}
	r.Use(proj)
	past, err := r.History(context.WithoutCancel(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if pr, ok := past["CUSTOMER"]; !ok || !pr.Interrupted || pr.Result.PlanID != p.ID {
		t.Errorf("History()[CUSTOMER] = %+v, %v; want plan %s interrupted", pr, ok, p.ID)
	}
}

// TestHistoryKeepsAPlanWaitingForApproval: a run that ended waiting for a
// person's approval (a first sync into a destination that holds records)
// leaves its plan waiting; after a restart, History says so, with the
// plan and why, so that serve waits on it again and its approval applies
// it, rather than plan the mapping anew.
func TestHistoryKeepsAPlanWaitingForApproval(t *testing.T) {
	dir := project(t)
	ctx := t.Context()
	r := runner.New(dir, mappings.LoadOptions{}, engine.Options{})
	proj, err := r.Load()
	if err != nil {
		t.Fatal(err)
	}
	r.Use(proj)
	res, err := r.Run(ctx, make(chan struct{}), "CUSTOMER")
	if !errors.Is(err, serve.ErrNeedsReview) {
		t.Fatalf("run: %v, want it waiting for approval", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	r = runner.New(dir, mappings.LoadOptions{}, engine.Options{})
	defer r.Close()
	if proj, err = r.Load(); err != nil {
		t.Fatal(err)
	}
	r.Use(proj)
	past, err := r.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pr := past["CUSTOMER"]
	if pr.Waiting == nil || pr.Waiting.PlanID != res.PlanID || len(pr.Waiting.Approval) == 0 {
		t.Fatalf("History()[CUSTOMER] = %+v; want plan %s waiting for approval, with why", pr, res.PlanID)
	}
}
