package fake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/couplerhq/coupler/connectors"
	"github.com/google/uuid"
)

// This file seeds a small, consistent world for the whole bc-dataverse
// default set: reference data and master data on the ERP, documents that
// point at them, and on the CRM what a fresh Dataverse organization holds
// before the integration runs (users, its currencies, the options its choice
// columns ship with, the default unit group). Everything is deterministic:
// ids are name-based (v5) GUIDs of what the record is, and every choice is a
// hash of the record's number, so two calls with the same n seed the same
// records.

// SeedAll seeds erp (a NewERP server) and crm (a NewCRM server) with a world
// of n customers:
//
//   - ERP reference data: ten salespeople (AH, BC, ... PS), five
//     currencies, payment terms, shipment methods, shipping agents and units
//     of measure, with codes the bundled mappings' option maps know;
//   - ERP master data: Customer(0) to Customer(n-1), each given a salesperson,
//     the currency of its country, payment terms, a shipment method and a
//     shipping agent, every 25th one blocked; n/5 vendors (at least 2); per
//     customer a company contact and, unless it is blocked, one or two
//     persons of it, plus n/10 persons of no company; n/4 items (at least 8);
//     six resources;
//   - ERP documents: opportunities for every fourth customer, n/2 sales
//     orders and n/2 sales invoices (at least 4 of each) of unblocked
//     customers, in every status the API shows, posted invoices pointing at
//     released orders or at none;
//   - CRM: the users SALESPEOPLE reads (one per salesperson, some with
//     differently cased e-mail addresses, two users who are no salesperson
//     yet, and three the user filter leaves out), the base currency and
//     three more, and the default unit group; the options account columns
//     ship with are there from NewCRM on.
//
// Records are stamped by each server's clock, in the order above.
func SeedAll(erp, crm *Server, n int) error {
	w := newWorld(n)
	for _, s := range w.erp {
		for _, rec := range s.records {
			if _, err := erp.Put(s.set, rec); err != nil {
				return fmt.Errorf("seed ERP %s: %w", s.set, err)
			}
		}
	}
	for _, s := range w.crm {
		for _, rec := range s.records {
			if _, err := crm.Put(s.set, rec); err != nil {
				return fmt.Errorf("seed CRM %s: %w", s.set, err)
			}
		}
	}
	return nil
}

// world is what SeedAll puts into the two servers, set by set in seeding
// order, so that tests and demos can look records up without a server.
type world struct {
	erp, crm []setRecords
}

// setRecords are the records of one entity set.
type setRecords struct {
	set     string
	records []connectors.Record
}

// records returns the records of set on side (w.erp or w.crm), or nil.
func records(side []setRecords, set string) []connectors.Record {
	for _, s := range side {
		if s.set == set {
			return s.records
		}
	}
	return nil
}

// SeedID returns the deterministic id of the seed record of kind named
// name, e.g. SeedID("salesperson", "PS"): a name-based (v5) GUID, lower-case.
// CustomerID(i) is SeedID("customer", strconv.Itoa(i)).
func SeedID(kind, name string) string {
	return uuid.NewSHA1(seedSpace, []byte(kind+"/"+name)).String()
}

// zeroGUID is how Business Central renders an empty GUID field.
const zeroGUID = "00000000-0000-0000-0000-000000000000"

// salesperson is a salesperson of the seed world and the Dataverse user
// coupled to it.
type salesperson struct {
	Code, First, Last, Title, Phone string
	// Email is the BC address; the user's may differ in case.
	Email string
}

// seedSalespeople are the BC salespeople of the seed world, coded by their
// initials as the SALESPEOPLE mapping codes users. Customer draws its
// salesperson codes from them.
var seedSalespeople = []salesperson{
	{"AH", "Annette", "Hill", "Sales Manager", "+1 425 555 0101", "annette.hill@cronus.example.com"},
	{"BC", "Benjamin", "Chiu", "Account Manager", "+1 425 555 0102", "benjamin.chiu@cronus.example.com"},
	{"DB", "David", "Baker", "Account Manager", "+1 425 555 0103", "david.baker@cronus.example.com"},
	{"HR", "Helena", "Ray", "Sales Representative", "+1 425 555 0104", "helena.ray@cronus.example.com"},
	{"JO", "Jim", "Olive", "Sales Representative", "+1 425 555 0105", "jim.olive@cronus.example.com"},
	{"JR", "John", "Roberts", "Purchaser", "+1 425 555 0106", "john.roberts@cronus.example.com"},
	{"KH", "Katherine", "Hull", "Key Account Manager", "+1 425 555 0107", "katherine.hull@cronus.example.com"},
	{"MH", "Marty", "Horst", "Purchaser", "+1 425 555 0108", "marty.horst@cronus.example.com"},
	{"OF", "Otis", "Falls", "Sales Representative", "+1 425 555 0109", "otis.falls@cronus.example.com"},
	{"PS", "Peter", "Saddow", "Sales Director", "+1 425 555 0110", "peter.saddow@cronus.example.com"},
}

