// Package resttest is a small in-memory JSON REST API for tests of the rest
// connector, shaped like a typical SaaS API rather than like OData:
//
//	GET    /{collection}?cursor=&limit=&updated_since=  {"data": [...], "meta": {"next_cursor": "…"}}
//	GET    /{collection}/{id}                           {"data": {...}}, ETag header
//	POST   /{collection}                                201 {"data": {...}}
//	PATCH  /{collection}/{id}   If-Match: "version"     200 {"data": {...}}, 412 when stale
//	DELETE /{collection}/{id}   If-Match: "version"     204, 412 when stale
//
// Records are keyed by "id" (generated "r1", "r2", … on create), versioned
// by "version" (a fresh value on every write, sent quoted as the ETag) and
// stamped in "updated_at" (a number: Unix milliseconds, strictly
// increasing), as many SaaS APIs do. Lists are in id order, cursor-paged,
// filtered by updated_since (exclusive; Unix milliseconds or RFC 3339).
// If-Match is checked as RFC 9110 says: a list of entity-tags compared
// strongly, or "*"; a bare version (If-Match: v3) is not an entity-tag and
// matches nothing, so a client that forgets the quotes gets 412.
// Errors are {"error": {"message": …}}.
//
// NewHubSpot serves a second shape, HubSpot's CRM v3 objects API, whose
// records keep their fields in a nested "properties" object (see HubSpot).
package resttest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the API. It implements http.Handler and is safe for concurrent
// use.
type Server struct {
	mu      sync.Mutex
	colls   map[string]map[string]map[string]any
	seq     int
	version int
	last    time.Time
	now     func() time.Time
	// DefaultLimit is the page size when the client sends no limit.
	DefaultLimit int
}

// New returns an API serving the named collections, empty.
func New(collections ...string) *Server {
	s := &Server{colls: map[string]map[string]map[string]any{}, DefaultLimit: 25, now: time.Now}
	for _, c := range collections {
		s.colls[c] = map[string]map[string]any{}
	}
	return s
}

// SetClock replaces the server's clock (default time.Now), which stamps
// updated_at and answers in the Date header, as a real server's own clock
// does: a test sets one that runs behind or ahead of the client's.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// stamp returns a modified time strictly after the previous one, in Unix
// milliseconds, so that every write is ordered.
func (s *Server) stamp() int64 {
	t := s.now().UTC().Truncate(time.Millisecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Millisecond)
	}
	s.last = t
	return t.UnixMilli()
}

func (s *Server) nextVersion() string {
	s.version++
	return "v" + strconv.Itoa(s.version)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	// net/http would stamp the Date header with this machine's clock; a
	// server's Date comes from its own (RFC 9110, 6.6.1).
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	coll, ok := s.colls[parts[0]]
	if !ok || len(parts) > 2 {
		fail(w, http.StatusNotFound, "no such resource")
		return
	}
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodGet:
			s.list(w, r, coll)
		case http.MethodPost:
			s.create(w, r, coll)
		default:
			fail(w, http.StatusMethodNotAllowed, "method not allowed")
		}
		return
	}
	id, _ := url.PathUnescape(parts[1])
	rec, ok := coll[id]
	if !ok {
		fail(w, http.StatusNotFound, "record "+id+" not found")
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && !ifMatch(m, rec["version"].(string)) {
		fail(w, http.StatusPreconditionFailed, "version mismatch")
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("ETag", quote(rec["version"].(string)))
		reply(w, http.StatusOK, map[string]any{"data": rec})
	case http.MethodPatch:
		var body map[string]any
		if err := decode(r, &body); err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		for k, v := range body {
			if k != "id" && k != "version" && k != "updated_at" {
				rec[k] = v
			}
		}
		rec["version"], rec["updated_at"] = s.nextVersion(), s.stamp()
		w.Header().Set("ETag", quote(rec["version"].(string)))
		reply(w, http.StatusOK, map[string]any{"data": rec})
	case http.MethodDelete:
		delete(coll, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, coll map[string]map[string]any) {
	q := r.URL.Query()
	limit := s.DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(w, http.StatusBadRequest, "bad limit")
			return
		}
		limit = min(n, 100)
	}
	var since int64
	hasSince := q.Get("updated_since") != ""
	if hasSince {
		var err error
		if since, err = strconv.ParseInt(q.Get("updated_since"), 10, 64); err != nil {
			t, err := time.Parse(time.RFC3339Nano, q.Get("updated_since"))
			if err != nil {
				fail(w, http.StatusBadRequest, "updated_since must be Unix milliseconds or RFC 3339")
				return
			}
			since = t.UnixMilli()
		}
	}
	ids := make([]string, 0, len(coll))
	for id, rec := range coll {
		if hasSince && rec["updated_at"].(int64) <= since {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	start := 0
	if c := q.Get("cursor"); c != "" {
		// The cursor is the last id handed out: key-set paging.
		start = sort.Search(len(ids), func(i int) bool { return idLess(c, ids[i]) })
	}
	end := min(start+limit, len(ids))
	data := make([]any, 0, end-start)
	for _, id := range ids[start:end] {
		data = append(data, coll[id])
	}
	meta := map[string]any{"next_cursor": nil}
	if end < len(ids) {
		meta["next_cursor"] = ids[end-1]
	}
	reply(w, http.StatusOK, map[string]any{"data": data, "meta": meta})
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, coll map[string]map[string]any) {
	var body map[string]any
	if err := decode(r, &body); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	s.seq++
	rec := maps.Clone(body)
	rec["id"] = "r" + strconv.Itoa(s.seq)
	rec["version"], rec["updated_at"] = s.nextVersion(), s.stamp()
	coll[rec["id"].(string)] = rec
	w.Header().Set("Location", "/"+strings.Trim(r.URL.Path, "/")+"/"+rec["id"].(string))
	w.Header().Set("ETag", quote(rec["version"].(string)))
	reply(w, http.StatusCreated, map[string]any{"data": rec})
}

// Len returns how many records collection holds.
func (s *Server) Len(collection string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.colls[collection])
}

func quote(version string) string { return `"` + version + `"` }

// ifMatch reports whether an If-Match field value matches the current
// version: "*", or a comma-separated list of entity-tags one of which is
// strong and equal to "version" (RFC 9110 section 13.1.1). Anything else,
// a bare token included, matches nothing.
func ifMatch(field, version string) bool {
	if strings.TrimSpace(field) == "*" {
		return true
	}
	for tag := range strings.SplitSeq(field, ",") {
		tag = strings.TrimSpace(tag)
		if len(tag) >= 2 && tag[0] == '"' && tag[len(tag)-1] == '"' && tag[1:len(tag)-1] == version {
			return true
		}
	}
	return false
}

// idLess orders "r2" before "r10".
func idLess(a, b string) bool {
	na, _ := strconv.Atoi(strings.TrimPrefix(a, "r"))
	nb, _ := strconv.Atoi(strings.TrimPrefix(b, "r"))
	if na != nb {
		return na < nb
	}
	return a < b
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %v", err)
	}
	return nil
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	reply(w, status, map[string]any{"error": map[string]any{"message": msg}})
}
