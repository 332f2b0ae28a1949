package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors/fake"
	_ "github.com/couplerhq/coupler/connectors/odata"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// world is a project wired to a fake ERP and a fake CRM.
type world struct {
	t        *testing.T
	erp, crm *fake.Server
	dir      string
	e        *engine.Engine
	// load is how the project is loaded, for tests that open it again.
	load mappings.LoadOptions
}

// newWorld seeds n customers, stamped in the past one minute apart so that
// incremental reads return only what a test edits, and opens an engine on
// the bundled CUSTOMER mapping.
func newWorld(t *testing.T, n int) *world {
	t.Helper()
	return newWorldFrom(t, n, "testdata/customer.yaml")
}

// newWorldFrom is newWorld on the mapping in mappingFile, a variant a test
// wrote. The file is a parameter, not an environment variable, so that
// such tests run in parallel.
func newWorldFrom(t *testing.T, n int, mappingFile string) *world {
	t.Helper()
	w := &world{t: t, erp: fake.NewERP(), crm: fake.NewCRM(), dir: t.TempDir()}
	stamp := time.Now().Add(-time.Duration(n+10) * time.Minute)
	w.erp.SetClock(func() time.Time { stamp = stamp.Add(time.Minute); return stamp })
	if err := fake.SeedCustomers(w.erp, n); err != nil {
		t.Fatal(err)
	}
	w.erp.SetClock(time.Now)
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", w.erp))
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", w.crm))
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	project := `version: 1
connectors:
  bc: { type: odata, base_url: "${BC_URL}", page_size: 40, max_retries: 3 }
  dataverse: { type: odata, base_url: "${DATAVERSE_URL}", page_size: 40, max_retries: 3 }
mappings: ["mappings/*.yaml"]
`
	writeFile(t, filepath.Join(w.dir, "coupler.yaml"), project)
	mapping, err := os.ReadFile(mappingFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.dir, "mappings", "customer.yaml"), string(mapping))
	env := map[string]string{"BC_URL": fake.BCCompanyURL(erpSrv.URL + "/api/v2.0"), "DATAVERSE_URL": crmSrv.URL + "/api/data/v9.2"}
	w.load = mappings.LoadOptions{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	e, diags, err := engine.OpenProject(t.Context(), w.dir, w.load, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	w.e = e
	return w
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (w *world) plan(opts engine.PlanOptions) *plan.Plan {
	w.t.Helper()
	p, err := w.e.Plan(w.t.Context(), opts)
	if err != nil {
		w.t.Fatalf("plan: %v", err)
	}
	full, err := w.e.State().LoadPlan(w.t.Context(), p.ID, -1, plan.Kinds...)
	if err != nil {
		w.t.Fatalf("load plan: %v", err)
	}
	return full
}

func (w *world) apply(id string) *engine.ApplyResult {
	w.t.Helper()
	res, err := w.e.Apply(w.t.Context(), id)
	if err != nil {
		w.t.Fatalf("apply: %v", err)
	}
	return res
}

func counts(p *plan.Plan) plan.Counts { return p.Mappings[0].Counts }

func wantCounts(t *testing.T, p *plan.Plan, want plan.Counts) {
	t.Helper()
	got := counts(p)
	for _, k := range plan.Kinds {
		if got[k] != want[k] {
			t.Errorf("plan %s: %d %s, want %d (all: %v)", p.ID, got[k], k, want[k], got)
		}
	}
}

func TestFirstSyncCreatesAllThenNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 120)
	p := w.plan(engine.PlanOptions{})
	wantCounts(t, p, plan.Counts{plan.Create: 120})
	if w.crm.Len("accounts") != 0 {
		t.Fatal("plan wrote to the CRM")
	}
	res := w.apply(p.ID)
	if r := res.Runs[0]; r.Inserted != 120 || r.Failed != 0 {
		t.Fatalf("run = %+v, want 120 inserted", r)
	}
	if n := w.crm.Len("accounts"); n != 120 {
		t.Fatalf("CRM has %d accounts, want 120", n)
	}
	// Every created account carries the mapped values.
	c := fake.Customer(7)
	var found map[string]any
	for _, a := range w.crm.All("accounts") {
		if a["accountnumber"] == c["number"] {
			found = a
		}
	}
	if found == nil {
		t.Fatalf("no account for customer %s", c["number"])
	}
	if found["name"] != strings.TrimSpace(c["displayName"].(string)) || found["address1_city"] != c["city"] || fmt.Sprint(found["customertypecode"]) != "3" {
		t.Errorf("account = %v, want values of customer %v", found, c)
	}

	again := w.plan(engine.PlanOptions{})
	if again.HasChanges() {
		t.Errorf("second plan has changes: %v", counts(again))
	}
	full := w.plan(engine.PlanOptions{Full: true})
	wantCounts(t, full, plan.Counts{plan.Unchanged: 120})
}