// code is a row of a BC code table, with the Dataverse option it becomes.
type code struct {
	code, name string
}

// The code tables of the seed world. Their codes are the keys of the option
// maps in the bundled PAYMENT TERMS, SHIPMENT METHOD, SHIPPING AGENT,
// CUSTOMER and VENDOR mappings.
var (
	seedPaymentTerms = []struct {
		code
		due      string
		discount string
	}{
		{code{"NET 30", "Net 30 days"}, "30D", "0"},
		{code{"NET 45", "Net 45 days"}, "45D", "0"},
		{code{"NET 60", "Net 60 days"}, "60D", "0"},
		{code{"COD", "Cash on delivery"}, "0D", "0"},
		{code{"14 DAYS", "Net 14 days"}, "14D", "2"},
		{code{"CM", "Current month"}, "CM", "0"},
	}
	seedShipmentMethods = []code{
		{"FOB", "Free on board"}, {"NO CHARGE", "Delivered free of charge"}, {"EXW", "Ex works"},
		{"CIF", "Cost, insurance and freight"}, {"DDP", "Delivered duty paid"}, {"PICKUP", "Pickup at location"},
	}
	seedShippingAgents = []struct {
		code
		url string
	}{
		{code{"DHL", "DHL Express"}, "https://www.dhl.com/track?id=%1"},
		{code{"FEDEX", "Federal Express Corporation"}, "https://www.fedex.com/fedextrack/?trknbr=%1"},
		{code{"UPS", "UPS"}, "https://www.ups.com/track?tracknum=%1"},
		{code{"OWN LOG.", "Own logistics"}, ""},
	}
	seedUnits = []struct {
		code
		iso string
	}{
		{code{"PCS", "Piece"}, "EA"}, {code{"BOX", "Box"}, "BX"}, {code{"SET", "Set"}, "SET"},
		{code{"KG", "Kilogram"}, "KGM"}, {code{"HOUR", "Hour"}, "HUR"}, {code{"DAY", "Day"}, "DAY"},
	}
	seedCurrencies = []struct {
		code
		symbol, decimals string
		rate             string // units per US dollar, the LCY
	}{
		{code{"EUR", "Euro"}, "€", "2:2", "0.92"},
		{code{"GBP", "British Pound"}, "£", "2:2", "0.79"},
		{code{"CAD", "Canadian Dollar"}, "$", "2:2", "1.36"},
		{code{"DKK", "Danish Krone"}, "kr", "2:2", "6.87"},
		{code{"JPY", "Japanese Yen"}, "¥", "0:0", "151.4"},
	}
	// currencyOf is the currency of a country; the LCY (US) is blank.
	currencyOf = map[string]string{"US": "", "CA": "CAD", "GB": "GBP", "DE": "EUR", "NL": "EUR", "DK": "DKK"}
)

// Dataverse's own options of the account choice columns the code tables
// map to, as a new organization has them.
var dataverseOptions = []shippedChoice{
	{"account", "paymenttermscode", []string{"Net 30", "2% 10, Net 30", "Net 45", "Net 60"}},
	{"account", "address1_freighttermscode", []string{"FOB", "No Charge"}},
	{"account", "address1_shippingmethodcode", []string{"Airborne", "DHL", "FedEx", "UPS", "Postal Mail", "Full Load", "Will Call"}},
	// Columns no mapping touches, which the integration filters leave out.
	{"contact", "paymenttermscode", []string{"Net 30", "2% 10, Net 30", "Net 45", "Net 60"}},
	{"account", "industrycode", []string{"Accounting", "Agriculture and Non-petrol Natural Resource Extraction", "Broadcasting Printing and Publishing", "Brokers"}},
}

