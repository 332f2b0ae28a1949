package fake

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// readSpec is a parsed collection request.
type readSpec struct {
	fields   []string // $select; nil for all
	filter   string
	order    []orderTerm
	top      int // -1: none
	skip     int // -1: none
	token    string
	count    bool
	pageSize int
	refused  map[string]string // functions the service does not implement
	// oneFieldOr refuses an or across two fields, as Business Central
	// does: see oneFieldOr.
	oneFieldOr bool
	annotate   bool // lookups' logical names asked for (lookups.go)
}

// readResult is one page of a collection read, ready to render after the
// lock is released: entries are immutable.
type readResult struct {
	page  []*entry
	cols  []int    // columns to render; nil for all
	names []string // column names snapshot, for @odata.context
	next  string   // $skiptoken of the next page; "" when this is the last
	total int      // @odata.count, when asked for
}

func (s *Server) serveCollection(w http.ResponseWriter, r *http.Request, t *table) {
	if s.serveChanges(w, r, t) { // change tracking: changes.go
		return
	}
	opts, err := parseOptions(r.URL.RawQuery)
	if err != nil {
		writeError(w, err)
		return
	}
	spec, err := parseReadSpec(opts)
	if err != nil {
		writeError(w, err)
		return
	}
	spec.refused = s.refusedFunctions
	spec.oneFieldOr = s.oneFieldOr
	prefs := parsePrefer(r.Header)
	spec.pageSize = defaultPageSize
	var applied []string
	if prefs.maxPageSize > 0 {
		spec.pageSize = min(prefs.maxPageSize, defaultPageSize)
		applied = append(applied, "odata.maxpagesize="+strconv.Itoa(spec.pageSize))
	}
	var names string
	if names, spec.annotate = lookupNames(r.Header); spec.annotate {
		applied = append(applied, names)
	}
	if len(applied) > 0 {
		w.Header().Set("Preference-Applied", strings.Join(applied, ","))
	}

	s.mu.RLock()
	res, err := t.read(spec)
	labels := t.cols.labels
	s.mu.RUnlock()
	if err != nil {
		writeError(w, err)
		return
	}

	w.WriteHeader(http.StatusOK)
	// Stream: the page is rendered in chunks straight to the connection, so
	// a 5000-record page never exists in memory as a whole.
	const flushAt = 32 << 10
	buf := make([]byte, 0, flushAt+4<<10)
	buf = append(buf, `{"@odata.context":`...)
	buf = appendQuote(buf, s.contextURL(r, t, selectSuffix(res)))
	if spec.count {
		buf = append(buf, `,"@odata.count":`...)
		buf = strconv.AppendInt(buf, int64(res.total), 10)
	}
	buf = append(buf, `,"value":[`...)
	for i, e := range res.page {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = t.appendEntity(buf, e, res.cols, labels, "", spec.annotate)
		if len(buf) >= flushAt {
			if _, err := w.Write(buf); err != nil {
				return // the client went away
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, ']')
	if res.next != "" {
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendQuote(buf, s.nextLink(r, t, nextQuery(opts, spec, res)))
	}
	buf = append(buf, "}\n"...)
	_, _ = w.Write(buf)
}

// selectSuffix renders the $select part of @odata.context: "(a,b)".
func selectSuffix(res readResult) string {
	if res.cols == nil {
		return ""
	}
	names := make([]string, 0, len(res.cols))
	for _, c := range res.cols {
		if !strings.Contains(res.names[c], "@") { // an annotation, not a property
			names = append(names, res.names[c])
		}
	}
	return "(" + strings.Join(names, ",") + ")"
}

// requestPathOrSet is the path of the collection relative to the service
// root, as the client spelled it.
func requestPathOrSet(r *http.Request, t *table) string {
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/" + t.def.Name
}

// nextQuery renders the query of @odata.nextLink: the request's options
// with $skip consumed, $top reduced by what was returned, and the new
// $skiptoken. Spaces are encoded as %20, never '+'.
func nextQuery(opts options, spec readSpec, res readResult) string {
	var parts []string
	add := func(name, val string) {
		parts = append(parts, escapeQuery(name)+"="+escapeQuery(val))
	}
	for _, name := range []string{"$select", "$filter", "$orderby", "$count"} {
		if v, ok := opts[name]; ok {
			add(name, v)
		}
	}
	if spec.top >= 0 {
		add("$top", strconv.Itoa(spec.top-len(res.page)))
	}
	var custom []string
	for name := range opts {
		if !strings.HasPrefix(name, "$") {
			custom = append(custom, name)
		}
	}
	slices.Sort(custom)
	for _, name := range custom {
		add(name, opts[name])
	}
	add("$skiptoken", res.next)
	return strings.Join(parts, "&")
}

// escapeQuery percent-encodes a query name or value, keeping '$' and
// encoding spaces as %20.
func escapeQuery(s string) string {
	return strings.NewReplacer("+", "%20", "%24", "$").Replace(url.QueryEscape(s))
}

func parseReadSpec(opts options) (readSpec, error) {
	var spec readSpec
	var err error
	if spec.fields, err = selectFields(opts); err != nil {
		return spec, err
	}
	spec.filter = opts["$filter"]
	if spec.order, err = orderBy(opts); err != nil {
		return spec, err
	}
	if spec.top, err = count(opts, "$top"); err != nil {
		return spec, err
	}
	if spec.skip, err = count(opts, "$skip"); err != nil {
		return spec, err
	}
	if spec.count, err = wantCount(opts); err != nil {
		return spec, err
	}
	spec.token = opts["$skiptoken"]
	return spec, nil
}

// resolver returns the filter resolver for t. Call with the lock held.
func (t *table) resolver() resolver {
	return func(name string) (int, bool) {
		col := t.cols.lookup(name)
		return col, col >= 0 && col == t.modCol
	}
}

// selectColumns resolves $select to the columns to render, in column
// order, always including the key like the real servers, and with annotate
// the annotations of the lookups selected. Unknown fields are left out.
func (t *table) selectColumns(fields []string, annotate bool) []int {
	if fields == nil {
		return nil
	}
	cols := []int{t.keyCol}
	for _, f := range fields {
		if c := t.cols.lookup(f); c >= 0 {
			cols = append(cols, c)
		}
	}
	if annotate {
		cols = t.annotationColumns(cols)
	}
	slices.Sort(cols)
	return slices.Compact(cols)
}

// read computes one page of a collection read. Call with the server's read
// lock held.
func (t *table) read(spec readSpec) (readResult, error) {
	res := readResult{cols: t.selectColumns(spec.fields, spec.annotate), names: t.cols.names}
	var filter expr
	if spec.filter != "" {
		var err error
		if filter, err = parseFilterRefusing(spec.filter, t.resolver(), spec.refused); err != nil {
			return res, err
		}
		if spec.oneFieldOr {
			if err := oneFieldOr(filter); err != nil {
				return res, err
			}
		}
	}
	terms := make([]sortTerm, len(spec.order))
	for i, o := range spec.order {
		terms[i] = sortTerm{col: t.cols.lookup(o.field), desc: o.desc}
	}

	var rows []*entry
	if keys, ok := keyCandidates(filter, t.keyCol); filter != nil && ok {
		rows = t.rowsByKey(keys, terms)
	} else {
		rows = t.sorted(terms)
	}
	match := func(e *entry) bool { return filter == nil || matches(filter, e) }

	if spec.count {
		for _, e := range rows {
			if match(e) {
				res.total++
			}
		}
	}

	start := 0
	if spec.token != "" {
		c, err := decodeToken(spec.token, len(terms))
		if err != nil {
			return res, badRequest("invalid $skiptoken: it must be copied from an @odata.nextLink of the same query")
		}
		start = t.after(rows, terms, c)
	}

	// limit is what this page may hold; last says the page ends the read
	// because $top runs out with it.
	limit, last := spec.pageSize, false
	if spec.top >= 0 && spec.top <= spec.pageSize {
		limit, last = spec.top, true
	}
	skip := max(spec.skip, 0)
	more := false
	for _, e := range rows[start:] {
		if !match(e) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(res.page) == limit {
			more = !last
			break
		}
		res.page = append(res.page, e)
	}
	if more {
		lastRow := res.page[len(res.page)-1]
		res.next = encodeToken(cursor{vals: t.sortValues(lastRow, terms), key: lastRow.key})
	}
	return res, nil
}

// rowsByKey returns the rows with the given keys, sorted by terms then key.
func (t *table) rowsByKey(keys []string, terms []sortTerm) []*entry {
	rows := make([]*entry, 0, len(keys))
	for _, k := range keys {
		if e, ok := t.rows[k]; ok {
			rows = append(rows, e)
		}
	}
	t.sortRows(rows, terms)
	// A key listed twice would otherwise be returned twice.
	return slices.CompactFunc(rows, func(a, b *entry) bool { return a == b })
}

func (s *Server) serveEntity(w http.ResponseWriter, r *http.Request, t *table, key string) {
	opts, err := parseOptions(r.URL.RawQuery)
	if err != nil {
		writeError(w, err)
		return
	}
	fields, err := selectFields(opts)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.RLock()
	e, ok := t.rows[key]
	applied, annotate := lookupNames(r.Header)
	if annotate {
		w.Header().Set("Preference-Applied", applied)
	}
	cols := t.selectColumns(fields, annotate)
	names, labels := t.cols.names, t.cols.labels
	s.mu.RUnlock()
	if !ok {
		writeError(w, notFound(t.def.Name, key))
		return
	}
	ctx := s.contextURL(r, t, selectSuffix(readResult{cols: cols, names: names})+"/$entity")
	writeEntity(w, http.StatusOK, t, e, cols, labels, ctx, annotate)
}

// writeEntity answers with one record and its ETag header.
func writeEntity(w http.ResponseWriter, status int, t *table, e *entry, cols []int, labels []string, ctx string, annotate bool) {
	body := t.appendEntity(make([]byte, 0, 1024), e, cols, labels, ctx, annotate)
	body = append(body, '\n')
	w.Header().Set("ETag", etag(e.version))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
