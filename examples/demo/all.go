package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// RunAll plays the scenario of `coupler demo --all`: the whole bundled
// bc-dataverse set against a fake ERP seeded with fake.SeedAll (customers,
// vendors, contacts, items, resources, opportunities, orders, invoices and
// their code tables) and a fake CRM holding what a new Dataverse
// organization holds (users, currencies, option values, a unit group).
//
// Round 1 plans and applies each mapping on its own, in dependency order, so
// that every lookup finds the couplings the mappings before it made. Then a
// few records are edited on both sides, and round 2 synchronizes them. Round
// 3 plans every mapping again and must find nothing to do; RunAll returns an
// error if it does. It prints one line per mapping, direction and step, and
// a table of counts after each round.
//
// opts.Customers is the number of customers (default 200, at least 8);
// opts.Limit is how many failures to list per mapping and step (default 3).
func RunAll(ctx context.Context, w io.Writer, opts Options) error {
	if opts.Customers == 0 {
		opts.Customers = 200
	}
	if opts.Customers < 8 {
		return fmt.Errorf("demo --all needs at least 8 customers to edit and block, not %d", opts.Customers)
	}
	if opts.Limit == 0 {
		opts.Limit = 3
	}
	srv, err := StartAllServers(opts.Customers)
	if err != nil {
		return err
	}
	defer srv.Close()
	erp, crm := srv.ERP, srv.CRM
	dir, cleanup, err := projectDir(opts, "coupler-demo-all-")
	if err != nil {
		return err
	}
	defer cleanup()
	if err := writeAllProject(dir, srv.ERPURL(), srv.CRMURL()); err != nil {
		return err
	}

	fmt.Fprintf(w, "coupler demo --all: the bundled bc-dataverse set against two fake OData v4 servers\n")
	fmt.Fprintf(w, "  ERP (Business Central API shape)  %s  %s\n", srv.ERPURL(), setSizes(erp))
	fmt.Fprintf(w, "  CRM (Dataverse Web API shape)     %s  %s\n", srv.CRMURL(), setSizes(crm))
	fmt.Fprintf(w, "  project %s (defaults: bc-dataverse)\n", dir)

	prog, diags := engine.Load(dir, mappings.LoadOptions{})
	if err := diags.Err(); err != nil {
		for _, d := range diags {
			fmt.Fprintln(w, d)
		}
		return err
	}
	e, err := engine.Open(ctx, prog, engine.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if e != nil {
			e.Close()
		}
	}()
	a := &allScenario{ctx: ctx, w: w, e: e, erp: erp, crm: crm, limit: opts.Limit,
		order: prog.Project.Ordered(), totals: map[string]*runTotals{}}
	names := make([]string, len(a.order))
	for i, m := range a.order {
		names[i] = m.Name
	}
	fmt.Fprintf(w, "  %d mappings in dependency order: %s\n", len(names), strings.Join(names, ", "))

	a.round("Round 1: the first synchronization, every mapping in one plan and one apply", true)
	a.table()
	a.step("Meanwhile, edits on both sides")
	a.edit()
	a.round("Round 2: only what changed since round 1 is read", true)
	a.table()
	changed := a.round("Round 3: plan every mapping once more; there must be nothing to do", false)
	if a.err == nil && len(changed) > 0 {
		a.err = fmt.Errorf("demo --all: the last round should find both sides in step, but %s would write or has records failed or skipped", strings.Join(changed, ", "))
	}
	if a.err != nil {
		return a.err
	}
	fmt.Fprintf(w, "\nNo changes. Both systems are in step across %d mappings.\n", len(a.order))
	if !opts.Keep {
		return nil
	}
	fmt.Fprintf(w, "\nThe servers keep running until you press Ctrl-C. Try:\n")
	fmt.Fprintf(w, "  coupler -C %s validate\n  coupler -C %s plan\n  coupler -C %s runs\n  coupler -C %s test\n", dir, dir, dir, dir)
	// Release the state database so that those commands can open it.
	e.Close()
	e = nil
	<-ctx.Done()
	return nil
}

// writeAllProject writes the project of the --all scenario: the default set
// against the two fake servers, Dataverse binding its lookups.
func writeAllProject(dir, erpURL, crmURL string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	project := fmt.Sprintf(`# coupler demo --all project: the whole bundled BC <-> Dataverse set against
# two fake servers. A real project would read URLs and secrets from the
# environment, e.g. base_url: "${BC_URL}".
version: 1
state: .coupler/state.duckdb
connectors:
  bc: { type: odata, base_url: %q, page_size: 500 }
  # batch_size: writes travel 100 to a $batch request, in the multipart
  # format Dataverse documents (batch_format's default for its /api/data/v9.2).
  dataverse: { type: odata, base_url: %q, page_size: 500, lookups: bind, batch_size: 100 }
defaults: bc-dataverse
`, erpURL, crmURL)
	return os.WriteFile(filepath.Join(dir, mappings.ProjectFile), []byte(project), 0o644)
}

