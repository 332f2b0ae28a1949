package fake

import (
	"net/http"
	"net/url"
	"strings"
)

// Business Central scopes every entity set of its API to a company. As
// "Tips for working with the APIs" (Business Central API v2.0
// documentation) puts it: all resources live in the context of a parent
// company, so the company id must be in the URL of every resource call,
// <endpoint>/companies({id})/customers, while GET <endpoint>/companies
// lists the companies and <endpoint>/$metadata describes the API. $batch
// is at the endpoint too ("Using OData transactional $batch requests":
// POST businesscentralPrefix/api/v2.0/$batch), its inner requests
// addressing companies({id})/… relative to it. NewERP serves one company
// this way; a client that puts the company in its service root asks for
// companies({id})/$metadata and companies({id})/$batch and gets the 404
// the real service answers.

// BCCompanyID is the id of the one company a NewERP server serves: every
// entity set is under companies(BCCompanyID).
const BCCompanyID = "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"

// bcCompanyName is the company's name, the one of Business Central's
// demonstration data.
const bcCompanyName = "CRONUS USA, Inc."

// companiesSet is the entity set listing the companies, at the service root.
const companiesSet = "companies"

// codeBCNotFound is Business Central's code for a URL that addresses
// nothing ("Error codes", Business Central API v2.0: ODataNotFoundException
// is BadRequest_NotFound).
const codeBCNotFound = "BadRequest_NotFound"

// BCCompanyURL returns the base URL a Business Central user writes for
// the NewERP server whose API endpoint (its service root, where $metadata
// is) is root: root + "/companies(" + BCCompanyID + ")", as the
// documentation gives https://api.businesscentral.dynamics.com/v2.0/{tenant}/{env}/api/v2.0/companies({id}).
func BCCompanyURL(root string) string {
	return strings.TrimRight(root, "/") + "/" + companiesSet + "(" + BCCompanyID + ")"
}

// companySet declares the companies set as Business Central's API v2.0
// shapes it ("company resource type": id, systemVersion, name,
// displayName, businessProfileId). It is read-only.
func companySet() EntitySet {
	return EntitySet{
		Name: companiesSet, Key: "id",
		Fields: []string{"systemVersion", "name", "displayName", "businessProfileId"},
		Types:  map[string]string{"id": edmGUID, "systemVersion": "Edm.Int64"},
	}
}

// scopeToCompany makes s serve its entity sets only under
// companies({id}), with a read-only companies set at the root listing the
// one company id.
func (s *Server) scopeToCompany(id, name string) {
	t := newTable(companySet())
	s.tables[companiesSet] = t
	s.nameTypes()
	s.company = normKey(id)
	if _, err := s.Put(companiesSet, map[string]any{
		"id": s.company, "systemVersion": "1", "name": name, "displayName": name, "businessProfileId": "",
	}); err != nil {
		panic("fake: seeding the company: " + err.Error()) // a programming error: the set was just made
	}
}

// companyPath maps the escaped request path of a company-scoped server to
// the path parsePath routes: "/companies(<id>)/customers(…)" becomes
// "/customers(…)", while "/$batch", "/companies" and "/companies(<id>)"
// stay as they are (the root's). Every other path is the 404 Business
// Central answers: an entity set outside a company, another company,
// $metadata or $batch below a company, or the companies set below one.
func (s *Server) companyPath(r *http.Request, escaped string) (string, *statusError) {
	p := strings.Trim(escaped, "/")
	first, rest, nested := strings.Cut(p, "/")
	set, key, hasKey, err := splitKeySegment(unescapeOrSelf(first))
	switch {
	case p == "$batch":
		return escaped, nil
	case err != nil || set != companiesSet:
		return "", bcNotFound(first)
	case !nested:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// The API's companies are read-only: GET is its only method.
			return "", errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "the companies resource is read-only; allowed: GET")
		}
		return escaped, nil
	case !hasKey || key != s.company:
		return "", errorf(http.StatusNotFound, codeBCNotFound, "the company %s does not exist", first)
	}
	seg, _, _ := strings.Cut(rest, "/")
	if name, _, _ := strings.Cut(unescapeOrSelf(seg), "("); name == metadataSegment || name == "$batch" || name == companiesSet {
		return "", bcNotFound(seg)
	}
	return "/" + rest, nil
}

// setPrefix is the path, relative to the service root, under which t's
// records are addressed: the company's for a company-scoped server's sets.
func (s *Server) setPrefix(t *table) string {
	if s.company == "" || t.def.Name == companiesSet {
		return ""
	}
	return companiesSet + "(" + s.company + ")/"
}

func bcNotFound(segment string) *statusError {
	return errorf(http.StatusNotFound, codeBCNotFound, "Resource not found for the segment '%s'.", unescapeOrSelf(segment))
}

// unescapeOrSelf percent-decodes s, or returns it as it is when it is
// malformed (parsePath reports that).
func unescapeOrSelf(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// contextURL returns the @odata.context of a response about t's records:
// the metadata document's URL with the fragment
// $metadata#[companies({id})/]{set}{suffix}, as Business Central writes it
// for a set below a company. It is absolute, or with SetRelativeLinks
// relative to the request URL (one "../" per segment of the request path
// below the service root's, as SAP CAP writes it).
func (s *Server) contextURL(r *http.Request, t *table, suffix string) string {
	frag := metadataSegment + "#" + s.setPrefix(t) + t.def.Name + suffix
	if !s.relativeLinks.Load() {
		return serviceRoot(r) + "/" + frag
	}
	depth := strings.Count(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	return strings.Repeat("../", depth) + frag
}

// nextLink returns the @odata.nextLink of a page of t read by r: the same
// path with query, absolute, or with SetRelativeLinks relative to the
// context URL, whose base is the service root.
func (s *Server) nextLink(r *http.Request, t *table, query string) string {
	path := requestPathOrSet(r, t) + "?" + query
	if s.relativeLinks.Load() {
		return strings.TrimPrefix(path, "/")
	}
	return serviceRoot(r) + path
}