// seedResources are the BC resources: people sold by the hour, machines by
// the day.
var seedResources = []struct {
	number, name, typ, unit string
	price, cost             string
}{
	{"LINDA", "Linda Martin", "Person", "HOUR", "95", "55.5"},
	{"MARK", "Mark Hanson", "Person", "HOUR", "90", "52"},
	{"TERRY", "Terry Dodds", "Person", "HOUR", "80", "48.25"},
	{"SOFIA", "Sofia Lind", "Person", "HOUR", "110", "64"},
	{"LIFT", "Lift truck", "Machine", "DAY", "120", "60"},
	{"CRANE", "Mobile crane", "Machine", "DAY", "450", "300"},
}

var (
	firstNames = []string{"Anna", "Ben", "Carla", "Dan", "Elena", "Frank", "Grace", "Hugo", "Ines", "Jonas",
		"Kim", "Lars", "Maria", "Nils", "Olga", "Paul", "Rosa", "Sam", "Tanja", "Victor", "Anna Maria", "Jean Luc"}
	lastNames = []string{"Lopez", "Schmidt", "Nguyen", "Hansen", "Meyer", "Rossi", "Kowalski", "Smith", "Jensen",
		"Dubois", "Novak", "Berg", "Silva", "Fischer", "Murphy", "Wagner", "Olsen", "Costa", "Brown", "Weber"}
	jobTitles  = []string{"Purchasing Manager", "Buyer", "CFO", "Office Manager", "Owner", "Logistics Lead", "Accountant", ""}
	itemPlaces = []string{"ATHENS", "PARIS", "ROME", "BERLIN", "LONDON", "MADRID", "OSLO", "VIENNA", "PRAGUE",
		"AMSTERDAM", "LISBON", "DUBLIN", "WARSAW", "ZURICH", "MUNICH", "ANTWERP"}
	itemKinds = []struct {
		name, unit, typ string
		price           int
	}{
		{"Desk", "PCS", "Inventory", 649}, {"Guest Chair, black", "PCS", "Inventory", 125},
		{"Swivel Chair, blue", "PCS", "Inventory", 189}, {"Conference Table", "PCS", "Inventory", 1210},
		{"Whiteboard", "PCS", "Inventory", 162}, {"Storage Unit", "PCS", "Inventory", 390},
		{"Mouse Pads", "BOX", "Inventory", 24}, {"Cable Kit", "SET", "Inventory", 39},
		{"Coffee Beans", "KG", "Inventory", 18}, {"Assembly Service", "HOUR", "Service", 65},
		{"Lamp", "PCS", "Non-Inventory", 45}, {"Bookcase", "PCS", "Inventory", 270},
	}
	itemMaterials = []string{"Oak", "Beech", "Walnut", "Steel", "Aluminium", "Birch"}
)

// worldCustomer is a seeded customer with what other records need of it.
type worldCustomer struct {
	rec     connectors.Record
	persons []connectors.Record
	company connectors.Record
}

func (c *worldCustomer) blocked() bool { return c.rec["blocked"] != " " }

