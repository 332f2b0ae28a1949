// Package demo runs coupler's main job end to end against two in-process
// fake OData servers, one shaped like Business Central's API and one like
// Dataverse's, with the bundled CUSTOMER mapping. It is what `coupler demo`
// runs and the shortest way to see plan and apply at work.
package demo

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/mappings/scaffold"
)

// Options adjusts the demo.
type Options struct {
	// Customers is how many customers the fake ERP starts with.
	Customers int
	// Dir is the project directory to create; empty makes a temporary one,
	// removed at the end unless Keep is set.
	Dir string
	// Keep leaves the servers running after the scenario, until ctx ends,
	// so that the other commands can be tried against them.
	Keep bool
	// Limit is how many operations each plan report lists per mapping.
	Limit int
}

// ERP and CRM base paths, as the real services put them.
const (
	erpBase = "/api/v2.0"
	crmBase = "/api/data/v9.2"
)

// Run plays the scenario, writing what happens at each step to w.
func Run(ctx context.Context, w io.Writer, opts Options) error {
	if opts.Customers == 0 {
		opts.Customers = 1000
	}
	if opts.Customers < 4 {
		return fmt.Errorf("demo needs at least 4 customers to edit and block, not %d", opts.Customers)
	}
	srv, err := StartCustomerServers(opts.Customers)
	if err != nil {
		return err
	}
	defer srv.Close()
	erp, crm := srv.ERP, srv.CRM
	dir, cleanup, err := projectDir(opts, "coupler-demo-")
	if err != nil {
		return err
	}
	defer cleanup()
	if err := writeProject(dir, srv.ERPURL(), srv.CRMURL()); err != nil {
		return err
	}

	fmt.Fprintf(w, "coupler demo: two fake OData v4 servers on loopback\n")
	fmt.Fprintf(w, "  ERP (Business Central API shape)  %s  %d customers\n", srv.ERPURL(), erp.Len("customers"))
	fmt.Fprintf(w, "  CRM (Dataverse Web API shape)     %s  %d accounts\n", srv.CRMURL(), crm.Len("accounts"))
	fmt.Fprintf(w, "  project %s with the mapping CUSTOMER (customers -> accounts)\n", dir)

	e, _, err := engine.OpenProject(ctx, dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if e != nil {
			e.Close()
		}
	}()
	s := &scenario{ctx: ctx, w: w, e: e, limit: opts.Limit}

	s.step("Plan the first sync: nothing is coupled yet, so every customer is created")
	s.plan()
	s.step("Apply it")
	s.apply()
	s.step("Meanwhile in the ERP: edit 3 customers and block 1")
	all := erp.All("customers")
	for i, edit := range []struct{ field, value string }{
		{"displayName", "Adatum Corporation (renamed)"},
		{"phoneNumber", "+1 425 555 0199"},
		{"city", "Reykjavík"},
	} {
		rec := all[i*len(all)/4]
		s.check(erp.Patch("customers", rec["id"].(string), map[string]any{edit.field: edit.value}))
		fmt.Fprintf(w, "  customer %s: %s = %q\n", rec["number"], edit.field, edit.value)
	}
	blocked := all[3*len(all)/4]
	s.check(erp.Patch("customers", blocked["id"].(string), map[string]any{"blocked": "All"}))
	fmt.Fprintf(w, "  customer %s: blocked = \"All\"\n", blocked["number"])
	s.step("Plan again: only what changed since the last run is read")
	s.plan()
	s.step("Apply it")
	s.apply()
	s.step("Plan once more: nothing left to do")
	p := s.plan()
	if s.err == nil && !p.InStep() {
		s.err = fmt.Errorf("demo: the last plan should find both sides in step")
	}
	if s.err != nil {
		return s.err
	}
	fmt.Fprintf(w, "\nThe CRM now holds %d accounts; %d customers are coupled.\n", crm.Len("accounts"), opts.Customers)
	if !opts.Keep {
		return nil
	}
	fmt.Fprintf(w, "\nThe servers keep running until you press Ctrl-C. Try:\n")
	fmt.Fprintf(w, "  coupler -C %s validate\n  coupler -C %s plan\n  coupler -C %s runs\n", dir, dir, dir)
	// Release the state database so that those commands can open it.
	e.Close()
	e = nil
	<-ctx.Done()
	return nil
}

// scenario runs steps until the first error, then does nothing more.
type scenario struct {
	ctx   context.Context
	w     io.Writer
	e     *engine.Engine
	n     int
	limit int
	err   error
}

func (s *scenario) check(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *scenario) step(title string) {
	if s.err != nil {
		return
	}
	s.n++
	fmt.Fprintf(s.w, "\n== %d. %s\n\n", s.n, title)
}

func (s *scenario) plan() *plan.Plan {
	if s.err != nil {
		return nil
	}
	start := time.Now()
	p, err := s.e.Plan(s.ctx, engine.PlanOptions{})
	if err != nil {
		s.err = err
		return nil
	}
	took := time.Since(start)
	limit := s.limit
	if limit == 0 {
		limit = 3
	}
	shown, err := s.e.State().LoadPlan(s.ctx, p.ID, limit)
	if err == nil {
		err = report.PlanText(s.w, shown)
	}
	s.check(err)
	fmt.Fprintf(s.w, "(planned in %s)\n", took.Round(time.Millisecond))
	return p
}