// setSizes lists the non-empty sets of s with their record counts.
func setSizes(s *fake.Server) string {
	var parts []string
	for _, set := range s.Sets() {
		if n := s.Len(set); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, set))
		}
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, ", ")
}

// runTotals adds up the runs of one mapping over the rounds.
type runTotals struct {
	inserted, modified, failed int64
}

// allScenario runs the --all steps until the first error, then does nothing
// more.
type allScenario struct {
	ctx      context.Context
	w        io.Writer
	e        *engine.Engine
	erp, crm *fake.Server
	order    []*mappings.Mapping
	limit    int
	n        int
	err      error
	totals   map[string]*runTotals
}

func (a *allScenario) check(err error) {
	if a.err == nil && err != nil {
		a.err = err
	}
}

func (a *allScenario) step(title string) {
	if a.err != nil {
		return
	}
	a.n++
	fmt.Fprintf(a.w, "\n== %d. %s\n\n", a.n, title)
}

// round plans every mapping in one plan, as a user's `coupler plan` does,
// and applies it in one apply when apply is set: lookups to records that
// the same plan creates or couples are known after apply, so a first full
// sync needs no second round. It returns the mappings whose part of the
// plan would write something.
func (a *allScenario) round(title string, apply bool) []string {
	a.step(title)
	if a.err != nil {
		return nil
	}
	start := time.Now()
	p, err := a.e.Plan(a.ctx, engine.PlanOptions{})
	if err != nil {
		a.err = fmt.Errorf("plan: %w", err)
		return nil
	}
	took := time.Since(start)
	var changed []string
	for _, mp := range p.Mappings {
		c := mp.Counts
		fmt.Fprintf(a.w, "  %-19s %-16s plan   read %5d: %d to create, %d to couple, %d to update, %d conflicts, %d unchanged, %d left out, %d failing\n",
			mp.Name, mp.Direction, mp.Read, c[plan.Create], c[plan.Couple], c[plan.Update], c[plan.Conflict],
			c[plan.Unchanged]+mp.NotModified, c[plan.Skip], c[plan.Fail]+c[plan.Skipped])
		// A mapping with records failed or skipped is not in step either.
		for _, k := range append(slices.Clone(plan.Writes), plan.OutOfStep...) {
			if c[k] > 0 && (len(changed) == 0 || changed[len(changed)-1] != mp.Name) {
				changed = append(changed, mp.Name)
			}
		}
	}
	fmt.Fprintf(a.w, "  planned %d mappings in one plan in %s\n", len(a.order), took.Round(time.Millisecond))
	if !apply {
		return changed
	}
	res, err := a.e.Apply(a.ctx, p.ID)
	if res != nil {
		a.report(res)
	}
	if err != nil {
		a.err = fmt.Errorf("apply: %w", err)
		return changed
	}
	// The demo shows a sync that works: a record that failed, in the plan
	// or in apply, fails the demo rather than scrolling past.
	if failed := p.Totals()[plan.Fail] + int64(len(res.Failures)); failed > 0 {
		a.err = fmt.Errorf("demo --all: %d records failed in %s", failed, strings.ToLower(strings.SplitN(title, ":", 2)[0]))
	}
	return changed
}

// report prints one line per run of an apply, then its first failures.
func (a *allScenario) report(res *engine.ApplyResult) {
	for _, r := range res.Runs {
		fmt.Fprintf(a.w, "  %-19s %-16s apply  %d inserted, %d coupled, %d modified, %d failed (%s)\n",
			r.Mapping, r.Direction, r.Inserted, r.Coupled, r.Modified, r.Failed, r.Duration().Round(time.Millisecond))
		t := a.totals[r.Mapping]
		if t == nil {
			t = &runTotals{}
			a.totals[r.Mapping] = t
		}
		t.inserted += r.Inserted
		t.modified += r.Modified
		t.failed += r.Failed
	}
	shown := map[string]int{}
	for _, f := range res.Failures {
		if shown[f.Mapping] >= a.limit {
			continue
		}
		shown[f.Mapping]++
		fmt.Fprintf(a.w, "    ! %s %s: %s\n", f.Mapping, f.SourceID, f.Message)
	}
}