// newWorld builds the records SeedAll seeds for n customers, without a
// server.
func newWorld(n int) *world {
	w := &world{}
	add := func(side *[]setRecords, set string, recs []connectors.Record) {
		*side = append(*side, setRecords{set: set, records: recs})
	}

	// Reference data.
	var people []connectors.Record
	for _, sp := range seedSalespeople {
		people = append(people, connectors.Record{
			"code": sp.Code, "id": SeedID("salesperson", sp.Code), "displayName": sp.First + " " + sp.Last,
			"email": sp.Email, "phoneNumber": sp.Phone, "jobTitle": sp.Title,
			"commissionPercent": json.Number("2.5"), "blocked": false,
		})
	}
	add(&w.erp, "salespeople", people)
	var currencies []connectors.Record
	for _, c := range seedCurrencies {
		currencies = append(currencies, connectors.Record{
			"code": c.code.code, "id": SeedID("currency", c.code.code), "displayName": c.name, "symbol": c.symbol,
			"amountDecimalPlaces": c.decimals, "amountRoundingPrecision": json.Number("0.01"), "exchangeRate": json.Number(c.rate),
		})
	}
	add(&w.erp, "currencies", currencies)
	var terms []connectors.Record
	for _, t := range seedPaymentTerms {
		terms = append(terms, connectors.Record{
			"id": SeedID("paymentterms", t.code.code), "code": t.code.code, "displayName": t.name,
			"dueDateCalculation": t.due, "discountDateCalculation": "", "discountPercent": json.Number(t.discount),
			"calculateDiscountOnCreditMemos": false,
		})
	}
	add(&w.erp, "paymentTerms", terms)
	var methods []connectors.Record
	for _, m := range seedShipmentMethods {
		methods = append(methods, connectors.Record{"id": SeedID("shipmentmethod", m.code), "code": m.code, "displayName": m.name})
	}
	add(&w.erp, "shipmentMethods", methods)
	var agents []connectors.Record
	for _, a := range seedShippingAgents {
		agents = append(agents, connectors.Record{
			"id": SeedID("shippingagent", a.code.code), "code": a.code.code, "displayName": a.name,
			"internetAddress": a.url, "accountNumber": "",
		})
	}
	add(&w.erp, "shippingAgents", agents)
	var units []connectors.Record
	unitID := map[string]string{}
	for _, u := range seedUnits {
		unitID[u.code.code] = SeedID("unitofmeasure", u.code.code)
		units = append(units, connectors.Record{
			"id": unitID[u.code.code], "code": u.code.code, "displayName": u.name,
			"internationalStandardCode": u.iso, "symbol": "",
		})
	}
	add(&w.erp, "unitsOfMeasure", units)

	// Customers and their contacts.
	customers := make([]*worldCustomer, n)
	var customerRecs, contacts []connectors.Record
	contactNo := 0
	nextContact := func() string { contactNo++; return fmt.Sprintf("CT%06d", 10*contactNo) }
	for i := range n {
		c := &worldCustomer{rec: seedCustomer(i)}
		customers[i] = c
		customerRecs = append(customerRecs, c.rec)
		company := connectors.Record{
			"id": SeedID("contact/company", strconv.Itoa(i)), "number": nextContact(), "type": "Company",
			"displayName": c.rec["displayName"], "companyNumber": "", "companyName": c.rec["displayName"],
			"customerId": c.rec["id"], "jobTitle": "",
		}
		copyAddress(company, c.rec)
		company["companyNumber"] = company["number"]
		c.company = company
		contacts = append(contacts, company)
		// Persons of unblocked customers only: the contacts of a customer
		// that is not coupled could not be synchronized.
		persons := 0
		switch {
		case c.blocked():
		case i%3 == 0:
			persons = 2
		default:
			persons = 1
		}
		for p := range persons {
			person := seedPerson(fmt.Sprintf("%d/%d", i, p), nextContact(), c.rec)
			person["companyNumber"], person["companyName"], person["customerId"] = company["number"], c.rec["displayName"], c.rec["id"]
			c.persons = append(c.persons, person)
			contacts = append(contacts, person)
		}
	}
	for k := range n / 10 {
		// Private persons, of no company: the CONTACT filter leaves them out.
		loc := locations[int(mix(uint64(k)+7)%uint64(len(locations)))]
		person := seedPerson("private/"+strconv.Itoa(k), nextContact(), connectors.Record{
			"city": loc.city, "state": loc.state, "country": loc.country, "postalCode": loc.postal(k % 90),
			"phoneNumber": loc.phone + " 555 0000", "addressLine1": fmt.Sprintf("%d %s", 10+k, streets[k%len(streets)]),
			"addressLine2": "", "website": "home.example.com",
		})
		person["companyNumber"], person["companyName"], person["customerId"] = "", "", zeroGUID
		contacts = append(contacts, person)
	}
	add(&w.erp, "customers", customerRecs)

	var vendors []connectors.Record
	for i := range max(2, n/5) {
		vendors = append(vendors, seedVendor(i))
	}
	add(&w.erp, "vendors", vendors)
	add(&w.erp, "contacts", contacts)

	// Items and resources.
	var items []connectors.Record
	for i := range max(8, n/4) {
		items = append(items, seedItem(i, unitID))
	}
	add(&w.erp, "items", items)
	var resources []connectors.Record
	for _, r := range seedResources {
		resources = append(resources, connectors.Record{
			"id": SeedID("resource", r.number), "number": r.number, "displayName": r.name, "type": r.typ,
			"baseUnitOfMeasureId": unitID[r.unit], "baseUnitOfMeasureCode": r.unit,
			"unitPrice": json.Number(r.price), "unitCost": json.Number(r.cost), "blocked": false,
		})
	}
	add(&w.erp, "resources", resources)

	// Documents, of unblocked customers only: a blocked customer is not
	// coupled, so its documents could not be synchronized.
	var active []*worldCustomer
	for _, c := range customers {
		if !c.blocked() {
			active = append(active, c)
		}
	}
	var opportunities []connectors.Record
	for i, c := range customers {
		if i%4 != 0 || c.blocked() {
			continue
		}
		opportunities = append(opportunities, seedOpportunity(len(opportunities), c, items))
	}
	add(&w.erp, "opportunities", opportunities)
	var orders, released []connectors.Record
	if len(active) > 0 {
		for k := range max(4, n/2) {
			o := seedOrder(k, active[(k*7)%len(active)], items)
			orders = append(orders, o)
			if o["status"] == "Open" {
				released = append(released, o)
			}
		}
	}
	add(&w.erp, "salesOrders", orders)
	var invoices []connectors.Record
	if len(active) > 0 {
		for k := range max(4, n/2) {
			var order connectors.Record
			if k%2 == 0 && len(released) > 0 {
				order = released[(k/2)%len(released)]
			}
			invoices = append(invoices, seedInvoice(k, active[(k*5+3)%len(active)], order, items))
		}
	}
	add(&w.erp, "salesInvoices", invoices)

	// The CRM as a new organization has it.
	add(&w.crm, "systemusers", seedUsers())
	add(&w.crm, "transactioncurrencies", []connectors.Record{
		dvCurrency("USD", "US Dollar", "$", "1"),
		dvCurrency("EUR", "Euro", "€", "0.92"),
		dvCurrency("GBP", "Pound Sterling", "£", "0.79"),
		dvCurrency("CAD", "Canadian Dollar", "CA$", "1.36"),
	})
	add(&w.crm, "uomschedules", []connectors.Record{{
		"uomscheduleid": SeedID("uomschedule", "Default Unit"), "name": "Default Unit",
		"baseuomname": "Primary Unit", "description": "Default unit group", "statecode": 0, "statuscode": 1,
	}})
	return w
}

