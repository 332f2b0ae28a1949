// A Business Central-shaped OData v4 service for coupler's tests: as in
// Business Central's API v2.0, every entity set lives below a company
// (companies({id})/customers), while $metadata and $batch are at the
// service root. CAP also writes relative links the way the OData JSON
// format allows: @odata.context "../$metadata#customers" and
// @odata.nextLink "companies({id})/customers?$skiptoken=…", relative to
// the service root.
//
// The entity sets are the ones the bundled bc-dataverse mappings read or
// write, with the properties and types the API v2.0 reference gives for
// each ("<name> resource type", cited per entity below; GUID is a UUID,
// string a String, decimal a Decimal, date a Date, datetime a Timestamp,
// a NAV enum a String restricted to its members). Where a mapping expects
// a page extension or a custom API page (its file says which), the
// extension's fields follow a comment saying so. Every lastModifiedDateTime
// is stamped by the server ("Read-Only" in the reference) and is the ETag,
// so that CAP requires If-Match on PATCH and DELETE as Business Central
// does. ../srv/bc.js refuses what Business Central refuses beyond that: a
// set outside companies({id}), tolower and the like in $filter, an or
// across two fields.
// The seed data in data/ is generated from the fake ERP's world
// (connectors/conformance/capdata_test.go).
namespace erp;

// company resource type (API v2.0): id, systemVersion, name,
// displayName, businessProfileId. Every other resource is reached below
// one ("Tips for working with the APIs": the company id must be in the
// URL of every resource call).
entity companies {
  key id                : UUID;
      systemVersion     : Integer64;
      name              : String(30);
      displayName       : String(250);
      businessProfileId : String(250);
      customers         : Composition of many customers on customers.company = $self;
      vendors           : Composition of many vendors on vendors.company = $self;
      contacts          : Composition of many contacts on contacts.company = $self;
      salespeople       : Composition of many salespeople on salespeople.company = $self;
      currencies        : Composition of many currencies on currencies.company = $self;
      paymentTerms      : Composition of many paymentTerms on paymentTerms.company = $self;
      shipmentMethods   : Composition of many shipmentMethods on shipmentMethods.company = $self;
      shippingAgents    : Composition of many shippingAgents on shippingAgents.company = $self;
      unitsOfMeasure    : Composition of many unitsOfMeasure on unitsOfMeasure.company = $self;
      items             : Composition of many items on items.company = $self;
      resources         : Composition of many resources on resources.company = $self;
      opportunities     : Composition of many opportunities on opportunities.company = $self;
      salesOrders       : Composition of many salesOrders on salesOrders.company = $self;
      salesInvoices     : Composition of many salesInvoices on salesInvoices.company = $self;
}

// The stamp every resource carries: "The last datetime the <resource> was
// modified. Read-Only." Business Central keeps milliseconds, as CAP does.
aspect stamped {
      lastModifiedDateTime : Timestamp @cds.on.insert: $now @cds.on.update: $now @odata.etag @readonly;
}

// The company a resource belongs to: the foreign key of the composition.
// Business Central has no such property; CAP shows it as company_id, which
// no mapping reads.
aspect ofCompany {
  company : Association to companies;
}

// NAV.contactType: "Company" or "Person" (customer and contact resource
// types).
type contactType : String(20) enum { Company; Person; }

// customer resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_customer).
entity customers : ofCompany, stamped {
  key id                    : UUID;
      number                : String(20);
      displayName           : String(100);
      @assert.range
      type                  : contactType;
      addressLine1          : String(100);
      addressLine2          : String(50);
      city                  : String(30);
      state                 : String(30);
      country               : String(10);
      postalCode            : String(20);
      phoneNumber           : String(30);
      email                 : String(80);
      website               : String(80);
      salespersonCode       : String(20);
      @readonly
      balanceDue            : Decimal default 0;
      creditLimit           : Decimal default 0;
      taxLiable             : Boolean default false;
      taxAreaId             : UUID;
      taxAreaDisplayName    : String(100);
      taxRegistrationNumber : String(20);
      currencyId            : UUID;
      currencyCode          : String(10);
      paymentTermsId        : UUID;
      shipmentMethodId      : UUID;
      paymentMethodId       : UUID;
      // NAV.customerBlocked: " ", "Ship", "Invoice" or "All"; a blank
      // Blocked is a single space.
      @assert.range
      blocked               : String(10) enum { blank = ' '; Ship; Invoice; ![All]; } default ' ';
      // Page extension (customer.yaml): the codes of the payment terms,
      // shipment method and shipping agent.
      paymentTermsCode      : String(10);
      shipmentMethodCode    : String(10);
      shippingAgentCode     : String(10);
}

