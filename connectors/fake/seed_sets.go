package fake

import "time"

// This file declares the entity sets NewERP and NewCRM serve: every set the
// bundled bc-dataverse mappings read or write, with the fields, EDM types
// and (on the CRM) lookups of the real services. Sets that Business Central's
// API v2.0 lacks (salespeople, shippingAgents, resources) and fields it lacks
// (paymentTermsCode on customers, customerId on contacts, ...) are shaped
// like the custom API pages the mapping files describe.

// EDM types used below.
const (
	edmString   = "Edm.String"
	edmGUID     = "Edm.Guid"
	edmDecimal  = "Edm.Decimal"
	edmInt32    = "Edm.Int32"
	edmBoolean  = "Edm.Boolean"
	edmDate     = "Edm.Date"
	edmDateTime = "Edm.DateTimeOffset"
)

// field is one declared field: its name and EDM type.
type field struct{ name, typ string }

// setSpec is an entity set as declared here, before it becomes an EntitySet.
type setSpec struct {
	name, key string
	fields    []field
	// lookups maps a navigation property to its target set (CRM only).
	lookups map[string]string
	// polymorphic maps a multi-table lookup to its target sets (CRM only).
	polymorphic map[string][]string
}

// bcSet makes a Business Central set: stamped in lastModifiedDateTime with
// millisecond precision, refusing a PATCH without If-Match.
func bcSet(s setSpec) EntitySet {
	e := entitySet(s)
	e.Modified = "lastModifiedDateTime"
	e.ModifiedPrecision = time.Millisecond
	e.RequireIfMatch = true
	return e
}

// dvSet makes a Dataverse set: stamped in modifiedon with second precision,
// or unstamped when it has no modifiedon (stringmaps).
func dvSet(s setSpec) EntitySet {
	e := entitySet(s)
	for _, f := range s.fields {
		if f.name == "modifiedon" {
			e.Modified = "modifiedon"
			e.ModifiedPrecision = time.Second
		}
	}
	e.Lookups = s.lookups
	e.Polymorphic = s.polymorphic
	if e.Types["statecode"] != "" && e.Types["statuscode"] != "" {
		e.CreateDefaults = map[string]string{"statecode": "0", "statuscode": "1"}
	}
	return e
}

func entitySet(s setSpec) EntitySet {
	e := EntitySet{Name: s.name, Key: s.key, Types: map[string]string{}}
	for _, f := range s.fields {
		if f.name != s.key {
			e.Fields = append(e.Fields, f.name)
		}
		e.Types[f.name] = f.typ
	}
	return e
}

// strs declares string fields.
func strs(names ...string) []field {
	out := make([]field, len(names))
	for i, n := range names {
		out[i] = field{n, edmString}
	}
	return out
}

