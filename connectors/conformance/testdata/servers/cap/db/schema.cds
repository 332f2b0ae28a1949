// A Dataverse-shaped OData v4 service for coupler's tests: the accounts
// columns the demo's CUSTOMER mapping writes, keyed by a GUID, versioned by
// a server-stamped modifiedon that is also the ETag.
namespace coupler;

entity accounts {
  key accountid               : UUID;
      name                    : String(160);
      accountnumber           : String(20);
      address1_line1          : String(250);
      address1_line2          : String(250);
      address1_city           : String(80);
      address1_stateorprovince: String(50);
      address1_postalcode     : String(20);
      address1_country        : String(80);
      telephone1              : String(50);
      emailaddress1           : String(100);
      websiteurl              : String(200);
      creditlimit             : Decimal(19, 4);
      customertypecode        : Integer;
      statecode               : Integer default 0;
      modifiedon              : Timestamp @cds.on.insert: $now @cds.on.update: $now @odata.etag;
}