func TestModifiedRecordYieldsOneUpdate(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 60)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	target := w.erp.All("customers")[10]
	if err := w.erp.Patch("customers", target["id"].(string), map[string]any{"displayName": "  Fabrikam Renamed ", "city": "Oslo"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	m := p.Mappings[0]
	if m.Read > 3 {
		t.Errorf("incremental plan read %d records, want only the modified ones (plus the overlap second)", m.Read)
	}
	if counts(p)[plan.Update] != 1 || counts(p)[plan.Create] != 0 {
		t.Fatalf("counts = %v, want exactly one update", counts(p))
	}
	var op plan.Operation
	for _, o := range m.Operations {
		if o.Kind == plan.Update {
			op = o
		}
	}
	if op.SourceID != target["id"] {
		t.Fatalf("update of %s, want %s", op.SourceID, target["id"])
	}
	got := map[string]string{}
	for _, c := range op.Changes {
		got[c.Field] = string(c.Before) + " -> " + string(c.After)
	}
	want := map[string]string{
		"name":          fmt.Sprintf("%q -> %q", strings.TrimSpace(target["displayName"].(string)), "Fabrikam Renamed"),
		"address1_city": fmt.Sprintf("%q -> %q", target["city"], "Oslo"),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
	w.apply(p.ID)
	acc, _ := w.crm.Get("accounts", op.DestID)
	if acc["name"] != "Fabrikam Renamed" || acc["address1_city"] != "Oslo" {
		t.Errorf("account after apply = %v", acc)
	}
	if after := w.plan(engine.PlanOptions{}); after.HasChanges() {
		t.Errorf("plan after apply has changes: %v", counts(after))
	}
}

func TestFilteredRecordIsNotWritten(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 30)
	blockedNew := w.erp.All("customers")[3]
	if err := w.erp.Patch("customers", blockedNew["id"].(string), map[string]any{"blocked": "All"}); err != nil {
		t.Fatal(err)
	}
	// The first read is full: the filter is pushed down, so the server does
	// not even return the blocked customer.
	p := w.plan(engine.PlanOptions{})
	wantCounts(t, p, plan.Counts{plan.Create: 29})
	w.apply(p.ID)
	for _, a := range w.crm.All("accounts") {
		if a["accountnumber"] == blockedNew["number"] {
			t.Fatalf("blocked customer %s was created in the CRM", blockedNew["number"])
		}
	}
	// A coupled customer that becomes blocked is left alone, even when it
	// changes.
	coupled := w.erp.All("customers")[5]
	if err := w.erp.Patch("customers", coupled["id"].(string), map[string]any{"blocked": "Ship", "city": "Nowhere"}); err != nil {
		t.Fatal(err)
	}
	p = w.plan(engine.PlanOptions{})
	if c := counts(p); c[plan.Update] != 0 || c[plan.Skip] == 0 {
		t.Errorf("counts = %v, want the blocked customer skipped and nothing updated", c)
	}
}

func TestThrottledRequestsAreRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 25)
	w.crm.Throttle(2, time.Second)
	w.erp.Throttle(1, 0)
	start := time.Now()
	p := w.plan(engine.PlanOptions{})
	res := w.apply(p.ID)
	if r := res.Runs[0]; r.Inserted != 25 || r.Failed != 0 {
		t.Fatalf("run = %+v, want all 25 inserted despite 429s", r)
	}
	if st := w.crm.Stats(); st.Throttled != 2 {
		t.Errorf("CRM answered %d requests with 429, want 2", st.Throttled)
	}
	if time.Since(start) < time.Second {
		t.Errorf("finished in %s: Retry-After of 1s was not honoured", time.Since(start))
	}
}

