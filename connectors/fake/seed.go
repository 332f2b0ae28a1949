package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/couplerhq/coupler/connectors"
	"github.com/google/uuid"
)

// customerFields is the field order of a Business Central API v2.0 customer.
var customerFields = []string{
	"id", "number", "displayName", "type", "addressLine1", "addressLine2", "city", "state",
	"country", "postalCode", "phoneNumber", "email", "website", "salespersonCode",
	"creditLimit", "currencyCode", "blocked", "lastModifiedDateTime",
}

// accountFields is the order of the Dataverse account columns coupler maps.
var accountFields = []string{
	"accountid", "name", "accountnumber", "telephone1", "emailaddress1", "websiteurl",
	"address1_line1", "address1_line2", "address1_city", "address1_stateorprovince",
	"address1_postalcode", "address1_country", "creditlimit", "customertypecode", "statecode",
	"_ownerid_value", "_transactioncurrencyid_value", "modifiedon",
}

// NewERP returns a server shaped like Business Central's API v2.0, as
// strict as it: every entity set is served only below the one company,
// companies(BCCompanyID)/customers and so on, with a read-only companies
// set at the service root, and $metadata and $batch only at the root (see
// company.go; BCCompanyURL gives the base URL a user writes). The set
// "customers" is keyed by "id", stamped in "lastModifiedDateTime" with
// millisecond precision, refusing a PATCH or DELETE without If-Match (send
// "*" for an unconditional one) and a $filter whose or joins two different
// fields, and beside it every other set the bundled
// bc-dataverse mappings read: vendors, contacts, salespeople, currencies,
// paymentTerms, shipmentMethods, shippingAgents, unitsOfMeasure, items,
// resources, opportunities, salesOrders and salesInvoices, shaped the same
// way and typed for $metadata. Its /$batch takes JSON, which Business
// Central documents ("Using OData transactional $batch requests":
// Content-Type application/json, "Required for JSON Batch content"), and
// multipart. Seed it with SeedCustomers, or with SeedAll for the whole
// default set.
func NewERP() *Server {
	s := New(bcEntitySets()...)
	s.SetNamespace("Microsoft.NAV")
	// "Using filter expressions in OData URIs" (Business Central) lists the
	// filters it supports: comparisons, and/or/not, in, and the string
	// functions contains, startswith and endswith; no case functions.
	s.refusedFunctions = caseFunctions("Business Central's OData filters are comparisons, contains, startswith and endswith (Using filter expressions in OData URIs)")
	s.scopeToCompany(BCCompanyID, bcCompanyName)
	s.batchParts = maxBCBatchParts
	// The same page: "you can't use OR operators to apply filters on two
	// different fields".
	s.oneFieldOr = true
	return s
}

// caseFunctions refuses the OData string functions that change or trim
// text, which neither Business Central nor Dataverse implements, for why.
func caseFunctions(why string) map[string]string {
	return map[string]string{"tolower": why, "toupper": why, "trim": why}
}

// NewCRM returns a server shaped like the Dataverse Web API: the set
// "accounts" keyed by "accountid", stamped in "modifiedon" with second
// precision, and beside it every other set the bundled bc-dataverse mappings
// use: contacts, systemusers, transactioncurrencies, stringmaps,
// uomschedules, products, opportunities, salesorders and invoices, with their
// lookups (ownerid -> systemusers, ...) declared. Its /$batch takes the
// multipart format only, as Dataverse documents (see serveBatch). It
// starts empty but for the options its choice columns ship with
// (account.paymenttermscode and others), which are read and changed as
// Dataverse documents it: from the column's definition and with the
// InsertOptionValue, UpdateOptionValue and DeleteOptionValue actions,
// stringmaps listing them read-only (optionsets.go).
func NewCRM() *Server {
	s := New(dataverseEntitySets()...)
	s.SetNamespace("Microsoft.Dynamics.CRM")
	// "Filter rows using OData" (Dataverse Web API): the OData query
	// functions it supports are contains, endswith and startswith; the
	// rest of its functions are its own (Microsoft.Dynamics.CRM.*).
	s.refusedFunctions = caseFunctions("the Dataverse Web API implements the OData functions contains, endswith and startswith only (Filter rows using OData)")
	s.SetBatchFormats(BatchMultipart)
	trackCRMChanges(s)
	s.serveChoices(dataverseOptions)
	return s
}

// SeedCustomers puts Customer(0) to Customer(n-1) into the set "customers".
func SeedCustomers(s *Server, n int) error {
	for i := range n {
		if _, err := s.Put("customers", Customer(i)); err != nil {
			return fmt.Errorf("seed customer %d: %w", i, err)
		}
	}
	return nil
}

