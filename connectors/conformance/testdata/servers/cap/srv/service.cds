using coupler from '../db/schema';

// Served at CAP's conventional path for OData v4 services, not at
// Dataverse's /api/data/v9.2: coupler takes a base URL ending there for the
// Dataverse Web API, and CAP does not take the multipart $batch requests
// written for it (parts addressed by absolute path; CAP takes paths
// relative to the service only). Server-driven paging is on with a small
// default page, so that clients must follow @odata.nextLink.
@path: '/odata/v4/crm'
service CRM {
  @cds.query.limit: { default: 20, max: 1000 }
  entity accounts as projection on coupler.accounts;
}