// pick returns a pseudo-random index below n for the record named key and
// the choice named what.
func pick(key, what string, n int) int {
	h := uint64(14695981039346656037)
	for _, b := range []byte(key + "/" + what) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return int(mix(h) % uint64(n))
}

// seedCustomer is Customer(i) with the codes of the seed world: a
// salesperson for every customer, the currency of its country, payment
// terms, shipment method and shipping agent (some blank), and every 25th
// customer blocked.
func seedCustomer(i int) connectors.Record {
	c := Customer(i)
	key := strconv.Itoa(i)
	if c["salespersonCode"] == "" {
		c["salespersonCode"] = seedSalespeople[pick(key, "salesperson", len(seedSalespeople))].Code
	}
	c["currencyCode"] = currencyOf[c["country"].(string)]
	c["paymentTermsCode"] = seedPaymentTerms[pick(key, "terms", len(seedPaymentTerms))].code.code
	c["shipmentMethodCode"] = ""
	if j := pick(key, "shipment", len(seedShipmentMethods)+2); j < len(seedShipmentMethods) {
		c["shipmentMethodCode"] = seedShipmentMethods[j].code
	}
	c["shippingAgentCode"] = ""
	if j := pick(key, "agent", len(seedShippingAgents)+1); j < len(seedShippingAgents) {
		c["shippingAgentCode"] = seedShippingAgents[j].code.code
	}
	if i%25 == 24 {
		c["blocked"] = []string{"Ship", "Invoice", "All"}[i/25%3]
	}
	return c
}

// seedVendor returns vendor i, named from the far end of the customers'
// name space so that vendors and customers differ for n below 16,000.
func seedVendor(i int) connectors.Record {
	key := strconv.Itoa(i)
	name, slug := companyName(31999 - i)
	loc := locations[pick(key, "location", len(locations))]
	blocked := " "
	switch {
	case i%11 == 10:
		blocked = "All"
	case i%7 == 6:
		blocked = "Payment"
	}
	return connectors.Record{
		"id":               SeedID("vendor", key),
		"number":           fmt.Sprintf("V%05d", 10*(i+1)),
		"displayName":      name,
		"addressLine1":     fmt.Sprintf("%d %s", 1+pick(key, "street no", 9899), streets[pick(key, "street", len(streets))]),
		"addressLine2":     "",
		"city":             loc.city,
		"state":            loc.state,
		"country":          loc.country,
		"postalCode":       loc.postal(pick(key, "postal", 90)),
		"phoneNumber":      fmt.Sprintf("%s 555 %04d", loc.phone, pick(key, "phone", 10000)),
		"email":            "orders@" + slug + ".example.com",
		"website":          "www." + slug + ".example.com",
		"purchaserCode":    []string{"JR", "MH"}[i%2],
		"currencyCode":     currencyOf[loc.country],
		"paymentTermsCode": seedPaymentTerms[pick(key, "terms", len(seedPaymentTerms))].code.code,
		"balance":          json.Number(strconv.Itoa(pick(key, "balance", 500) * 100)),
		"blocked":          blocked,
	}
}

