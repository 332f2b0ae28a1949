package fake

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// EntitySet declares one served entity set.
type EntitySet struct {
	// Name is the set's name in URLs, e.g. "accounts".
	Name string
	// Key is the key field, e.g. "accountid". Key values are strings; a GUID
	// (uuid v4) is generated on create when the client sends none, and GUID
	// keys are stored lower-case and matched case-insensitively, as the real
	// systems do.
	Key string
	// Modified is the last-modified field, e.g. "modifiedon". The server owns
	// it: every write stamps it and values sent by clients are ignored.
	Modified string
	// ModifiedPrecision is the truncation of the stamp: time.Second like
	// Dataverse, time.Millisecond like Business Central. Zero means a
	// millisecond.
	ModifiedPrecision time.Duration
	// RequireIfMatch makes a PATCH or DELETE without an If-Match header
	// fail with 428 Precondition Required: Business Central's API v2.0
	// marks If-Match Required on both ("Update customers", "Delete
	// customers").
	RequireIfMatch bool
	// Fields optionally names fields up front, fixing the order in which
	// they appear in responses: the key first, then Fields, then the
	// modified field unless Fields places it. Fields first seen in a write
	// are appended in the order they arrive.
	Fields []string
	// Types gives the EDM type of fields, e.g. "Edm.String", "Edm.Decimal",
	// "Edm.Guid", "Edm.DateTimeOffset", "Edm.Int32", "Edm.Boolean", for the
	// service's $metadata; a field not listed is an Edm.String.
	Types map[string]string
	// Lookups declares Dataverse-style lookups: navigation property name ->
	// target entity set. A lookup "ownerid" is written as
	// "ownerid@odata.bind": "/systemusers(<id>)" and read as "_ownerid_value".
	Lookups map[string]string
	// Polymorphic declares Dataverse's multi-table lookups: lookup name ->
	// the entity sets it may point to, e.g. a contact's "parentcustomerid":
	// {"accounts", "contacts"}. Such a lookup is no navigation property of
	// its own: it is bound through one per target,
	// "parentcustomerid_account@odata.bind", and an unsuffixed
	// "parentcustomerid@odata.bind" is refused, as by Dataverse; it is read
	// as "_parentcustomerid_value" (see lookups.go).
	Polymorphic map[string][]string
	// AlternateKeys declares Dataverse-style alternate keys: sets of fields
	// whose values identify a record, so that it can be addressed as
	// accounts(accountnumber='A-1') or (name='x',region=1) as well as by
	// its key. Uniqueness is not enforced: a key that matches two records
	// answers 409.
	AlternateKeys [][]string
	// ReadOnly refuses POST, PATCH and DELETE on the set as Dataverse
	// refuses them on a table without those messages, e.g. stringmaps
	// (optionsets.go).
	ReadOnly bool
	// Numbers, when set, numbers the records a POST creates without a
	// number, as Business Central's number series do (numberseries.go).
	Numbers *NumberSeries
	// CreateDefaults are the values a POST gives the fields it leaves out:
	// field name -> JSON literal. Dataverse creates a record Active,
	// statecode 0 with status reason 1 ("Default status and status reason
	// values": 0 Active / 1 Active for every table without its own).
	CreateDefaults map[string]string
}

// Server is an in-memory OData v4 service serving a fixed list of entity sets.
// It implements http.Handler; all methods are safe for concurrent use.
type Server struct {
	mu      sync.RWMutex // guards tables' contents, now and version
	tables  map[string]*table
	typeOf  map[string]string // entity type name of each served set; fixed after New
	now     func() time.Time
	version uint64 // last ETag version handed out, shared by all sets

	changes changeLog // change tracking (delta links): changes.go

	ctl control // throttling and request counters; has its own lock

	groupMu sync.Mutex // held while a $batch atomicity group runs: see runGroup

	// refusedFunctions names the $filter functions the service does not
	// implement, with the documentation that says so; fixed after New.
	refusedFunctions map[string]string

	batchFormats atomic.Uint32 // BatchFormats accepted at /$batch
	// company, when set, scopes every entity set to companies(company), as
	// Business Central does (company.go). Fixed after NewERP.
	company string
	// relativeLinks makes links in payloads relative; see SetRelativeLinks.
	relativeLinks atomic.Bool
	// oneFieldOr refuses a $filter whose or joins two different fields,
	// as Business Central does (filter_bc.go); fixed after New.
	oneFieldOr bool
	options    *optionSets // Dataverse choice columns (optionsets.go); nil unless NewCRM
	// batchParts is the most parts a $batch may have (checkBatchParts);
	// 0 leaves only maxBatch. Fixed after NewERP.
	batchParts int
}

