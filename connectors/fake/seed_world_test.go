package fake

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/mappings"
)

// seedWorld seeds a fresh pair of servers with SeedAll(n), each on a clock
// that starts at a fixed time and ticks a second per write.
func seedWorld(t *testing.T, n int) (erp, crm *Server) {
	t.Helper()
	erp, crm = NewERP(), NewCRM()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	erp.SetClock(stepClockFrom(start))
	crm.SetClock(stepClockFrom(start))
	if err := SeedAll(erp, crm, n); err != nil {
		t.Fatal(err)
	}
	return erp, crm
}

func stepClockFrom(t time.Time) func() time.Time {
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestSeedAllIsDeterministic(t *testing.T) {
	if a, b := newWorld(40), newWorld(40); !reflect.DeepEqual(a, b) {
		t.Fatal("newWorld(40) differs between calls")
	}
	erp1, crm1 := seedWorld(t, 40)
	erp2, crm2 := seedWorld(t, 40)
	for _, pair := range []struct{ a, b *Server }{{erp1, erp2}, {crm1, crm2}} {
		for _, set := range pair.a.Sets() {
			if a, b := pair.a.All(set), pair.b.All(set); !reflect.DeepEqual(a, b) {
				t.Errorf("%s differs between two seeds", set)
			}
		}
	}
	// The first customers are Customer(i) with the world's codes on top.
	c, ok := erp1.Get("customers", CustomerID(0))
	if !ok {
		t.Fatal("Customer(0) not seeded")
	}
	for f, v := range Customer(0) {
		if f == "salespersonCode" || f == "currencyCode" {
			continue
		}
		if !reflect.DeepEqual(c[f], v) {
			t.Errorf("customer 0 %s = %v, Customer(0) has %v", f, c[f], v)
		}
	}
}

func TestSeedAllSizes(t *testing.T) {
	for _, n := range []int{1, 4, 40} {
		erp, crm := seedWorld(t, n)
		for _, set := range erp.Sets() {
			if erp.Len(set) == 0 {
				t.Errorf("n=%d: ERP %s is empty", n, set)
			}
		}
		for _, set := range crm.Sets() {
			empty := crm.Len(set) == 0
			// Only what the integration creates starts empty.
			want := slices.Contains([]string{"accounts", "contacts", "products", "opportunities", "salesorders", "invoices"}, set)
			if empty != want {
				t.Errorf("n=%d: CRM %s has %d records", n, set, crm.Len(set))
			}
		}
		if got := erp.Len("customers"); got != n {
			t.Errorf("n=%d: %d customers", n, got)
		}
	}
}

// index maps the value of field to the record, failing on duplicates.
func index(t *testing.T, s *Server, set, field string) map[string]connectors.Record {
	t.Helper()
	out := map[string]connectors.Record{}
	for _, r := range s.All(set) {
		v := fmt.Sprint(r[field])
		if _, dup := out[v]; dup {
			t.Errorf("%s: duplicate %s %q", set, field, v)
		}
		out[v] = r
	}
	return out
}

func TestSeedAllReferentialIntegrity(t *testing.T) {
	erp, crm := seedWorld(t, 120)
	people := index(t, erp, "salespeople", "code")
	currencies := index(t, erp, "currencies", "code")
	terms := index(t, erp, "paymentTerms", "code")
	methods := index(t, erp, "shipmentMethods", "code")
	agents := index(t, erp, "shippingAgents", "code")
	units := index(t, erp, "unitsOfMeasure", "id")
	customers := index(t, erp, "customers", "id")
	contacts := index(t, erp, "contacts", "id")
	contactNumbers := index(t, erp, "contacts", "number")
	orders := index(t, erp, "salesOrders", "id")
	for _, set := range []string{"customers", "vendors", "items", "opportunities", "salesOrders", "salesInvoices"} {
		index(t, erp, set, "number")
	}
	index(t, erp, "unitsOfMeasure", "code")

	in := func(what string, v any, known map[string]connectors.Record, blankOK bool) {
		t.Helper()
		s, _ := v.(string)
		if s == "" && blankOK {
			return
		}
		if _, ok := known[s]; !ok {
			t.Errorf("%s %q does not exist", what, s)
		}
	}
	unblocked := func(what string, id any) {
		t.Helper()
		if c := customers[fmt.Sprint(id)]; c != nil && c["blocked"] != " " {
			t.Errorf("%s of blocked customer %s", what, c["number"])
		}
	}
	blocked := 0
	for _, c := range customers {
		what := "customer " + c["number"].(string)
		in(what+" salesperson", c["salespersonCode"], people, false)
		in(what+" currency", c["currencyCode"], currencies, true)
		in(what+" payment terms", c["paymentTermsCode"], terms, false)
		in(what+" shipment method", c["shipmentMethodCode"], methods, true)
		in(what+" shipping agent", c["shippingAgentCode"], agents, true)
		if c["blocked"] != " " {
			blocked++
		}
	}
	if blocked == 0 || blocked > len(customers)/10 {
		t.Errorf("%d of %d customers blocked", blocked, len(customers))
	}
	for _, v := range erp.All("vendors") {
		what := "vendor " + v["number"].(string)
		in(what+" purchaser", v["purchaserCode"], people, false)
		in(what+" currency", v["currencyCode"], currencies, true)
		in(what+" payment terms", v["paymentTermsCode"], terms, false)
	}
	persons := 0
	for _, c := range contacts {
		what := "contact " + c["number"].(string)
		switch {
		case c["type"] == "Company":
			in(what+" customer", c["customerId"], customers, false)
		case c["companyNumber"] == "":
			if c["customerId"] != zeroGUID {
				t.Errorf("%s of no company has customer %v", what, c["customerId"])
			}
		default:
			persons++
			unblocked(what, c["customerId"])
			company := contactNumbers[c["companyNumber"].(string)]
			if company == nil || company["type"] != "Company" {
				t.Errorf("%s: company %v is no company contact", what, c["companyNumber"])
				continue
			}
			if c["customerId"] != company["customerId"] {
				t.Errorf("%s: customer %v, its company's %v", what, c["customerId"], company["customerId"])
			}
		}
	}
	if persons < len(customers)-blocked {
		t.Errorf("%d persons of companies for %d unblocked customers", persons, len(customers)-blocked)
	}
	for _, set := range []string{"items", "resources"} {
		for _, r := range erp.All(set) {
			what := set + " " + r["number"].(string)
			in(what+" unit", r["baseUnitOfMeasureId"], units, false)
			if u := units[r["baseUnitOfMeasureId"].(string)]; u != nil && u["code"] != r["baseUnitOfMeasureCode"] {
				t.Errorf("%s: unit id of %v, code %v", what, u["code"], r["baseUnitOfMeasureCode"])
			}
		}
	}
	for _, o := range erp.All("opportunities") {
		what := "opportunity " + o["number"].(string)
		in(what+" customer", o["customerId"], customers, false)
		unblocked(what, o["customerId"])
		in(what+" contact", o["contactId"], contacts, false)
		if c := contacts[fmt.Sprint(o["contactId"])]; c != nil && (c["customerId"] != o["customerId"] || c["number"] != o["contactNumber"]) {
			t.Errorf("%s: contact %v is not of its customer", what, o["contactNumber"])
		}
		in(what+" salesperson", o["salespersonCode"], people, false)
	}
	statuses := map[string]bool{}
	for _, o := range orders {
		what := "order " + o["number"].(string)
		in(what+" customer", o["customerId"], customers, false)
		unblocked(what, o["customerId"])
		in(what+" currency", o["currencyCode"], currencies, true)
		in(what+" salesperson", o["salesperson"], people, false)
		statuses["order "+o["status"].(string)] = true
	}
	fromOrders := 0
	for _, inv := range erp.All("salesInvoices") {
		what := "invoice " + inv["number"].(string)
		in(what+" customer", inv["customerId"], customers, false)
		unblocked(what, inv["customerId"])
		in(what+" currency", inv["currencyCode"], currencies, true)
		in(what+" salesperson", inv["salesperson"], people, false)
		statuses["invoice "+inv["status"].(string)] = true
		if inv["orderId"] == zeroGUID {
			continue
		}
		fromOrders++
		o := orders[inv["orderId"].(string)]
		switch {
		case o == nil:
			t.Errorf("%s: order %v does not exist", what, inv["orderId"])
		case o["status"] != "Open":
			t.Errorf("%s: posted from order %v of status %v, not released", what, o["number"], o["status"])
		case o["customerId"] != inv["customerId"] || o["number"] != inv["orderNumber"]:
			t.Errorf("%s: does not match its order %v", what, o["number"])
		}
	}
	if fromOrders == 0 {
		t.Error("no invoice was posted from an order")
	}
	for _, s := range []string{"order Draft", "order Open", "order In Review",
		"invoice Draft", "invoice In Review", "invoice Open", "invoice Paid", "invoice Canceled", "invoice Corrective"} {
		if !statuses[s] {
			t.Errorf("no %s", s)
		}
	}

	// The CRM: each salesperson has one user, matched by e-mail ignoring
	// case, whose initials are the salesperson's code.
	byMail := map[string][]connectors.Record{}
	for _, u := range crm.All("systemusers") {
		byMail[strings.ToLower(u["internalemailaddress"].(string))] = append(byMail[strings.ToLower(u["internalemailaddress"].(string))], u)
	}
	for _, p := range people {
		users := byMail[p["email"].(string)]
		if len(users) != 1 {
			t.Errorf("salesperson %v has %d users", p["code"], len(users))
			continue
		}
		if got := initials(users[0]); got != p["code"] {
			t.Errorf("user %v has initials %s, salesperson code %v", users[0]["fullname"], got, p["code"])
		}
	}
	salespeopleMail := map[string]bool{}
	for _, p := range people {
		salespeopleMail[p["email"].(string)] = true
	}
	created := 0
	for _, u := range crm.All("systemusers") {
		passes := u["isdisabled"] == false && u["islicensed"] == true && u["accessmode"] != json.Number("4")
		if !passes || salespeopleMail[strings.ToLower(u["internalemailaddress"].(string))] {
			continue
		}
		created++
		if people[initials(u)] != nil {
			t.Errorf("new user %v would get the code %s, which is taken", u["fullname"], initials(u))
		}
	}
	if created == 0 {
		t.Error("every user already has a salesperson: SALESPEOPLE would create nothing")
	}
	isos := index(t, crm, "transactioncurrencies", "isocurrencycode")
	matched := 0
	for code := range currencies {
		if isos[code] != nil {
			matched++
		}
	}
	if matched == 0 || matched == len(currencies) {
		t.Errorf("%d of %d BC currencies exist in the CRM: want some to match and some to be created", matched, len(currencies))
	}
}

// initials is the code SALESPEOPLE makes of a user.
func initials(u connectors.Record) string {
	first, _ := u["firstname"].(string)
	last, _ := u["lastname"].(string)
	s := ""
	if first != "" {
		s += first[:1]
	}
	if last != "" {
		s += last[:1]
	}
	return strings.ToUpper(s)
}

// TestSeedRecordsUseDeclaredFields checks that every field a seed record
// has is declared by its set, so that $metadata describes it.
func TestSeedRecordsUseDeclaredFields(t *testing.T) {
	w := newWorld(20)
	for _, side := range []struct {
		sets []EntitySet
		recs []setRecords
	}{{bcEntitySets(), w.erp}, {dataverseEntitySets(), w.crm}} {
		for _, def := range side.sets {
			declared := map[string]bool{def.Key: true, def.Modified: true}
			for _, f := range def.Fields {
				declared[f] = true
				if def.Types[f] == "" {
					t.Errorf("%s.%s has no EDM type", def.Name, f)
				}
			}
			for _, rec := range records(side.recs, def.Name) {
				for f := range rec {
					if !declared[f] {
						t.Errorf("a seeded %s record has undeclared field %s", def.Name, f)
					}
				}
			}
		}
	}
}

// loadDefaults loads the bundled bc-dataverse set.
func loadDefaults(t *testing.T) *mappings.Project {
	t.Helper()
	dir := t.TempDir()
	project := "version: 1\nconnectors:\n  bc: { type: odata, base_url: \"http://bc\" }\n" +
		"  dataverse: { type: odata, base_url: \"http://dv\", lookups: bind }\ndefaults: bc-dataverse\n"
	if err := os.WriteFile(filepath.Join(dir, mappings.ProjectFile), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := mappings.Load(dir, mappings.LoadOptions{Getenv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatalf("bundled defaults do not load: %v", diags)
	}
	return p
}

// TestServersServeTheDefaultSet checks that every entity set and field the
// bundled mappings name is served by NewERP or NewCRM.
func TestServersServeTheDefaultSet(t *testing.T) {
	p := loadDefaults(t)
	sets := map[string]map[string]EntitySet{"bc": {}, "dataverse": {}}
	for _, def := range bcEntitySets() {
		sets["bc"][def.Name] = def
	}
	for _, def := range dataverseEntitySets() {
		sets["dataverse"][def.Name] = def
	}
	// The options of a choice column, as the odata connector reads them
	// from the column's definition (optionsets.go).
	for _, c := range dataverseOptions {
		name := "choices(" + c.entity + "." + c.column + ")"
		sets["dataverse"][name] = EntitySet{Name: name, Key: "value", Fields: []string{"label", "description"}}
	}
	has := func(def EntitySet, f string) bool {
		if f == def.Key || f == def.Modified || slices.Contains(def.Fields, f) {
			return true
		}
		_, lookup := def.Lookups[f]
		_, poly := def.Polymorphic[f]
		return (lookup || poly) && slices.Contains(def.Fields, "_"+f+"_value")
	}
	if len(p.Mappings) != 14 {
		t.Errorf("the default set has %d mappings, want 14", len(p.Mappings))
	}
	for _, m := range p.Mappings {
		table, ok := sets[m.Table.Connector][m.Table.Entity]
		if !ok {
			t.Errorf("%s: the ERP does not serve %s", m.Name, m.Table.Entity)
			continue
		}
		integ, ok := sets[m.Integration.Connector][m.Integration.Entity]
		if !ok {
			t.Errorf("%s: the CRM does not serve %s", m.Name, m.Integration.Entity)
			continue
		}
		if table.Key != m.Table.Key || integ.Key != m.Integration.Key || table.Modified != m.Table.Modified || integ.Modified != m.Integration.Modified {
			t.Errorf("%s: keys or modified fields differ from the servers'", m.Name)
		}
		for _, f := range m.Fields {
			if f.Field != "" && !has(table, f.Field) {
				t.Errorf("%s: %s has no field %s", m.Name, table.Name, f.Field)
			}
			if f.IntegrationField != "" && !has(integ, f.IntegrationField) {
				t.Errorf("%s: %s has no field %s", m.Name, integ.Name, f.IntegrationField)
			}
			if f.Lookup != "" && f.IntegrationField != "" {
				target := p.Mapping(f.Lookup)
				if targets, poly := integ.Polymorphic[f.IntegrationField]; poly && target != nil {
					if !slices.Contains(targets, target.Integration.Entity) {
						t.Errorf("%s: multi-table lookup %s targets %v, the mapping %s writes %s", m.Name, f.IntegrationField,
							targets, f.Lookup, target.Integration.Entity)
					}
				} else if target != nil && integ.Lookups[f.IntegrationField] != target.Integration.Entity {
					t.Errorf("%s: lookup %s targets %s, the mapping %s writes %s", m.Name, f.IntegrationField,
						integ.Lookups[f.IntegrationField], f.Lookup, target.Integration.Entity)
				}
			}
		}
		if m.Match != nil {
			for _, mf := range m.Match.Fields {
				if !has(table, mf.Field) || !has(integ, mf.IntegrationField) {
					t.Errorf("%s: match fields %s/%s are not served", m.Name, mf.Field, mf.IntegrationField)
				}
			}
		}
	}
}

// TestSeedCodesHaveOptions checks the seed world against the option maps of
// the bundled mappings: every code a customer or vendor holds has an option,
// each code table maps exactly its codes, and a code that matches one of
// Dataverse's own options by label gets that option's value.
func TestSeedCodesHaveOptions(t *testing.T) {
	p := loadDefaults(t)
	w := newWorld(200)
	options := func(mapping, field string) map[string]any {
		m := p.Mapping(mapping)
		if m == nil {
			t.Fatalf("no mapping %s", mapping)
		}
		for _, f := range m.Fields {
			if f.Field == field && f.Options != nil {
				return f.Options
			}
		}
		t.Fatalf("%s has no option map on %s", mapping, field)
		return nil
	}
	tables := []struct {
		mapping, set, attribute string
		holders                 map[string]string // mapping -> field
	}{
		{"PAYMENT TERMS", "paymentTerms", "paymenttermscode", map[string]string{"CUSTOMER": "paymentTermsCode", "VENDOR": "paymentTermsCode"}},
		{"SHIPMENT METHOD", "shipmentMethods", "address1_freighttermscode", map[string]string{"CUSTOMER": "shipmentMethodCode"}},
		{"SHIPPING AGENT", "shippingAgents", "address1_shippingmethodcode", map[string]string{"CUSTOMER": "shippingAgentCode"}},
	}
	for _, tb := range tables {
		own := options(tb.mapping, "code")
		var codes []string
		for _, r := range records(w.erp, tb.set) {
			codes = append(codes, r["code"].(string))
		}
		for _, c := range codes {
			if _, ok := own[c]; !ok {
				t.Errorf("%s has no option for %s", tb.mapping, c)
			}
		}
		for holder, field := range tb.holders {
			theirs := options(holder, field)
			for c, v := range own {
				if fmt.Sprint(theirs[c]) != fmt.Sprint(v) {
					t.Errorf("%s gives %s the value %v, %s gives it %v", holder, c, theirs[c], tb.mapping, v)
				}
			}
			set := map[string]string{"CUSTOMER": "customers", "VENDOR": "vendors"}[holder]
			for _, r := range records(w.erp, set) {
				if _, ok := theirs[r[field].(string)]; !ok {
					t.Errorf("%s has no option for %s %q of %s", holder, field, r[field], r["number"])
				}
			}
		}
		for _, sm := range shippedOptionRecords(dataverseOptions) {
			if sm["objecttypecode"] != "account" || sm["attributename"] != tb.attribute {
				continue
			}
			for c, v := range own {
				if strings.EqualFold(c, sm["value"].(string)) && fmt.Sprint(v) != fmt.Sprint(sm["attributevalue"]) {
					t.Errorf("%s: %s matches Dataverse's %q = %v but maps to %v", tb.mapping, c, sm["value"], sm["attributevalue"], v)
				}
			}
		}
	}
}