func TestStaleDestinationIsNotOverwritten(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 20)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	target := w.erp.All("customers")[4]
	if err := w.erp.Patch("customers", target["id"].(string), map[string]any{"city": "From ERP"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	var destID string
	for _, op := range p.Mappings[0].Operations {
		if op.Kind == plan.Update {
			destID = op.DestID
		}
	}
	// Someone edits the account in the CRM between plan and apply.
	if err := w.crm.Patch("accounts", destID, map[string]any{"address1_city": "From CRM"}); err != nil {
		t.Fatal(err)
	}
	res, err := w.e.Apply(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Runs[0]; r.Failed != 1 || r.Modified != 0 {
		t.Fatalf("run = %+v, want the stale update failed", r)
	}
	if !strings.Contains(res.Failures[0].Message, "stale") {
		t.Errorf("failure = %q, want it called stale", res.Failures[0].Message)
	}
	// coupler errors lists it, with both ids.
	fs, err := w.e.State().Failures(t.Context(), "CUSTOMER", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].SourceID != target["id"] || fs[0].DestID != destID || !strings.Contains(fs[0].Message, "stale") {
		t.Errorf("failures = %+v", fs)
	}
	if acc, _ := w.crm.Get("accounts", destID); acc["address1_city"] != "From CRM" {
		t.Errorf("the CRM edit was overwritten: %v", acc["address1_city"])
	}
	// The failed record holds the watermark back: the next plan reads it again.
	again := w.plan(engine.PlanOptions{})
	if counts(again)[plan.Update] != 1 {
		t.Errorf("next plan = %v, want the failed record planned again", counts(again))
	}
}

func TestPlanIsAppliedOnceAndStalePlansAreRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 10)
	first := w.plan(engine.PlanOptions{})
	second := w.plan(engine.PlanOptions{})
	w.apply(first.ID)
	if _, err := w.e.Apply(t.Context(), first.ID); err == nil {
		t.Error("a plan was applied twice")
	}
	if _, err := w.e.Apply(t.Context(), second.ID); !errors.Is(err, engine.ErrStalePlan) {
		t.Errorf("applying a plan made before the last apply: err = %v, want ErrStalePlan", err)
	}
	if n := w.crm.Len("accounts"); n != 10 {
		t.Errorf("CRM has %d accounts, want 10 (no duplicates)", n)
	}
}

// TestOlderPlanIsRefusedEvenWhenTheWatermarkStays covers plans whose
// mapping's watermark does not move: a full plan that reads nothing newer.
func TestOlderPlanIsRefusedEvenWhenTheWatermarkStays(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 6)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	older := w.plan(engine.PlanOptions{Full: true})
	w.apply(w.plan(engine.PlanOptions{Full: true}).ID)
	if _, err := w.e.Apply(t.Context(), older.ID); !errors.Is(err, engine.ErrStalePlan) {
		t.Errorf("err = %v, want ErrStalePlan", err)
	}
}

// TestCoupledRecordOutsideTheDestinationFilterIsNotMissing: a full read
// must not take a coupled record that left the integration filter for a
// deleted one.
func TestCoupledRecordOutsideTheDestinationFilterIsNotMissing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	acc := w.crm.All("accounts")[0]
	if err := w.crm.Patch("accounts", acc["accountid"].(string), map[string]any{"customertypecode": 11}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{Full: true})
	if c := counts(p); c[plan.Fail] != 0 || c[plan.Skip] != 1 {
		t.Errorf("counts = %v, want the record left out, not failed", c)
	}
}

func TestRunsAreLogged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 15)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	runs, err := w.e.State().Runs(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Mapping != "CUSTOMER" || runs[0].Inserted != 15 || runs[0].FinishedAt.IsZero() {
		t.Errorf("runs = %+v", runs)
	}
}