// cat concatenates field lists.
func cat(lists ...[]field) []field {
	var out []field
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var (
	bcStamp = []field{{"lastModifiedDateTime", edmDateTime}}
	dvStamp = []field{{"modifiedon", edmDateTime}}
	dvState = []field{{"statecode", edmInt32}, {"statuscode", edmInt32}}
)

// bcCustomerFields is the customers set: customerFields (the API v2.0
// fields Customer fills), with the codes the CUSTOMER mapping reads from a
// page extension placed before lastModifiedDateTime.
var bcCustomerFields = func() []field {
	var out []field
	for _, n := range customerFields {
		switch n {
		case "id":
			out = append(out, field{n, edmGUID})
		case "creditLimit":
			out = append(out, field{n, edmDecimal})
		case "lastModifiedDateTime":
			out = append(out, strs("paymentTermsCode", "shipmentMethodCode", "shippingAgentCode")...)
			out = append(out, field{n, edmDateTime})
		default:
			out = append(out, field{n, edmString})
		}
	}
	return out
}()

// bcEntitySets are the sets of the fake Business Central, customers first.
func bcEntitySets() []EntitySet {
	specs := []setSpec{
		{name: "customers", key: "id", fields: bcCustomerFields},
		{name: "vendors", key: "id", fields: cat(
			[]field{{"id", edmGUID}},
			strs("number", "displayName", "addressLine1", "addressLine2", "city", "state", "country",
				"postalCode", "phoneNumber", "email", "website", "purchaserCode", "currencyCode", "paymentTermsCode"),
			[]field{{"balance", edmDecimal}},
			strs("blocked"), bcStamp)},
		{name: "contacts", key: "id", fields: cat(
			[]field{{"id", edmGUID}},
			strs("number", "type", "displayName", "companyNumber", "companyName"),
			[]field{{"customerId", edmGUID}},
			strs("jobTitle", "addressLine1", "addressLine2", "city", "state", "country", "postalCode",
				"phoneNumber", "mobilePhoneNumber", "email"),
			[]field{{"privacyBlocked", edmBoolean}}, bcStamp)},
		// A custom API page with ODataKeyFields = Code: couplings, and so
		// lookups from salesperson codes, are keyed by the code.
		{name: "salespeople", key: "code", fields: cat(
			strs("code"), []field{{"id", edmGUID}},
			strs("displayName", "email", "phoneNumber", "jobTitle"),
			[]field{{"commissionPercent", edmDecimal}, {"blocked", edmBoolean}}, bcStamp)},
		// Keyed by code for the same reason; the mapping only reads it.
		{name: "currencies", key: "code", fields: cat(
			strs("code"), []field{{"id", edmGUID}},
			strs("displayName", "symbol", "amountDecimalPlaces"),
			[]field{{"amountRoundingPrecision", edmDecimal}, {"exchangeRate", edmDecimal}}, bcStamp)},
		{name: "paymentTerms", key: "id", fields: cat(
			[]field{{"id", edmGUID}},
			strs("code", "displayName", "dueDateCalculation", "discountDateCalculation"),
			[]field{{"discountPercent", edmDecimal}, {"calculateDiscountOnCreditMemos", edmBoolean}}, bcStamp)},
		{name: "shipmentMethods", key: "id", fields: cat(
			[]field{{"id", edmGUID}}, strs("code", "displayName"), bcStamp)},
		{name: "shippingAgents", key: "id", fields: cat(
			[]field{{"id", edmGUID}}, strs("code", "displayName", "internetAddress", "accountNumber"), bcStamp)},
		{name: "unitsOfMeasure", key: "id", fields: cat(
			[]field{{"id", edmGUID}}, strs("code", "displayName", "internationalStandardCode", "symbol"), bcStamp)},
		{name: "items", key: "id", fields: cat(
			[]field{{"id", edmGUID}},
			strs("number", "displayName", "displayName2", "type", "itemCategoryCode"),
			[]field{{"blocked", edmBoolean}}, strs("gtin"),
			[]field{{"inventory", edmDecimal}, {"unitPrice", edmDecimal}, {"priceIncludesTax", edmBoolean},
				{"unitCost", edmDecimal}, {"baseUnitOfMeasureId", edmGUID}},
			strs("baseUnitOfMeasureCode"), bcStamp)},
		{name: "resources", key: "id", fields: cat(
			[]field{{"id", edmGUID}},
			strs("number", "displayName", "type"),
			[]field{{"baseUnitOfMeasureId", edmGUID}}, strs("baseUnitOfMeasureCode"),
			[]field{{"unitPrice", edmDecimal}, {"unitCost", edmDecimal}, {"blocked", edmBoolean}}, bcStamp)},
		{name: "opportunities", key: "id", fields: cat(
			[]field{{"id", edmGUID}},
			strs("number", "description", "status"), []field{{"closed", edmBoolean}},
			strs("contactNumber", "contactName", "contactCompanyName"),
			[]field{{"contactId", edmGUID}, {"customerId", edmGUID}},
			strs("salespersonCode"),
			[]field{{"creationDate", edmDate}, {"estimatedValue", edmDecimal}, {"estimatedClosingDate", edmDate},
				{"chancesOfSuccessPrc", edmDecimal}}, bcStamp)},
		{name: "salesOrders", key: "id", fields: cat(
			[]field{{"id", edmGUID}},
			strs("number", "externalDocumentNumber"),
			[]field{{"orderDate", edmDate}, {"postingDate", edmDate}, {"customerId", edmGUID}},
			strs("customerNumber", "customerName", "shipToName", "shipToContact", "shipToAddressLine1",
				"shipToAddressLine2", "shipToCity", "shipToState", "shipToCountry", "shipToPostCode",
				"currencyCode", "salesperson"),
			[]field{{"requestedDeliveryDate", edmDate}, {"discountAmount", edmDecimal},
				{"totalAmountExcludingTax", edmDecimal}, {"totalTaxAmount", edmDecimal},
				{"totalAmountIncludingTax", edmDecimal}, {"fullyShipped", edmBoolean}},
			strs("status"), bcStamp)},
		{name: "salesInvoices", key: "id", fields: cat(
			[]field{{"id", edmGUID}},
			strs("number", "externalDocumentNumber"),
			[]field{{"invoiceDate", edmDate}, {"postingDate", edmDate}, {"dueDate", edmDate}, {"customerId", edmGUID}},
			strs("customerNumber", "customerName", "billToName", "billToCity", "billToCountry", "currencyCode"),
			[]field{{"orderId", edmGUID}}, strs("orderNumber", "salesperson"),
			[]field{{"discountAmount", edmDecimal}, {"totalAmountExcludingTax", edmDecimal},
				{"totalTaxAmount", edmDecimal}, {"totalAmountIncludingTax", edmDecimal},
				{"remainingAmount", edmDecimal}},
			strs("status"), bcStamp)},
	}
	sets := make([]EntitySet, len(specs))
	for i, s := range specs {
		sets[i] = bcSet(s)
		// The series of the seeded numbers (Customer, Vendor): "C00010",
		// "V00010", in steps of 10.
		switch s.name {
		case "customers":
			sets[i].Numbers = &NumberSeries{Field: "number", Prefix: "C", Digits: 5, Step: 10}
		case "vendors":
			sets[i].Numbers = &NumberSeries{Field: "number", Prefix: "V", Digits: 5, Step: 10}
		}
	}
	return sets
}

// accountFieldSpecs types accountFields (the columns the first CUSTOMER
// mapping used), followed by the option-set and state columns the default
// set adds, before modifiedon.
var accountFieldSpecs = func() []field {
	var out []field
	for _, n := range accountFields {
		switch n {
		case "accountid", "_ownerid_value", "_transactioncurrencyid_value":
			out = append(out, field{n, edmGUID})
		case "creditlimit":
			out = append(out, field{n, edmDecimal})
		case "customertypecode", "statecode":
			out = append(out, field{n, edmInt32})
		case "modifiedon":
			out = append(out,
				field{"statuscode", edmInt32},
				field{"paymenttermscode", edmInt32},
				field{"address1_freighttermscode", edmInt32},
				field{"address1_shippingmethodcode", edmInt32},
				field{"_primarycontactid_value", edmGUID},
				field{n, edmDateTime})
		default:
			out = append(out, field{n, edmString})
		}
	}
	return out
}()

// address1 are the first address's columns of accounts and contacts.
var address1 = strs("address1_line1", "address1_line2", "address1_city", "address1_stateorprovince",
	"address1_postalcode", "address1_country")

// dataverseEntitySets are the sets of the fake Dataverse, accounts first.
func dataverseEntitySets() []EntitySet {
	owner := map[string]string{"ownerid": "systemusers"}
	// The Customer lookups (parentcustomerid of contacts, customerid of
	// opportunities, orders and invoices) are multi-table lookups to an
	// account or a contact ("Multi-table lookups": Customer is one of the
	// static multi-table types, connecting to Account and Contact).
	customer := []string{"accounts", "contacts"}
	with := func(m map[string]string, more map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	specs := []setSpec{
		{name: "accounts", key: "accountid", fields: accountFieldSpecs,
			lookups: with(owner, map[string]string{"transactioncurrencyid": "transactioncurrencies", "primarycontactid": "contacts"})},
		{name: "contacts", key: "contactid", fields: cat(
			[]field{{"contactid", edmGUID}},
			strs("firstname", "lastname", "fullname", "jobtitle", "emailaddress1", "telephone1", "mobilephone"),
			address1,
			[]field{{"_parentcustomerid_value", edmGUID}, {"_ownerid_value", edmGUID}}, dvState, dvStamp),
			lookups: owner, polymorphic: map[string][]string{"parentcustomerid": customer}},
		{name: "systemusers", key: "systemuserid", fields: cat(
			[]field{{"systemuserid", edmGUID}},
			strs("fullname", "firstname", "lastname", "internalemailaddress", "domainname", "mobilephone", "title"),
			[]field{{"isdisabled", edmBoolean}, {"islicensed", edmBoolean}, {"accessmode", edmInt32}}, dvStamp)},
		{name: "transactioncurrencies", key: "transactioncurrencyid", fields: cat(
			[]field{{"transactioncurrencyid", edmGUID}},
			strs("isocurrencycode", "currencyname", "currencysymbol"),
			[]field{{"currencyprecision", edmInt32}, {"exchangerate", edmDecimal}}, dvState, dvStamp)},
		// The options of choice columns. Dataverse serves stringmaps read-only
		// and has it without modifiedon; NewCRM makes it so (optionsets.go).
		{name: "stringmaps", key: "stringmapid", fields: cat(
			[]field{{"stringmapid", edmGUID}},
			strs("objecttypecode", "attributename"),
			[]field{{"attributevalue", edmInt32}}, strs("value"),
			[]field{{"langid", edmInt32}, {"displayorder", edmInt32}})},
		{name: "uomschedules", key: "uomscheduleid", fields: cat(
			[]field{{"uomscheduleid", edmGUID}}, strs("name", "baseuomname", "description"), dvState, dvStamp)},
		{name: "products", key: "productid", fields: cat(
			[]field{{"productid", edmGUID}},
			strs("productnumber", "name", "description"),
			[]field{{"price", edmDecimal}, {"standardcost", edmDecimal}, {"currentcost", edmDecimal},
				{"quantityonhand", edmDecimal}, {"producttypecode", edmInt32}, {"productstructure", edmInt32},
				{"quantitydecimal", edmInt32}, {"_defaultuomscheduleid_value", edmGUID}, {"_defaultuomid_value", edmGUID},
				{"_transactioncurrencyid_value", edmGUID}}, dvState, dvStamp),
			lookups: map[string]string{"defaultuomscheduleid": "uomschedules", "transactioncurrencyid": "transactioncurrencies"}},
		{name: "opportunities", key: "opportunityid", fields: cat(
			[]field{{"opportunityid", edmGUID}},
			strs("name", "description"),
			[]field{{"estimatedvalue", edmDecimal}, {"estimatedclosedate", edmDate}, {"closeprobability", edmInt32},
				{"_parentaccountid_value", edmGUID}, {"_parentcontactid_value", edmGUID}, {"_customerid_value", edmGUID},
				{"_ownerid_value", edmGUID}, {"_transactioncurrencyid_value", edmGUID}}, dvState, dvStamp),
			lookups: with(owner, map[string]string{"parentaccountid": "accounts", "parentcontactid": "contacts",
				"transactioncurrencyid": "transactioncurrencies"}),
			polymorphic: map[string][]string{"customerid": customer}},
		{name: "salesorders", key: "salesorderid", fields: cat(
			[]field{{"salesorderid", edmGUID}},
			strs("name", "ordernumber", "description"),
			[]field{{"submitdate", edmDateTime}, {"requestdeliveryby", edmDate}, {"discountamount", edmDecimal},
				{"totalamount", edmDecimal}},
			strs("shipto_name", "shipto_line1", "shipto_city", "shipto_postalcode", "shipto_country"),
			[]field{{"_customerid_value", edmGUID}, {"_transactioncurrencyid_value", edmGUID}, {"_ownerid_value", edmGUID},
				{"_pricelevelid_value", edmGUID}}, dvState, dvStamp),
			lookups:     with(owner, map[string]string{"transactioncurrencyid": "transactioncurrencies"}),
			polymorphic: map[string][]string{"customerid": customer}},
		{name: "invoices", key: "invoiceid", fields: cat(
			[]field{{"invoiceid", edmGUID}},
			strs("name", "invoicenumber", "description"),
			[]field{{"duedate", edmDate}, {"discountamount", edmDecimal}, {"totalamountlessfreight", edmDecimal},
				{"totaltax", edmDecimal}, {"totalamount", edmDecimal}},
			strs("billto_name", "billto_city", "billto_country"),
			[]field{{"_customerid_value", edmGUID}, {"_salesorderid_value", edmGUID},
				{"_transactioncurrencyid_value", edmGUID}, {"_ownerid_value", edmGUID}}, dvState, dvStamp),
			lookups: with(owner, map[string]string{"salesorderid": "salesorders",
				"transactioncurrencyid": "transactioncurrencies"}),
			polymorphic: map[string][]string{"customerid": customer}},
	}
	sets := make([]EntitySet, len(specs))
	for i, s := range specs {
		sets[i] = dvSet(s)
	}
	return sets
}
