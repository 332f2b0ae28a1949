// Package fake is an in-memory OData v4 server on net/http that stands in for
// Business Central (the ERP) and Dataverse (the CRM) in tests, benchmarks and
// `coupler demo`.
//
// It reproduces the parts of the wire a sync engine depends on: server-driven
// paging with @odata.nextLink and Prefer: odata.maxpagesize, $select, $filter
// (a real recursive-descent parser), $orderby, $top, $skip, $count, creates
// with both the 201 and the 204 + OData-EntityId answers, PATCH and DELETE
// with If-Match and weak ETags, Dataverse lookups written as
// "x@odata.bind" and read back as "_x_value" (multi-table lookups only
// through their per-target navigation properties, annotated with the
// target's logical name when Prefer: odata.include-annotations asks; see
// lookups.go), server-stamped last-modified
// fields at the real systems' precision, and service-protection throttling
// (429 with Retry-After) on demand. A JSON $batch (OData 4.01) endpoint is
// served at /$batch, with atomicity groups (change sets) that are rolled
// back as a whole when one of their requests fails (changeset.go). Records
// can be addressed by declared alternate keys, accounts(accountnumber='A-1')
// (EntitySet.AlternateKeys, altkey.go). NewCRM serves the options of its
// choice columns as Dataverse does: read from the column's definition,
// changed with the InsertOptionValue, UpdateOptionValue and
// DeleteOptionValue actions, and listed by a read-only stringmaps
// (EntitySet.ReadOnly, optionsets.go).
//
// Behaviour a client may trip over, on purpose:
//
//   - Page sizes above 5000 are capped at 5000, as Dataverse does;
//     Preference-Applied reports the size used. Follow @odata.nextLink.
//   - Paging is key-set based: the $skiptoken encodes the last record's sort
//     values, so records written between pages are neither skipped nor
//     repeated unless their sort position moves past the cursor. Without
//     $orderby, records come in key order.
//   - ETags come from one counter per server, so every write yields a tag
//     never seen before, even for a record deleted and created again.
//   - A '+' in the query string is a literal plus, not a space: a client
//     that encodes spaces as '+' gets 400, as from the real services.
//   - String comparisons and functions are case-sensitive, as OData
//     specifies (Dataverse's are not); GUIDs compare ignoring case.
//   - Unknown $-options ($expand, $apply, ...) answer 400, deeper paths
//     (navigation, properties) 404, and PUT 405.
//   - A failed atomicity group answers as SAP CAP does: requests that ran
//     before the failure keep their 2xx answers although they were rolled
//     back, the rest answer 424.
//
// Records are kept compactly: each record's fields are stored as their JSON
// literals concatenated in one string, so a set of 100,000 customers costs
// about 50 MB and a page is rendered by copying bytes rather than by
// reflection.
//
// The Business Central server (NewERP) serves its entity sets only below
// companies(BCCompanyID), as the real API does, and $metadata and $batch
// only at the service root (company.go).
//
// Links (@odata.nextLink, OData-EntityId, Location, @odata.context) are
// absolute URLs built from the request's Host and the request target as the
// client sent it (r.RequestURI), so a Server keeps producing correct links
// when mounted under a prefix with http.StripPrefix. SetRelativeLinks makes
// @odata.context and @odata.nextLink relative, as SAP CAP sends them.
package fake