// SetRelativeLinks makes the server write @odata.context and
// @odata.nextLink as relative URLs, as SAP CAP does and as the OData JSON
// Format allows (v4.01, section 4.3 "Relative URLs"): the context URL
// relative to the request URL ("../$metadata#companies(…)/customers" for a
// set below a company), the next link relative to the context URL, i.e.
// to the service root ("companies(…)/customers?$skiptoken=…"). A client
// that resolves the next link against the request URL instead asks for
// companies(…)/companies(…)/customers and gets a 404. Off by default: the
// real Business Central and Dataverse send absolute links.
func (s *Server) SetRelativeLinks(on bool) {
	s.relativeLinks.Store(on)
}

// New returns a server serving sets. Sets with an empty Name or Key are
// skipped; a later set with the same name replaces an earlier one.
func New(sets ...EntitySet) *Server {
	s := &Server{tables: make(map[string]*table, len(sets)), now: time.Now}
	for _, def := range sets {
		if def.Name == "" || def.Key == "" {
			continue
		}
		s.tables[def.Name] = newTable(def)
	}
	s.nameTypes()
	s.ctl.reset()
	s.SetBatchFormats(BatchJSON | BatchMultipart)
	return s
}

// nameTypes names the entity type of every served set, for $metadata and
// lookups' annotations; called again when a set is added while the server
// is built (scopeToCompany).
func (s *Server) nameTypes() {
	s.typeOf = typeNames(s.Sets())
	for _, t := range s.tables {
		t.typeOf = s.typeOf
	}
}

// SetClock replaces the clock used to stamp the modified fields (default
// time.Now). Stamps are now().UTC() truncated to the set's precision. A nil
// now restores time.Now.
func (s *Server) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// Sets returns the names of the served entity sets, sorted.
func (s *Server) Sets() []string {
	names := make([]string, 0, len(s.tables))
	for n := range s.tables { // tables is fixed after New: no lock needed
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ServeHTTP answers one OData request. See the package documentation for
// what is supported.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("OData-Version", "4.0")

	if wait, throttled := s.ctl.admit(r.Method); throttled {
		writeThrottled(w, wait)
		return
	}
	if isMetadataRequest(r) { // not routed: its XML cannot travel in a JSON $batch
		s.serveMetadata(w, r)
		return
	}
	s.route(w, r)
}

// route dispatches a request that passed throttling. $batch calls it once per
// inner request, so inner requests are neither counted nor throttled again.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if s.options != nil && s.serveOptions(w, r, r.URL.EscapedPath()) {
		return // Dataverse's option set definitions and actions
	}
	escaped := r.URL.EscapedPath()
	if s.company != "" {
		var se *statusError
		if escaped, se = s.companyPath(r, escaped); se != nil {
			writeError(w, se)
			return
		}
	}
	p, err := parsePath(escaped)
	if err != nil {
		writeError(w, err)
		return
	}
	if p.batch {
		if r.Method != http.MethodPost {
			writeMethodNotAllowed(w, http.MethodPost)
			return
		}
		s.serveBatch(w, r)
		return
	}
	t, ok := s.tables[p.set]
	if !ok {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "resource not found for the segment '%s'", p.set))
		return
	}
	if t.def.ReadOnly && r.Method != http.MethodGet {
		refuseReadOnly(w, r, t)
		return
	}
	if !p.hasKey {
		switch r.Method {
		case http.MethodGet:
			s.serveCollection(w, r, t)
		case http.MethodPost:
			s.serveCreate(w, r, t)
		default:
			writeMethodNotAllowed(w, "GET, POST")
		}
		return
	}
	if p.named != nil && p.named.primary(t) && p.badKey != nil {
		writeError(w, p.badKey)
		return
	}
	if p.named != nil && !p.named.primary(t) {
		key, err := s.resolveAlternate(t, p.named)
		if err != nil {
			writeError(w, err)
			return
		}
		p.key = key
	}
	switch r.Method {
	case http.MethodGet:
		s.serveEntity(w, r, t, p.key)
	case http.MethodPatch:
		s.serveUpdate(w, r, t, p.key)
	case http.MethodDelete:
		s.serveDelete(w, r, t, p.key)
	default:
		writeMethodNotAllowed(w, "GET, PATCH, DELETE")
	}
}