// seedPerson returns a person contact numbered number, living at the
// address of rec (a customer or an address-only record).
func seedPerson(key, number string, rec connectors.Record) connectors.Record {
	first := firstNames[pick(key, "first", len(firstNames))]
	last := lastNames[pick(key, "last", len(lastNames))]
	domain := "example.com"
	if web, _ := rec["website"].(string); web != "" {
		domain = strings.TrimPrefix(web, "www.")
	}
	mail := strings.ToLower(strings.ReplaceAll(first, " ", "") + "." + last + "@" + domain)
	p := connectors.Record{
		"id":                SeedID("contact/person", key),
		"number":            number,
		"type":              "Person",
		"displayName":       first + " " + last,
		"jobTitle":          jobTitles[pick(key, "title", len(jobTitles))],
		"email":             mail,
		"mobilePhoneNumber": fmt.Sprintf("+1 555 %04d", pick(key, "mobile", 10000)),
		"privacyBlocked":    false,
	}
	copyAddress(p, rec)
	return p
}

// copyAddress copies a customer's address and phone number to a contact.
func copyAddress(dst, src connectors.Record) {
	for _, f := range []string{"addressLine1", "addressLine2", "city", "state", "country", "postalCode", "phoneNumber"} {
		dst[f] = src[f]
	}
}

// seedItem returns item i, numbered from 1000.
func seedItem(i int, unitID map[string]string) connectors.Record {
	key := strconv.Itoa(i)
	kind := itemKinds[i%len(itemKinds)]
	place := itemPlaces[i/len(itemKinds)%len(itemPlaces)]
	name := place + " " + kind.name
	if round := i / (len(itemKinds) * len(itemPlaces)); round > 0 {
		name += fmt.Sprintf(" (%d)", round+1)
	}
	cents := kind.price*100 + pick(key, "price", 40)*25
	cost := cents * 78 / 100
	return connectors.Record{
		"id":                    SeedID("item", key),
		"number":                strconv.Itoa(1000 + i),
		"displayName":           name,
		"displayName2":          itemMaterials[pick(key, "material", len(itemMaterials))],
		"type":                  kind.typ,
		"itemCategoryCode":      "",
		"blocked":               i%13 == 12,
		"gtin":                  "",
		"inventory":             json.Number(strconv.Itoa(pick(key, "inventory", 200))),
		"unitPrice":             money(cents),
		"priceIncludesTax":      false,
		"unitCost":              money(cost),
		"baseUnitOfMeasureId":   unitID[kind.unit],
		"baseUnitOfMeasureCode": kind.unit,
	}
}