// Body is what s answers a GET of target (a path below the service root,
// with its query) with the Prefer header prefer (none when empty), as it
// goes over the wire: for tests and benchmarks that decode the fake's pages
// without a client. An answer other than 200 OK is an error.
func Body(s *Server, target, prefer string) ([]byte, error) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", target, w.Code, w.Body)
	}
	return w.Body.Bytes(), nil
}

// seedSpace is the UUID namespace of the seed ids.
var seedSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/couplerhq/coupler/connectors/fake"))

// CustomerID returns the id of Customer(i) without building the record:
// a name-based (v5) GUID of i, lower-case.
func CustomerID(i int) string {
	return uuid.NewSHA1(seedSpace, []byte("customer/"+strconv.Itoa(i))).String()
}

// Customer returns customer number i as Business Central renders it. The
// result depends only on i: the id is a name-based (v5) GUID of i, the
// number is "C" followed by 10*(i+1) in at least five digits ("C00010" for
// i = 0), and displayName is unique for i below 320,000. Numbers are
// json.Number; a blank Blocked is a single space, as BC renders it.
func Customer(i int) connectors.Record {
	h := mix(uint64(i))
	pick := func(n int) int { // a different pseudo-random choice per call
		h = mix(h)
		return int(h % uint64(n))
	}
	name, slug := companyName(i)
	loc := locations[pick(len(locations))]
	street := fmt.Sprintf("%d %s", 1+pick(9899), streets[pick(len(streets))])
	line2 := ""
	switch pick(8) {
	case 0:
		line2 = fmt.Sprintf("Suite %d", 100+pick(900))
	case 1:
		line2 = fmt.Sprintf("Floor %d", 2+pick(40))
	}
	return connectors.Record{
		"id":              CustomerID(i),
		"number":          fmt.Sprintf("C%05d", 10*(i+1)),
		"displayName":     name,
		"type":            "Company",
		"addressLine1":    street,
		"addressLine2":    line2,
		"city":            loc.city,
		"state":           loc.state,
		"country":         loc.country,
		"postalCode":      loc.postal(pick(90)),
		"phoneNumber":     fmt.Sprintf("%s 555 %04d", loc.phone, pick(10000)),
		"email":           mailboxes[pick(len(mailboxes))] + "@" + slug + ".example.com",
		"website":         "www." + slug + ".example.com",
		"salespersonCode": salespeople[pick(len(salespeople))],
		"creditLimit":     json.Number(creditLimits[pick(len(creditLimits))]),
		"currencyCode":    "",
		"blocked":         " ",
	}
}

// mix is the SplitMix64 finaliser: a cheap, well-spread hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// companyName returns a unique name for i, and a slug of it for addresses.
// The first 32,000 customers get distinct brand+trade+suffix combinations,
// visited in a scrambled order (a stride coprime with 32,000); later ones add
// a branch qualifier.
func companyName(i int) (name, slug string) {
	combos := len(brands) * len(trades) * len(suffixes)
	j := i % combos * 7919 % combos // 7919 is prime and does not divide 32,000
	brand := brands[j%len(brands)]
	trade := trades[j/len(brands)%len(trades)]
	suffix := suffixes[j/(len(brands)*len(trades))]
	branch := branches[i/combos%len(branches)]
	name = brand + " " + trade + branch + suffix
	slug = strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, brand+trade+branch)
	return name, slug
}

