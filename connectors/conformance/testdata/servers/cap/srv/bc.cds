using erp from '../db/bc';

// Served where Business Central serves its API v2.0, paging at 20 like the
// CRM service, so that clients must follow @odata.nextLink.
@path: '/api/v2.0'
service BusinessCentral {
  @readonly
  entity companies as projection on erp.companies;
  @cds.query.limit: { default: 20, max: 1000 }
  entity customers as projection on erp.customers;
}