// vendor resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_vendor).
entity vendors : ofCompany, stamped {
  key id                    : UUID;
      number                : String(20);
      displayName           : String(100);
      addressLine1          : String(100);
      addressLine2          : String(50);
      city                  : String(30);
      state                 : String(30);
      country               : String(10);
      postalCode            : String(20);
      phoneNumber           : String(30);
      email                 : String(80);
      website               : String(80);
      taxRegistrationNumber : String(20);
      currencyId            : UUID;
      currencyCode          : String(10);
      irs1099Code           : String(10);
      paymentTermsId        : UUID;
      paymentMethodId       : UUID;
      taxLiable             : Boolean default false;
      // NAV.vendorBlocked: " ", "Payment" or "All".
      @assert.range
      blocked               : String(10) enum { blank = ' '; Payment; ![All]; } default ' ';
      @readonly
      balance               : Decimal default 0;
      // Page extension (vendor.yaml): the purchaser's and the payment
      // terms' codes.
      purchaserCode         : String(20);
      paymentTermsCode      : String(10);
}

// contact resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_contact).
// contactBusinessRelation (NAV.contactBusinessRelation) is left out: the
// CONTACT mapping reads the customer from the extension's customerId.
entity contacts : ofCompany, stamped {
  key id                    : UUID;
      number                : String(20);
      @assert.range
      type                  : contactType;
      displayName           : String(100);
      companyNumber         : String(20);
      companyName           : String(100);
      addressLine1          : String(100);
      addressLine2          : String(50);
      city                  : String(30);
      state                 : String(30);
      country               : String(10);
      postalCode            : String(20);
      phoneNumber           : String(30);
      mobilePhoneNumber     : String(30);
      email                 : String(80);
      website               : String(255);
      searchName            : String(100);
      privacyBlocked        : Boolean default false;
      taxRegistrationNumber : String(20);
      lastInteractionDate   : Date;
      // Page extension (contact.yaml): the id of the customer of the
      // person's company, from its contact business relation; and the
      // job title (Job Title), which CONTACT maps and the contact
      // resource type does not list.
      customerId            : UUID;
      jobTitle              : String(30);
}

// A custom API page on table 13 "Salesperson/Purchaser" published as
// salespeople with ODataKeyFields = Code (salespeople.yaml): couplings,
// and so every lookup from a salesperson code, are keyed by the code. API
// v2.0 now documents salespersonPurchasers (salespersonPurchaser resource
// type: id, code, displayName, email, email2, phoneNo, jobTitle,
// commisionPercent, privacyBlocked, blocked, lastModifiedDateTime), keyed
// by id; this page has the same fields under the names the mapping reads.
entity salespeople : ofCompany, stamped {
  key code              : String(20);
      id                : UUID;
      displayName       : String(50);
      email             : String(80);
      phoneNumber       : String(30);
      jobTitle          : String(30);
      commissionPercent : Decimal default 0;
      privacyBlocked    : Boolean default false;
      blocked           : Boolean default false;
}

// currency resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_currency): keyed by id;
// the CURRENCY mapping only reads it and names records by code.
entity currencies : ofCompany, stamped {
  key id                      : UUID;
      code                    : String(10);
      displayName             : String(30);
      symbol                  : String(10);
      amountDecimalPlaces     : String(5);
      amountRoundingPrecision : Decimal;
      // Page extension (currency.yaml): the current exchange rate.
      exchangeRate            : Decimal;
}

// paymentTerm resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_paymentTerm).
entity paymentTerms : ofCompany, stamped {
  key id                             : UUID;
      code                           : String(10);
      displayName                    : String(100);
      dueDateCalculation             : String(32);
      discountDateCalculation        : String(32);
      discountPercent                : Decimal default 0;
      calculateDiscountOnCreditMemos : Boolean default false;
}