// table prints, per mapping, the records on each side and what the runs so
// far did.
func (a *allScenario) table() {
	if a.err != nil {
		return
	}
	fmt.Fprintln(a.w)
	tw := tabwriter.NewWriter(a.w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mapping\tBC entity\trecords\tDataverse entity\trecords\tinserted\tmodified\tfailed\t")
	for _, m := range a.order {
		t := a.totals[m.Name]
		if t == nil {
			t = &runTotals{}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t\n", m.Name, m.Table.Entity, a.erp.Len(m.Table.Entity),
			m.Integration.Entity, crmRecords(a.crm, m.Integration.Entity), t.inserted, t.modified, t.failed)
	}
	a.check(tw.Flush())
}

// edit changes a few records on both sides, each on a different record so
// that no edit meets another as a conflict, and prints what it did.
func (a *allScenario) edit() {
	if a.err != nil {
		return
	}
	say := func(side, what string) { fmt.Fprintf(a.w, "  %-4s %s\n", side, what) }

	// ERP: rename a customer, change another's payment terms, block a
	// third, reprice an item, add one, promote a contact, release an order.
	customers := pickAll(a.erp.All("customers"), func(r connectors.Record) bool { return r["blocked"] == " " })
	if len(customers) < 6 {
		a.err = fmt.Errorf("demo --all: only %d unblocked customers to edit", len(customers))
		return
	}
	renamed, reterm, blocked := customers[0], customers[1], customers[2]
	name := fmt.Sprint(renamed["displayName"]) + " (renamed)"
	a.check(a.erp.Patch("customers", key(renamed, "id"), connectors.Record{"displayName": name}))
	say("ERP", fmt.Sprintf("customer %s: displayName = %q", renamed["number"], name))
	terms := "COD"
	if reterm["paymentTermsCode"] == terms {
		terms = "NET 60"
	}
	a.check(a.erp.Patch("customers", key(reterm, "id"), connectors.Record{"paymentTermsCode": terms}))
	say("ERP", fmt.Sprintf("customer %s: paymentTermsCode = %q (Dataverse option %s)", reterm["number"], terms, map[string]string{"COD": "100000000", "NET 60": "4"}[terms]))
	a.check(a.erp.Patch("customers", key(blocked, "id"), connectors.Record{"blocked": "All"}))
	say("ERP", fmt.Sprintf("customer %s: blocked = \"All\" (it leaves the filter)", blocked["number"]))

	if items := a.erp.All("items"); len(items) > 0 {
		it := items[0]
		a.check(a.erp.Patch("items", key(it, "id"), connectors.Record{"unitPrice": 1234.5}))
		say("ERP", fmt.Sprintf("item %s: unitPrice = 1234.5", it["number"]))
	}
	pcs := fake.SeedID("unitofmeasure", "PCS")
	_, err := a.erp.Put("items", connectors.Record{
		"id": fake.SeedID("item", "demo"), "number": "1999", "displayName": "DEMO Standing Desk", "displayName2": "Oak",
		"type": "Inventory", "itemCategoryCode": "", "blocked": false, "gtin": "", "inventory": 5,
		"unitPrice": 899, "priceIncludesTax": false, "unitCost": 701.22, "baseUnitOfMeasureId": pcs, "baseUnitOfMeasureCode": "PCS",
	})
	a.check(err)
	say("ERP", "new item 1999 DEMO Standing Desk")

	unblockedIDs := map[string]bool{}
	for _, c := range customers[3:] {
		unblockedIDs[key(c, "id")] = true
	}
	persons := pickAll(a.erp.All("contacts"), func(r connectors.Record) bool {
		return r["type"] == "Person" && r["companyNumber"] != "" && unblockedIDs[key(r, "customerId")]
	})
	var promoted connectors.Record
	if len(persons) > 0 {
		promoted = persons[0]
		a.check(a.erp.Patch("contacts", key(promoted, "id"), connectors.Record{"jobTitle": "Chief Buyer"}))
		say("ERP", fmt.Sprintf("contact %s %s: jobTitle = \"Chief Buyer\"", promoted["number"], promoted["displayName"]))
	}
	drafts := pickAll(a.erp.All("salesOrders"), func(r connectors.Record) bool {
		return r["status"] == "Draft" && unblockedIDs[key(r, "customerId")]
	})
	if len(drafts) > 0 {
		a.check(a.erp.Patch("salesOrders", key(drafts[0], "id"), connectors.Record{"status": "Open"}))
		say("ERP", fmt.Sprintf("sales order %s: released (API status Draft -> Open)", drafts[0]["number"]))
	}

	// CRM: a new phone number on an account, a new mobile number on a
	// contact, a bigger opportunity, a new price on a service product, a new
	// account and a new user.
	edited := map[any]bool{renamed["number"]: true, reterm["number"]: true, blocked["number"]: true}
	accounts := pickAll(a.crm.All("accounts"), func(r connectors.Record) bool {
		return fmt.Sprint(r["customertypecode"]) == "3" && !edited[r["accountnumber"]] && r["accountnumber"] != nil
	})
	if len(accounts) > 0 {
		acc := accounts[len(accounts)-1]
		a.check(a.crm.Patch("accounts", key(acc, "accountid"), connectors.Record{"telephone1": "+1 206 555 0123"}))
		say("CRM", fmt.Sprintf("account %s: telephone1 = \"+1 206 555 0123\"", acc["accountnumber"]))
	}
	contacts := pickAll(a.crm.All("contacts"), func(r connectors.Record) bool {
		return promoted == nil || r["emailaddress1"] != promoted["email"]
	})
	if len(contacts) > 0 {
		c := contacts[len(contacts)-1]
		a.check(a.crm.Patch("contacts", key(c, "contactid"), connectors.Record{"mobilephone": "+1 555 0199"}))
		say("CRM", fmt.Sprintf("contact %s %s: mobilephone = \"+1 555 0199\"", c["firstname"], c["lastname"]))
	}
	if opps := a.crm.All("opportunities"); len(opps) > 0 {
		o := opps[0]
		a.check(a.crm.Patch("opportunities", key(o, "opportunityid"), connectors.Record{"estimatedvalue": 99000, "closeprobability": 80}))
		say("CRM", fmt.Sprintf("opportunity %q: estimatedvalue = 99000, closeprobability = 80", o["name"]))
	}
	services := pickAll(a.crm.All("products"), func(r connectors.Record) bool { return fmt.Sprint(r["producttypecode"]) == "3" })
	if len(services) > 0 {
		p := services[0]
		a.check(a.crm.Patch("products", key(p, "productid"), connectors.Record{"price": 135}))
		say("CRM", fmt.Sprintf("product %s: price = 135", p["productnumber"]))
	}
	owner := ""
	for _, u := range a.crm.All("systemusers") {
		if strings.EqualFold(fmt.Sprint(u["internalemailaddress"]), "peter.saddow@cronus.example.com") {
			owner = key(u, "systemuserid")
		}
	}
	account := connectors.Record{
		"name": "Northwind Traders (from the CRM)", "accountnumber": "C90000", "customertypecode": 3, "statecode": 0,
		"address1_line1": "1 Harbor View", "address1_line2": "", "address1_city": "Seattle", "address1_stateorprovince": "WA",
		"address1_postalcode": "98101", "address1_country": "US", "telephone1": "+1 206 555 0190",
		"emailaddress1": "info@northwind.example.com", "websiteurl": "www.northwind.example.com",
	}
	if owner != "" {
		account["ownerid@odata.bind"] = "/systemusers(" + owner + ")"
	}
	_, err = a.crm.Put("accounts", account)
	a.check(err)
	say("CRM", "new account C90000 Northwind Traders (from the CRM), relationship type Customer")
	_, err = a.crm.Put("systemusers", connectors.Record{
		"fullname": "Olivia Wilde", "firstname": "Olivia", "lastname": "Wilde",
		"internalemailaddress": "olivia.wilde@cronus.example.com", "domainname": "olivia.wilde@cronus.example.com",
		"mobilephone": "+1 425 555 0113", "title": "Sales Representative",
		"isdisabled": false, "islicensed": true, "accessmode": 0,
	})
	a.check(err)
	say("CRM", "new licensed user Olivia Wilde (SALESPEOPLE makes her salesperson OW)")
}

// pickAll returns the records that pass keep, in the order given.
func pickAll(recs []connectors.Record, keep func(connectors.Record) bool) []connectors.Record {
	return slices.DeleteFunc(slices.Clone(recs), func(r connectors.Record) bool { return !keep(r) })
}

// key returns a record's field as a string.
func key(r connectors.Record, field string) string {
	s, _ := r[field].(string)
	return s
}

// crmRecords counts the records of entity in the CRM: an entity set's, or
// the options of a choice column named choices(table.column).
func crmRecords(crm *fake.Server, entity string) int {
	if col, ok := strings.CutPrefix(entity, "choices("); ok {
		table, column, _ := strings.Cut(strings.TrimSuffix(col, ")"), ".")
		return len(crm.Options(table, column))
	}
	return crm.Len(entity)
}