var (
	brands = []string{
		"Adatum", "Alpine", "Aurora", "Beacon", "Blue Yonder", "Cedar", "Coho", "Contoso",
		"Cobalt", "Crescent", "Evergreen", "Fabrikam", "Falcon", "Fourth Coffee", "Golden Gate",
		"Granite", "Harbor", "Horizon", "Ironwood", "Juniper", "Keystone", "Lakeside", "Litware",
		"Lucerne", "Maple", "Margie's", "Meridian", "Northstar", "Northwind", "Oakridge",
		"Pinnacle", "Pioneer", "Proseware", "Redwood", "Relecloud", "Riverbend", "Silver Lake",
		"Southridge", "Sterling", "Summit", "Sunrise", "Tailspin", "Trailhead", "Trey",
		"Valley", "Westfield", "Wide World", "Wingtip", "Woodgrove", "Zephyr",
	}
	trades = []string{
		"Apparel", "Bakery", "Bikes", "Brewing", "Coffee", "Construction", "Dental", "Electronics",
		"Energy", "Farms", "Foods", "Furniture", "Garden Supply", "Hardware", "Instruments", "Labs",
		"Logistics", "Manufacturing", "Marine", "Metalworks", "Motors", "Music", "Optics",
		"Outfitters", "Packaging", "Paper", "Pharmacy", "Plastics", "Printing", "Robotics",
		"Software", "Solar", "Sports", "Studios", "Textiles", "Tools", "Toys", "Trading",
		"Travel", "Wines",
	}
	suffixes = []string{
		"", " Inc.", " Ltd.", " LLC", " Corp.", " Co.", " Group", " & Sons", " Partners",
		" Holdings", " Associates", " Enterprises", " International", " Supply", " Works", " Ventures",
	}
	branches = []string{
		"", " West", " East", " North", " South", " Central", " Pacific", " Atlantic", " Midwest", " Coastal",
	}
	streets = []string{
		"Main Street", "Oak Avenue", "1st Avenue", "Pine Street", "Maple Drive", "Lake Road",
		"Market Street", "Elm Street", "Park Avenue", "Cedar Lane", "Hillcrest Road", "River Road",
		"Washington Boulevard", "Sunset Boulevard", "Broadway", "Industrial Way", "Commerce Drive",
		"Harbor View", "College Avenue", "Center Street",
	}
	mailboxes    = []string{"info", "sales", "orders", "accounts", "purchasing", "hello"}
	salespeople  = []string{"AH", "BC", "DB", "HR", "JO", "JR", "KH", "MH", "OF", "PS", ""}
	creditLimits = []string{"0", "1000", "2500", "5000", "5000", "10000", "15000", "25000", "50000", "12500.75"}
)

// location is a city with its address conventions.
type location struct {
	city, state, country string
	phone                string // country and area code
	zip                  int    // US: first ZIP code of the city; 0 elsewhere
	fixed                string // postal code outside the US
}

// postal returns a postal code in the city; n varies US ZIP codes.
func (l location) postal(n int) string {
	if l.zip == 0 {
		return l.fixed
	}
	return fmt.Sprintf("%05d", l.zip+n)
}

var locations = []location{
	{city: "Seattle", state: "WA", country: "US", phone: "+1 206", zip: 98101},
	{city: "Redmond", state: "WA", country: "US", phone: "+1 425", zip: 98052},
	{city: "Portland", state: "OR", country: "US", phone: "+1 503", zip: 97201},
	{city: "San Francisco", state: "CA", country: "US", phone: "+1 415", zip: 94102},
	{city: "Los Angeles", state: "CA", country: "US", phone: "+1 213", zip: 90001},
	{city: "Phoenix", state: "AZ", country: "US", phone: "+1 602", zip: 85001},
	{city: "Denver", state: "CO", country: "US", phone: "+1 303", zip: 80202},
	{city: "Salt Lake City", state: "UT", country: "US", phone: "+1 801", zip: 84101},
	{city: "Dallas", state: "TX", country: "US", phone: "+1 214", zip: 75201},
	{city: "Houston", state: "TX", country: "US", phone: "+1 713", zip: 77002},
	{city: "Minneapolis", state: "MN", country: "US", phone: "+1 612", zip: 55401},
	{city: "Chicago", state: "IL", country: "US", phone: "+1 312", zip: 60601},
	{city: "Detroit", state: "MI", country: "US", phone: "+1 313", zip: 48201},
	{city: "Columbus", state: "OH", country: "US", phone: "+1 614", zip: 43215},
	{city: "Nashville", state: "TN", country: "US", phone: "+1 615", zip: 37201},
	{city: "Atlanta", state: "GA", country: "US", phone: "+1 404", zip: 30303},
	{city: "Miami", state: "FL", country: "US", phone: "+1 305", zip: 33125},
	{city: "Raleigh", state: "NC", country: "US", phone: "+1 919", zip: 27601},
	{city: "New York", state: "NY", country: "US", phone: "+1 212", zip: 10001},
	{city: "Boston", state: "MA", country: "US", phone: "+1 617", zip: 2108},
	{city: "Toronto", state: "ON", country: "CA", phone: "+1 416", fixed: "M5H 2N2"},
	{city: "Vancouver", state: "BC", country: "CA", phone: "+1 604", fixed: "V6B 1A1"},
	{city: "London", country: "GB", phone: "+44 20", fixed: "EC1A 1BB"},
	{city: "Manchester", country: "GB", phone: "+44 161", fixed: "M1 1AE"},
	{city: "Berlin", country: "DE", phone: "+49 30", fixed: "10115"},
	{city: "Munich", country: "DE", phone: "+49 89", fixed: "80331"},
	{city: "Copenhagen", country: "DK", phone: "+45 33", fixed: "1050"},
	{city: "Amsterdam", country: "NL", phone: "+31 20", fixed: "1012 AB"},
}