// shipmentMethod resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_shipmentMethod).
entity shipmentMethods : ofCompany, stamped {
  key id          : UUID;
      code        : String(10);
      displayName : String(100);
}

// API v2.0 has no shipping agents: a custom API page on table 291
// "Shipping Agent" published as shippingAgents (shipping-agent.yaml).
entity shippingAgents : ofCompany, stamped {
  key id              : UUID;
      code            : String(10);
      displayName     : String(50);
      internetAddress : String(250);
      accountNumber   : String(30);
}

// unitOfMeasure resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_unitOfMeasure).
entity unitsOfMeasure : ofCompany, stamped {
  key id                        : UUID;
      code                      : String(10);
      displayName               : String(50);
      internationalStandardCode : String(10);
      symbol                    : String(10);
}

// item resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_item).
entity items : ofCompany, stamped {
  key id                             : UUID;
      number                         : String(20);
      displayName                    : String(100);
      // Page extension (item-product.yaml reads the second description).
      displayName2                   : String(50);
      // NAV.itemType: "Inventory", "Service" or "Non-Inventory".
      @assert.range
      type                           : String(20) enum { Inventory; Service; NonInventory = 'Non-Inventory'; };
      itemCategoryId                 : UUID;
      itemCategoryCode               : String(20);
      blocked                        : Boolean default false;
      gtin                           : String(14);
      @readonly
      inventory                      : Decimal default 0;
      unitPrice                      : Decimal default 0;
      priceIncludesTax               : Boolean default false;
      unitCost                       : Decimal default 0;
      taxGroupId                     : UUID;
      taxGroupCode                   : String(20);
      baseUnitOfMeasureId            : UUID;
      baseUnitOfMeasureCode          : String(10);
      generalProductPostingGroupId   : UUID;
      generalProductPostingGroupCode : String(20);
      inventoryPostingGroupId        : UUID;
      inventoryPostingGroupCode      : String(20);
}

// API v2.0 has no resources: a custom API page on table 156 "Resource"
// published as resources (resource-product.yaml).
entity resources : ofCompany, stamped {
  key id                    : UUID;
      number                : String(20);
      displayName           : String(100);
      @assert.range
      type                  : String(10) enum { Person; Machine; };
      baseUnitOfMeasureId   : UUID;
      baseUnitOfMeasureCode : String(10);
      unitPrice             : Decimal default 0;
      unitCost              : Decimal default 0;
      blocked               : Boolean default false;
}

// opportunity resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_opportunity).
entity opportunities : ofCompany, stamped {
  key id                     : UUID;
      number                 : String(20);
      contactNumber          : String(20);
      contactName            : String(100);
      contactCompanyName     : String(100);
      salespersonCode        : String(20);
      description            : String(100);
      // NAV.opportunityStatus.
      @assert.range
      status                 : String(20) enum { NotStarted = 'Not Started'; InProgress = 'In Progress'; Won; Lost; };
      closed                 : Boolean default false;
      creationDate           : Date;
      dateClosed             : Date;
      calculatedCurrentValue : Decimal default 0;
      chancesOfSuccessPrc    : Decimal default 0;
      completedPrc           : Decimal default 0;
      estimatedClosingDate   : Date;
      estimatedValue         : Decimal default 0;
      systemCreatedAt        : Timestamp @cds.on.insert: $now @readonly;
      // Page extension (opportunity.yaml): the ids of the contact and of
      // the customer of its company.
      contactId              : UUID;
      customerId             : UUID;
}