func (s *scenario) apply() {
	if s.err != nil {
		return
	}
	res, err := s.e.Apply(s.ctx, "")
	if err != nil {
		s.err = err
		return
	}
	for _, r := range res.Runs {
		fmt.Fprintf(s.w, "%s: %d inserted, %d modified, %d failed in %s\n",
			r.Mapping, r.Inserted, r.Modified, r.Failed, r.Duration().Round(time.Millisecond))
	}
	for _, f := range res.Failures {
		fmt.Fprintf(s.w, "  ! %s %s: %s\n", f.Mapping, f.SourceID, f.Message)
	}
}

//go:embed project/mappings/customer.yaml
var customerMapping []byte

// writeProject writes the demo's project: the two fake servers as its
// connectors, the one-way CUSTOMER mapping and the schemas.
func writeProject(dir, erpURL, crmURL string) error {
	if err := os.MkdirAll(filepath.Join(dir, "mappings"), 0o755); err != nil {
		return err
	}
	project := fmt.Sprintf(`%s
# coupler demo project against two fake servers. A real project reads
# URLs and secrets from the environment, e.g. base_url: "${BC_URL}".
version: 1
state: .coupler/state.duckdb
connectors:
  bc: { type: odata, base_url: %q, page_size: 500 }
  # batch_size: writes travel 100 to a $batch request, in the multipart
  # format Dataverse documents (batch_format's default for its /api/data/v9.2).
  dataverse: { type: odata, base_url: %q, page_size: 500, lookups: bind, batch_size: 100 }
mappings: ["mappings/*.yaml"]
`, scaffold.Modeline(mappings.ProjectFile), erpURL, crmURL)
	if err := os.WriteFile(filepath.Join(dir, mappings.ProjectFile), []byte(project), 0o644); err != nil {
		return err
	}
	// As init does: the files' modelines point at the schemas beside them.
	if _, err := scaffold.WriteSchemas(dir); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "mappings", "customer.yaml"), scaffold.WithModeline("mappings/customer.yaml", customerMapping), 0o644)
}

// Servers are the demo's fake ERP and CRM, running on loopback under the
// base paths the real services use. The docs' examples run against them too
// (cmd/coupler's TestDocs), so what a page shows is what the demo does.
type Servers struct {
	// ERP is the fake Business Central, CRM the fake Dataverse.
	ERP, CRM *fake.Server
	erp, crm *httptest.Server
}

// StartCustomerServers starts the fakes of `coupler demo`: an ERP seeded
// with n customers (fake.SeedCustomers) and an empty CRM.
func StartCustomerServers(n int) (*Servers, error) {
	erp, crm := fake.NewERP(), fake.NewCRM()
	// Seed as if the customers were edited one a minute over the past days,
	// so that incremental plans read only what is edited later.
	stamp := time.Now().Add(-time.Duration(n+60) * time.Minute)
	erp.SetClock(func() time.Time { stamp = stamp.Add(time.Minute); return stamp })
	if err := fake.SeedCustomers(erp, n); err != nil {
		return nil, err
	}
	erp.SetClock(time.Now)
	return startServers(erp, crm), nil
}

// StartAllServers starts the fakes of `coupler demo --all`: every entity the
// bundled bc-dataverse set uses, seeded by fake.SeedAll with n customers.
func StartAllServers(n int) (*Servers, error) {
	erp, crm := fake.NewERP(), fake.NewCRM()
	// Seed as if the records were written over the past two days, a step
	// apart, so that incremental plans read only what is edited later.
	step := min(time.Second, 40*time.Hour/time.Duration(8*n+200))
	step = max(step, time.Millisecond)
	stamp := time.Now().Add(-48 * time.Hour)
	clock := func() time.Time { stamp = stamp.Add(step); return stamp }
	erp.SetClock(clock)
	crm.SetClock(clock)
	if err := fake.SeedAll(erp, crm, n); err != nil {
		return nil, err
	}
	erp.SetClock(time.Now)
	crm.SetClock(time.Now)
	return startServers(erp, crm), nil
}

func startServers(erp, crm *fake.Server) *Servers {
	return &Servers{
		ERP: erp, CRM: crm,
		erp: httptest.NewServer(http.StripPrefix(erpBase, erp)),
		crm: httptest.NewServer(http.StripPrefix(crmBase, crm)),
	}
}

// ERPURL is the ERP's base URL as a Business Central user writes it: the
// company's, …/api/v2.0/companies({id}).
func (s *Servers) ERPURL() string { return fake.BCCompanyURL(s.erp.URL + erpBase) }

// CRMURL is the CRM's base URL, the Dataverse Web API's root.
func (s *Servers) CRMURL() string { return s.crm.URL + crmBase }

// Close stops both servers.
func (s *Servers) Close() {
	s.erp.Close()
	s.crm.Close()
}

// projectDir returns the directory to write the demo project in: opts.Dir,
// or a new temporary one that cleanup removes unless opts.Keep.
func projectDir(opts Options, prefix string) (dir string, cleanup func(), err error) {
	if opts.Dir != "" {
		return opts.Dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	if opts.Keep {
		return tmp, func() {}, nil
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}