// TestCoupledByHandThenUpdated: records coupled outside a plan (by hand, or
// by an earlier tool) are updated, not created again.
func TestCoupledByHandThenUpdated(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	c := fake.Customer(0)
	id, err := w.crm.Put("accounts", map[string]any{"accountnumber": c["number"], "name": "Stale name", "statecode": 0, "customertypecode": 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.e.State().Couple(t.Context(), "CUSTOMER", []state.Coupling{{TableID: c["id"].(string), IntegrationID: id}}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	wantCounts(t, p, plan.Counts{plan.Create: 2, plan.Update: 1})
}

// TestRepeatedFailureIsSkippedUntilRetried: a record failing twice in a row
// with the same error is left out, and no longer holds the watermark back,
// until coupler retry.
func TestRepeatedFailureIsSkippedUntilRetried(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 5, `  - { field: city, integration_field: description, to_integration: 'value == "Boom" ? int("x") : value' }`)
	bad := w.erp.All("customers")[2]
	if err := w.erp.Patch("customers", bad["id"].(string), map[string]any{"city": "Boom"}); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		p := w.plan(engine.PlanOptions{})
		if c := counts(p); c[plan.Fail] != 1 {
			t.Fatalf("round %d: counts = %v; want the record failed", round, c)
		}
		w.e.Apply(t.Context(), p.ID)
	}
	p := w.plan(engine.PlanOptions{})
	var skipped plan.Operation
	for _, op := range p.Mappings[0].Operations {
		if op.SourceID == bad["id"] {
			skipped = op
		}
	}
	if skipped.Kind != plan.Skipped || !strings.Contains(skipped.Reason, "skipped: failed 2 runs in a row") {
		t.Fatalf("third plan: %+v; want the record skipped", skipped)
	}
	w.apply(p.ID)
	now, _ := w.erp.Get("customers", bad["id"].(string))
	modified, _ := time.Parse(time.RFC3339Nano, now["lastModifiedDateTime"].(string))
	if wm, _, _ := w.e.State().Watermark(t.Context(), "CUSTOMER", plan.SideTable); wm.Before(modified) {
		t.Errorf("watermark %s is held back before the skipped record's %s", wm, modified)
	}
	n, err := w.e.Retry(t.Context(), "CUSTOMER", []string{bad["id"].(string)})
	if err != nil || n != 1 {
		t.Fatalf("retry = %d, %v", n, err)
	}
	if c := counts(w.plan(engine.PlanOptions{})); c[plan.Fail] != 1 {
		t.Errorf("after retry: counts = %v; want the record read and failed again", c)
	}
}

func TestCoupleByMatchOnly(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 5, "match:\n  fields: [ { field: number, integration_field: accountnumber } ]")
	for i := range 2 {
		c := fake.Customer(i)
		if _, err := w.crm.Put("accounts", map[string]any{"accountnumber": c["number"], "name": "Old", "statecode": 0, "customertypecode": 3}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := w.e.Plan(t.Context(), engine.PlanOptions{MatchOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Mappings[0].Counts; c[plan.Couple] != 2 || c[plan.Skip] != 3 || c[plan.Create] != 0 {
		t.Fatalf("counts = %v; want 2 couples and 3 left out (no match, no create_if_no_match)", c)
	}
	w.apply(p.ID)
	pairs, _ := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	if len(pairs) != 2 || w.crm.Len("accounts") != 2 {
		t.Errorf("%d couplings, %d accounts; want 2 and 2", len(pairs), w.crm.Len("accounts"))
	}
	// The watermark did not move: a normal plan still reads everything.
	if next := w.plan(engine.PlanOptions{}); next.Mappings[0].Read != 5 {
		t.Errorf("next plan read %d; want all 5", next.Mappings[0].Read)
	}
}

// TestLookupKnownAfterApply: in a first full plan, a contact's lookup to a
// customer that the same plan creates is "known after apply", and apply
// resolves it once the customer's account exists.
func TestLookupKnownAfterApply(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 3, `---
name: CONTACT
table: { connector: bc, entity: contacts, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: contacts, key: contactid, modified: modifiedon }
sync_only_coupled: false
fields:
  - { field: displayName, integration_field: lastname }
  - { field: customerId, integration_field: parentcustomerid, lookup: CUSTOMER }`)
	c := fake.Customer(1)
	if _, err := w.erp.Put("contacts", map[string]any{"displayName": "Ann Contact", "customerId": c["id"]}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	var contact *plan.MappingPlan
	for _, m := range p.Mappings {
		if m.Name == "CONTACT" {
			contact = m
		}
	}
	if contact == nil || contact.Counts[plan.Create] != 1 {
		t.Fatalf("CONTACT part = %+v; want one create", contact)
	}
	var text bytes.Buffer
	if err := report.PlanText(&text, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "parentcustomerid  (known after apply)") {
		t.Errorf("the plan does not show the lookup as known after apply:\n%s", text.String())
	}
	w.apply(p.ID)
	pairs, _ := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	got := w.crm.All("contacts")
	if len(got) != 1 || got[0]["parentcustomerid"] != pairs[c["id"].(string)] {
		t.Errorf("contact = %v; want parentcustomerid %s", got, pairs[c["id"].(string)])
	}
}

// acknowledgeFirstSync accepts, for every mapping of e, a first sync that
// creates records in a destination already holding records (coupler
// acknowledge): the worlds of these tests start with unrelated records on
// both sides on purpose.
func acknowledgeFirstSync(t testing.TB, e *engine.Engine) {
	t.Helper()
	var names []string
	for _, m := range e.Program().Project.Mappings {
		names = append(names, m.Name)
	}
	if err := e.Acknowledge(context.Background(), names); err != nil {
		t.Fatal(err)
	}
}
