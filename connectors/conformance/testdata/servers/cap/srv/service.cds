using coupler from '../db/schema';

// Served where Dataverse serves its Web API. Server-driven paging is on
// with a small default page, so that clients must follow @odata.nextLink.
@path: '/api/data/v9.2'
service CRM {
  @cds.query.limit: { default: 20, max: 1000 }
  entity accounts as projection on coupler.accounts;
}
