package resttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HubSpot is an in-memory API shaped like HubSpot's CRM v3 objects API,
// for tests of the rest connector's fields_at:
//
//	GET    /crm/v3/objects/{type}?limit=&after=&properties=  {"results": [...], "paging": {"next": {"after": "…", "link": "…"}}}
//	GET    /crm/v3/objects/{type}/{id}?properties=           the record
//	POST   /crm/v3/objects/{type}       {"properties": {...}}  201 the record
//	PATCH  /crm/v3/objects/{type}/{id}  {"properties": {...}}  200 the record
//	DELETE /crm/v3/objects/{type}/{id}                         204
//
// A record is {"id": "51", "properties": {...}, "createdAt": …,
// "updatedAt": …, "archived": false}. As at HubSpot, ids are numeric text,
// property values are strings, hs_object_id, createdate and
// hs_lastmodifieddate are set by the server, the last page has no "paging",
// and a response holds only the properties asked for with properties=
// (comma-separated; without it, DefaultProperties). A write body with any
// member besides "properties", or with a non-object there, is a 400, so a
// client that forgets to wrap its fields fails. There are no ETags and no
// If-Match. Errors are {"status": "error", "message": …, "category": …}.
type HubSpot struct {
	mu    sync.Mutex
	objs  map[string]map[string]*hsRecord
	seq   int
	last  time.Time
	limit int
	// DefaultProperties are the properties a response holds when the
	// request names none.
	DefaultProperties []string
	// Now, when set, replaces time.Now for the server's stamps, so a test
	// can pin a time whose milliseconds end in zero.
	Now func() time.Time
}

type hsRecord struct {
	id        string
	props     map[string]string
	createdAt string
	updatedAt string
}

// NewHubSpot returns an API serving the named object types, empty.
func NewHubSpot(objectTypes ...string) *HubSpot {
	h := &HubSpot{objs: map[string]map[string]*hsRecord{}, seq: 100, limit: 10,
		DefaultProperties: []string{"name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"}}
	for _, t := range objectTypes {
		h.objs[t] = map[string]*hsRecord{}
	}
	return h
}

// Len returns how many records of objectType the API holds.
func (h *HubSpot) Len(objectType string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.objs[objectType])
}

// stamp returns a time strictly after the previous one, in milliseconds.
func (h *HubSpot) stamp() string {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	t := now().UTC().Truncate(time.Millisecond)
	if !t.After(h.last) {
		t = h.last.Add(time.Millisecond)
	}
	h.last = t
	return t.Format("2006-01-02T15:04:05.000Z")
}

// ServeHTTP implements http.Handler.
func (h *HubSpot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/crm/v3/objects/")
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	h.mu.Lock()
	defer h.mu.Unlock()
	objs, known := h.objs[parts[0]]
	if !ok || !known || len(parts) > 2 {
		hsFail(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "unknown object type")
		return
	}
	props := h.DefaultProperties
	if p := r.URL.Query().Get("properties"); p != "" {
		props = strings.Split(p, ",")
	}
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodGet:
			h.list(w, r, objs, props)
		case http.MethodPost:
			in, ok := hsBody(w, r)
			if !ok {
				return
			}
			h.seq++
			now := h.stamp()
			rec := &hsRecord{id: strconv.Itoa(h.seq), props: in, createdAt: now, updatedAt: now}
			h.touch(rec)
			objs[rec.id] = rec
			reply(w, http.StatusCreated, rec.json(props))
		default:
			hsFail(w, http.StatusMethodNotAllowed, "VALIDATION_ERROR", "method not allowed")
		}
		return
	}
	id, _ := url.PathUnescape(parts[1])
	rec, ok := objs[id]
	if !ok {
		hsFail(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "resource not found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		reply(w, http.StatusOK, rec.json(props))
	case http.MethodPatch:
		in, ok := hsBody(w, r)
		if !ok {
			return
		}
		for k, v := range in {
			rec.props[k] = v
		}
		rec.updatedAt = h.stamp()
		h.touch(rec)
		reply(w, http.StatusOK, rec.json(props))
	case http.MethodDelete:
		delete(objs, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		hsFail(w, http.StatusMethodNotAllowed, "VALIDATION_ERROR", "method not allowed")
	}
}

// touch sets the properties the server owns.
func (h *HubSpot) touch(rec *hsRecord) {
	rec.props["hs_object_id"] = rec.id
	rec.props["createdate"] = rec.createdAt
	rec.props["hs_lastmodifieddate"] = rec.updatedAt
}

func (h *HubSpot) list(w http.ResponseWriter, r *http.Request, objs map[string]*hsRecord, props []string) {
	q := r.URL.Query()
	limit := h.limit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			hsFail(w, http.StatusBadRequest, "VALIDATION_ERROR", "limit must be 1 to 100")
			return
		}
		limit = n
	}
	ids := make([]int, 0, len(objs))
	for id := range objs {
		n, _ := strconv.Atoi(id)
		ids = append(ids, n)
	}
	sort.Ints(ids)
	start := 0
	if a := q.Get("after"); a != "" {
		// The cursor is the last id handed out: key-set paging.
		n, err := strconv.Atoi(a)
		if err != nil {
			hsFail(w, http.StatusBadRequest, "VALIDATION_ERROR", "after must be a cursor from paging.next.after")
			return
		}
		start = sort.SearchInts(ids, n+1)
	}
	end := min(start+limit, len(ids))
	results := make([]any, 0, end-start)
	for _, id := range ids[start:end] {
		results = append(results, objs[strconv.Itoa(id)].json(props))
	}
	out := map[string]any{"results": results}
	if end < len(ids) {
		after := strconv.Itoa(ids[end-1])
		next := *r.URL
		v := next.Query()
		v.Set("after", after)
		next.RawQuery = v.Encode()
		out["paging"] = map[string]any{"next": map[string]any{"after": after, "link": next.String()}}
	}
	reply(w, http.StatusOK, out)
}

// json renders the record with the properties asked for, those it has.
func (rec *hsRecord) json(props []string) map[string]any {
	p := map[string]any{}
	for _, name := range props {
		if v, ok := rec.props[name]; ok {
			p[name] = v
		}
	}
	return map[string]any{"id": rec.id, "properties": p, "createdAt": rec.createdAt,
		"updatedAt": rec.updatedAt, "archived": false}
}

// hsBody decodes a write body, which must be {"properties": {...}}, into
// string property values (numbers and booleans as their JSON text, null
// as "", as HubSpot stores them).
func hsBody(w http.ResponseWriter, r *http.Request) (map[string]string, bool) {
	var body map[string]json.RawMessage
	if err := decode(r, &body); err != nil {
		hsFail(w, http.StatusBadRequest, "VALIDATION_ERROR", err.Error())
		return nil, false
	}
	for k := range body {
		if k != "properties" {
			hsFail(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("unknown member %q; properties go in \"properties\"", k))
			return nil, false
		}
	}
	var props map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body["properties"])))
	dec.UseNumber()
	if err := dec.Decode(&props); err != nil || props == nil {
		hsFail(w, http.StatusBadRequest, "VALIDATION_ERROR", "properties must be an object")
		return nil, false
	}
	out := make(map[string]string, len(props))
	for k, v := range props {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
			out[k] = ""
		case json.Number, bool:
			out[k] = fmt.Sprint(x)
		default:
			hsFail(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("property %s must be a string, number or boolean", k))
			return nil, false
		}
	}
	return out, true
}

func hsFail(w http.ResponseWriter, status int, category, msg string) {
	reply(w, status, map[string]any{"status": "error", "message": msg, "category": category})
}
