package fake

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// writeKind is what a write does to the record it addresses.
type writeKind uint8

const (
	kindCreate  writeKind = iota // insert; the key must be new
	kindReplace                  // insert or replace the whole record
	kindMerge                    // update the given fields of an existing record
	kindRemove                   // delete an existing record
)

// apply performs one write under the write lock. ifMatch is the If-Match
// header ("" for none). It returns the record as stored (nil for a delete).
func (s *Server) apply(t *table, kind writeKind, key string, w write, ifMatch string) (*entry, error) {
	if err := s.resolveBinds(&w); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var base *entry
	switch kind {
	case kindCreate:
		if key == "" {
			key = uuid.NewString()
		}
		if _, exists := t.rows[key]; exists {
			return nil, errorf(http.StatusConflict, codeConflict, "%s(%s) already exists", t.def.Name, key)
		}
	case kindReplace:
		if key == "" {
			key = uuid.NewString()
		}
	case kindMerge, kindRemove:
		var ok bool
		if base, ok = t.rows[key]; !ok {
			return nil, notFound(t.def.Name, key)
		}
		if !etagMatches(ifMatch, base.version) {
			return nil, staleError(t.def.Name, key)
		}
	}
	var numbered []assign
	if t.def.Numbers != nil && kind != kindRemove {
		numbered = t.number(kind, w.assign)
		if err := t.numberTaken(key, numbered); err != nil {
			return nil, err
		}
	}
	t.gen++
	old := t.rows[key]
	if kind == kindRemove {
		delete(t.rows, key)
		t.renumber(key, old, nil)
		s.noteRemoved(t, key)
		return nil, nil
	}
	if t.def.Numbers != nil {
		w.assign = numbered
	}
	if kind == kindCreate {
		w.assign = t.createDefaults(w.assign)
	}
	if kind != kindMerge {
		base = nil
	}
	s.version++
	e := t.compose(base, key, w.assign, s.version, t.stamp(s.now()))
	t.rows[key] = e
	t.renumber(key, old, e)
	return e, nil
}

// createDefaults adds to a create's assignments the values of the fields
// it leaves out that the set gives every new record (EntitySet.CreateDefaults).
func (t *table) createDefaults(as []assign) []assign {
	for name, lit := range t.def.CreateDefaults {
		if !slices.ContainsFunc(as, func(a assign) bool { return a.name == name && a.lit != "null" }) {
			as = append(as, assign{name: name, lit: lit})
		}
	}
	return as
}

// etagMatches evaluates an If-Match header against a record's version: ""
// and "*" match any record; otherwise one of the listed ETags must be the
// current one. Weak and strong forms of the same tag are taken as equal,
// as OData services do.
func etagMatches(header string, version uint64) bool {
	if header == "" {
		return true
	}
	want := strings.TrimPrefix(etag(version), "W/")
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

// readWrite decodes a request body into a write for t.
func (t *table) readWrite(w http.ResponseWriter, r *http.Request) (write, []string, error) {
	sel, err := t.writeSelect(r)
	if err != nil {
		return write{}, nil, err
	}
	ms, err := decodeObject(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return write{}, nil, badRequest("malformed JSON body: %v", err)
	}
	wr, err := t.toWrite(ms)
	wr.checkTargets = true
	return wr, sel, err
}

// writeSelect is the $select of a create or update, refused before the
// write is made when it names a field the set lacks. Dataverse answers a
// write with return=representation with the columns $select names alone
// ("Create with data returned", "Update with data returned": "To control
// which properties are returned, append the $select query option to the
// URL"), and refuses a property it does not know ("Could not find a
// property named '...' on type 'Microsoft.Dynamics.CRM.account'"), as
// its queries do.
func (t *table) writeSelect(r *http.Request) ([]string, error) {
	opts, err := parseOptions(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	fields, err := selectFields(opts)
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		if t.cols.lookup(f) < 0 {
			return nil, badRequest("Could not find a property named '%s' on type '%s'", f, t.def.Name)
		}
	}
	return fields, nil
}

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, t *table) {
	wr, sel, err := t.readWrite(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	e, err := s.apply(t, kindCreate, wr.key, wr, "")
	if err != nil {
		writeError(w, err)
		return
	}
	loc := serviceRoot(r) + "/" + s.setPrefix(t) + entityPath(t.def.Name, e.key)
	h := w.Header()
	h.Set("Location", loc)
	h.Set("OData-EntityId", loc)
	s.answerWrite(w, r, t, e, http.StatusCreated, sel)
}

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, t *table, key string) {
	if !ifMatchGiven(w, r, t) {
		return
	}
	wr, sel, err := t.readWrite(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if wr.key != "" && wr.key != key {
		writeError(w, badRequest("the key %s cannot be changed (body says %q, URL says %q)", t.def.Key, wr.key, key))
		return
	}
	e, err := s.apply(t, kindMerge, key, wr, r.Header.Get("If-Match"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.answerWrite(w, r, t, e, http.StatusOK, sel)
}

// ifMatchGiven answers 428 Precondition Required and returns false when t
// requires If-Match and r has none. Business Central's API v2.0 marks the
// header Required on both PATCH and DELETE ("Update customers", "Delete
// customers": If-Match Required).
func ifMatchGiven(w http.ResponseWriter, r *http.Request, t *table) bool {
	if !t.def.RequireIfMatch || r.Header.Get("If-Match") != "" {
		return true
	}
	writeStatus(w, http.StatusPreconditionRequired, codePreconditionRequired,
		"could not validate the client concurrency token required by the service: send an If-Match header (* for any version)")
	return false
}

// answerWrite answers a create or update: with the record, its fields in
// sel alone when there are any (writeSelect), and status when the client
// sent Prefer: return=representation, else 204. Both carry the new ETag.
func (s *Server) answerWrite(w http.ResponseWriter, r *http.Request, t *table, e *entry, status int, sel []string) {
	if !parsePrefer(r.Header).representation {
		w.Header().Set("ETag", etag(e.version))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	applied := "return=representation"
	names, annotate := lookupNames(r.Header)
	if annotate {
		applied += "," + names
	}
	w.Header().Set("Preference-Applied", applied)
	s.mu.RLock()
	labels, columns := t.cols.labels, t.cols.names
	cols := t.selectColumns(sel, annotate)
	s.mu.RUnlock()
	writeEntity(w, status, t, e, cols, labels, s.contextURL(r, t, selectSuffix(readResult{cols: cols, names: columns})+"/$entity"), annotate)
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, t *table, key string) {
	if !ifMatchGiven(w, r, t) {
		return
	}
	if _, err := s.apply(t, kindRemove, key, write{}, r.Header.Get("If-Match")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// errUnknownSet reports a Go API call naming a set the server does not serve.
var errUnknownSet = errors.New("unknown entity set")

func (s *Server) table(set string) (*table, error) {
	t, ok := s.tables[set]
	if !ok {
		return nil, fmt.Errorf("fake: %s: %w", set, errUnknownSet)
	}
	return t, nil
}