// money renders cents as a decimal json.Number with no trailing zeros.
func money(cents int) json.Number {
	s := fmt.Sprintf("%d.%02d", cents/100, cents%100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return json.Number(s)
}

// day returns the date d days after 2025-01-01 as an Edm.Date.
func day(d int) string {
	y, m, dd := 2025, 1, 1+d
	monthDays := []int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for dd > monthDays[m-1] {
		dd -= monthDays[m-1]
		m++
		if m > 12 {
			m, y = 1, y+1
		}
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, dd)
}

// seedOpportunity returns opportunity k of customer c for one of items.
func seedOpportunity(k int, c *worldCustomer, items []connectors.Record) connectors.Record {
	key := strconv.Itoa(k)
	item := items[pick(key, "item", len(items))]
	qty := 2 + pick(key, "qty", 40)
	status := []string{"Not Started", "In Progress", "In Progress", "Won", "Lost"}[k%5]
	contact := c.persons[0]
	price, _ := strconv.ParseFloat(string(item["unitPrice"].(json.Number)), 64)
	return connectors.Record{
		"id":                   SeedID("opportunity", key),
		"number":               fmt.Sprintf("OP%06d", 10*(k+1)),
		"description":          fmt.Sprintf("%s: %d %s", strings.SplitN(c.rec["displayName"].(string), " ", 2)[0], qty, item["displayName"]),
		"status":               status,
		"closed":               status == "Won" || status == "Lost",
		"contactNumber":        contact["number"],
		"contactName":          contact["displayName"],
		"contactCompanyName":   c.rec["displayName"],
		"contactId":            contact["id"],
		"customerId":           c.rec["id"],
		"salespersonCode":      c.rec["salespersonCode"],
		"creationDate":         day(pick(key, "created", 60)),
		"estimatedValue":       money(int(float64(qty)*price) * 100),
		"estimatedClosingDate": day(90 + pick(key, "closing", 120)),
		"chancesOfSuccessPrc":  json.Number([]string{"10", "25", "40", "50", "60", "75", "90"}[pick(key, "chances", 7)]),
	}
}

// taxRate is the sales tax of a country, in percent.
func taxRate(country string) int {
	switch country {
	case "US", "CA":
		return 8
	case "DK":
		return 25
	case "DE":
		return 19
	}
	return 20
}

// amounts computes a document's totals in cents: qty of item, a discount
// on some, tax by country.
func amounts(key string, c connectors.Record, items []connectors.Record) (discount, excl, tax int) {
	item := items[pick(key, "item", len(items))]
	qty := 1 + pick(key, "qty", 25)
	price, _ := strconv.ParseFloat(string(item["unitPrice"].(json.Number)), 64)
	gross := int(float64(qty) * price * 100)
	if pick(key, "discount", 3) == 0 {
		discount = gross / 20
	}
	excl = gross - discount
	tax = excl * taxRate(c["country"].(string)) / 100
	return discount, excl, tax
}

// seedOrder returns sales order k of customer c. API v2.0 statuses: Draft
// (BC Open), In Review (Pending Approval), Open (Released).
func seedOrder(k int, c *worldCustomer, items []connectors.Record) connectors.Record {
	key := strconv.Itoa(k)
	cust := c.rec
	discount, excl, tax := amounts("order/"+key, cust, items)
	ordered := pick(key, "ordered", 60)
	return connectors.Record{
		"id":                      SeedID("salesorder", key),
		"number":                  fmt.Sprintf("S-ORD%06d", 101001+k),
		"externalDocumentNumber":  fmt.Sprintf("PO-%d", 4000+pick(key, "po", 6000)),
		"orderDate":               day(ordered),
		"postingDate":             day(ordered),
		"customerId":              cust["id"],
		"customerNumber":          cust["number"],
		"customerName":            cust["displayName"],
		"shipToName":              cust["displayName"],
		"shipToContact":           c.persons[0]["displayName"],
		"shipToAddressLine1":      cust["addressLine1"],
		"shipToAddressLine2":      cust["addressLine2"],
		"shipToCity":              cust["city"],
		"shipToState":             cust["state"],
		"shipToCountry":           cust["country"],
		"shipToPostCode":          cust["postalCode"],
		"currencyCode":            cust["currencyCode"],
		"salesperson":             cust["salespersonCode"],
		"requestedDeliveryDate":   day(ordered + 7 + pick(key, "delivery", 21)),
		"discountAmount":          money(discount),
		"totalAmountExcludingTax": money(excl),
		"totalTaxAmount":          money(tax),
		"totalAmountIncludingTax": money(excl + tax),
		"fullyShipped":            false,
		"status":                  []string{"Draft", "Open", "Open", "In Review"}[k%4],
	}
}

// seedInvoice returns sales invoice k of customer c, posted from order when
// it is not nil (then of the order's customer). Drafts (status Draft or In
// Review) carry BC's draft numbers, posted ones the posted numbers.
func seedInvoice(k int, c *worldCustomer, order connectors.Record, items []connectors.Record) connectors.Record {
	key := strconv.Itoa(k)
	cust := c.rec
	status := []string{"Open", "Paid", "Paid", "Draft", "Canceled", "In Review", "Open", "Corrective"}[k%8]
	if order != nil && (status == "Draft" || status == "In Review") {
		status = "Open" // an invoice posted from an order is never a draft
	}
	orderID, orderNo := zeroGUID, ""
	var discount, excl, tax int
	if order != nil {
		orderID, orderNo = order["id"].(string), order["number"].(string)
		cust = connectors.Record{"id": order["customerId"], "number": order["customerNumber"], "displayName": order["customerName"],
			"city": order["shipToCity"], "country": order["shipToCountry"], "currencyCode": order["currencyCode"],
			"salespersonCode": order["salesperson"]}
		discount, excl, tax = cents(order["discountAmount"]), cents(order["totalAmountExcludingTax"]), cents(order["totalTaxAmount"])
	} else {
		discount, excl, tax = amounts("invoice/"+key, cust, items)
	}
	number := fmt.Sprintf("%d", 103001+k)
	if status == "Draft" || status == "In Review" {
		number = fmt.Sprintf("S-INV%06d", 102001+k)
	}
	remaining := money(excl + tax)
	if status != "Open" {
		remaining = "0"
	}
	invoiced := 60 + pick(key, "invoiced", 60)
	return connectors.Record{
		"id":                      SeedID("salesinvoice", key),
		"number":                  number,
		"externalDocumentNumber":  "",
		"invoiceDate":             day(invoiced),
		"postingDate":             day(invoiced),
		"dueDate":                 day(invoiced + 30),
		"customerId":              cust["id"],
		"customerNumber":          cust["number"],
		"customerName":            cust["displayName"],
		"billToName":              cust["displayName"],
		"billToCity":              cust["city"],
		"billToCountry":           cust["country"],
		"currencyCode":            cust["currencyCode"],
		"orderId":                 orderID,
		"orderNumber":             orderNo,
		"salesperson":             cust["salespersonCode"],
		"discountAmount":          money(discount),
		"totalAmountExcludingTax": money(excl),
		"totalTaxAmount":          money(tax),
		"totalAmountIncludingTax": money(excl + tax),
		"remainingAmount":         remaining,
		"status":                  status,
	}
}

// cents parses a money json.Number back into cents.
func cents(v any) int {
	f, _ := strconv.ParseFloat(string(v.(json.Number)), 64)
	if f < 0 {
		return int(f*100 - 0.5)
	}
	return int(f*100 + 0.5)
}

// seedUsers returns the Dataverse users: one per salesperson (a few with
// their e-mail address cased differently, which matching ignores), two
// licensed users with no salesperson yet, and three that the SALESPEOPLE
// filter leaves out.
func seedUsers() []connectors.Record {
	user := func(first, last, mail, phone, title string, disabled, licensed bool, access int) connectors.Record {
		full := strings.TrimSpace(first + " " + last)
		return connectors.Record{
			"systemuserid": SeedID("systemuser", strings.ToLower(mail)), "fullname": full,
			"firstname": first, "lastname": last, "internalemailaddress": mail,
			"domainname": mail, "mobilephone": phone, "title": title,
			"isdisabled": disabled, "islicensed": licensed, "accessmode": access,
		}
	}
	var out []connectors.Record
	for i, sp := range seedSalespeople {
		mail := sp.Email
		if i%3 == 0 {
			// Outlook-style capitals: Annette.Hill@cronus.example.com.
			at := strings.IndexByte(mail, '@')
			mail = titleWords(mail[:at]) + mail[at:]
		}
		out = append(out, user(sp.First, sp.Last, mail, sp.Phone, sp.Title, false, true, 0))
	}
	out = append(out,
		user("Nancy", "Davolio", "nancy.davolio@cronus.example.com", "+1 425 555 0111", "Sales Representative", false, true, 0),
		user("Rob", "Walters", "rob.walters@cronus.example.com", "+1 425 555 0112", "Inside Sales", false, true, 0),
		user("Sara", "Davis", "sara.davis@cronus.example.com", "", "Sales Representative (left)", true, true, 0),
		user("Guest", "Reader", "guest.reader@cronus.example.com", "", "Auditor", false, false, 2),
		user("", "# Business Central", "bcintegration@cronus.example.com", "", "Integration", false, false, 4),
	)
	return out
}

// titleWords capitalizes each dot-separated word: annette.hill -> Annette.Hill.
func titleWords(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".")
}

// dvCurrency is a Dataverse transaction currency.
func dvCurrency(iso, name, symbol, rate string) connectors.Record {
	return connectors.Record{
		"transactioncurrencyid": SeedID("transactioncurrency", iso), "isocurrencycode": iso,
		"currencyname": name, "currencysymbol": symbol, "currencyprecision": 2,
		"exchangerate": json.Number(rate), "statecode": 0, "statuscode": 1,
	}
}