// salesOrder resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_salesorder).
entity salesOrders : ofCompany, stamped {
  key id                       : UUID;
      number                   : String(20);
      externalDocumentNumber   : String(35);
      orderDate                : Date;
      postingDate              : Date;
      customerId               : UUID;
      customerNumber           : String(20);
      customerName             : String(100);
      billToName               : String(100);
      billToCustomerId         : UUID;
      billToCustomerNumber     : String(20);
      shipToName               : String(100);
      shipToContact            : String(100);
      sellToAddressLine1       : String(100);
      sellToAddressLine2       : String(50);
      sellToCity               : String(30);
      sellToCountry            : String(10);
      sellToState              : String(30);
      sellToPostCode           : String(20);
      billToAddressLine1       : String(100);
      billToAddressLine2       : String(50);
      billToCity               : String(30);
      billToCountry            : String(10);
      billToState              : String(30);
      billToPostCode           : String(20);
      shipToAddressLine1       : String(100);
      shipToAddressLine2       : String(50);
      shipToCity               : String(30);
      shipToCountry            : String(10);
      shipToState              : String(30);
      shipToPostCode           : String(20);
      shortcutDimension1Code   : String(20);
      shortcutDimension2Code   : String(20);
      currencyId               : UUID;
      currencyCode             : String(10);
      @readonly
      pricesIncludeTax         : Boolean default false;
      paymentTermsId           : UUID;
      shipmentMethodId         : UUID;
      salesperson              : String(20);
      partialShipping          : Boolean default true;
      requestedDeliveryDate    : Date;
      discountAmount           : Decimal default 0;
      discountAppliedBeforeTax : Boolean default false;
      @readonly
      totalAmountExcludingTax  : Decimal default 0;
      @readonly
      totalTaxAmount           : Decimal default 0;
      @readonly
      totalAmountIncludingTax  : Decimal default 0;
      fullyShipped             : Boolean default false;
      // NAV.salesOrderEntityBufferStatus: "Draft", "In Review" or "Open"
      // (API v2.0's names for BC's Open, Pending Approval and Released).
      @assert.range
      status                   : String(20) enum { Draft; InReview = 'In Review'; Open; };
      phoneNumber              : String(30);
      email                    : String(80);
}

// salesInvoice resource type (API v2.0,
// dev-itpro/api-reference/v2.0/resources/dynamics_salesinvoice): draft
// and posted invoices together.
entity salesInvoices : ofCompany, stamped {
  key id                             : UUID;
      number                         : String(20);
      externalDocumentNumber         : String(35);
      invoiceDate                    : Date;
      postingDate                    : Date;
      dueDate                        : Date;
      customerPurchaseOrderReference : String(35);
      customerId                     : UUID;
      customerNumber                 : String(20);
      customerName                   : String(100);
      billToName                     : String(100);
      billToCustomerId               : UUID;
      billToCustomerNumber           : String(20);
      shipToName                     : String(100);
      shipToContact                  : String(100);
      sellToAddressLine1             : String(100);
      sellToAddressLine2             : String(50);
      sellToCity                     : String(30);
      sellToCountry                  : String(10);
      sellToState                    : String(30);
      sellToPostCode                 : String(20);
      billToAddressLine1             : String(100);
      billToAddressLine2             : String(50);
      billToCity                     : String(30);
      billToCountry                  : String(10);
      billToState                    : String(30);
      billToPostCode                 : String(20);
      shipToAddressLine1             : String(100);
      shipToAddressLine2             : String(50);
      shipToCity                     : String(30);
      shipToCountry                  : String(10);
      shipToState                    : String(30);
      shipToPostCode                 : String(20);
      currencyId                     : UUID;
      shortcutDimension1Code         : String(20);
      shortcutDimension2Code         : String(20);
      currencyCode                   : String(10);
      @readonly
      orderId                        : UUID;
      @readonly
      orderNumber                    : String(20);
      paymentTermsId                 : UUID;
      shipmentMethodId               : UUID;
      salesperson                    : String(20);
      @readonly
      pricesIncludeTax               : Boolean default false;
      remainingAmount                : Decimal default 0;
      discountAmount                 : Decimal default 0;
      discountAppliedBeforeTax       : Boolean default false;
      @readonly
      totalAmountExcludingTax        : Decimal default 0;
      @readonly
      totalTaxAmount                 : Decimal default 0;
      @readonly
      totalAmountIncludingTax        : Decimal default 0;
      // NAV.invoiceEntityAggregateStatus.
      @assert.range
      status                         : String(20) enum { blank = ' '; Draft; InReview = 'In Review'; Open; Paid; Canceled; Corrective; };
      phoneNumber                    : String(30);
      email                          : String(80);
}
