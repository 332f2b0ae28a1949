// A Business Central-shaped OData v4 service for coupler's tests: as in
// Business Central's API v2.0, every entity set lives below a company
// (companies({id})/customers), while $metadata and $batch are at the
// service root. CAP also writes relative links the way the OData JSON
// format allows: @odata.context "../$metadata#customers" and
// @odata.nextLink "companies({id})/customers?$skiptoken=…", relative to
// the service root.
namespace erp;

entity companies {
  key id          : UUID;
      name        : String(30);
      displayName : String(250);
      customers   : Composition of many customers on customers.company = $self;
}

entity customers {
  key id                   : UUID;
      company              : Association to companies;
      number               : String(20);
      displayName          : String(100);
      city                 : String(30);
      lastModifiedDateTime : Timestamp @cds.on.insert: $now @cds.on.update: $now @odata.etag;
}
