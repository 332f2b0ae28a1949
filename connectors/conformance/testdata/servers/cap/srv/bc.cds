using erp from '../db/bc';

// Served where Business Central serves its API v2.0, paging at 20 like the
// CRM service, so that clients must follow @odata.nextLink. Every set the
// bundled bc-dataverse mappings read or write is exposed; clients reach
// them below companies({id}), as Business Central's documented URLs do.
@path: '/api/v2.0'
service BusinessCentral {
  @readonly
  entity companies       as projection on erp.companies;
  @cds.query.limit: { default: 20, max: 1000 }
  entity customers       as projection on erp.customers;
  @cds.query.limit: { default: 20, max: 1000 }
  entity vendors         as projection on erp.vendors;
  @cds.query.limit: { default: 20, max: 1000 }
  entity contacts        as projection on erp.contacts;
  @cds.query.limit: { default: 20, max: 1000 }
  entity salespeople     as projection on erp.salespeople;
  @cds.query.limit: { default: 20, max: 1000 }
  entity currencies      as projection on erp.currencies;
  @cds.query.limit: { default: 20, max: 1000 }
  entity paymentTerms    as projection on erp.paymentTerms;
  @cds.query.limit: { default: 20, max: 1000 }
  entity shipmentMethods as projection on erp.shipmentMethods;
  @cds.query.limit: { default: 20, max: 1000 }
  entity shippingAgents  as projection on erp.shippingAgents;
  @cds.query.limit: { default: 20, max: 1000 }
  entity unitsOfMeasure  as projection on erp.unitsOfMeasure;
  @cds.query.limit: { default: 20, max: 1000 }
  entity items           as projection on erp.items;
  @cds.query.limit: { default: 20, max: 1000 }
  entity resources       as projection on erp.resources;
  @cds.query.limit: { default: 20, max: 1000 }
  entity opportunities   as projection on erp.opportunities;
  @cds.query.limit: { default: 20, max: 1000 }
  entity salesOrders     as projection on erp.salesOrders;
  @cds.query.limit: { default: 20, max: 1000 }
  entity salesInvoices   as projection on erp.salesInvoices;
}
