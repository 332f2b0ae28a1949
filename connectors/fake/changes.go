package fake

// Change tracking as the Dataverse Web API documents it in "Use change
// tracking to synchronize data with external systems": a GET of an entity
// set with Prefer: odata.track-changes answers Preference-Applied:
// odata.track-changes and ends with an @odata.deltaLink; a GET of that
// link answers the records created or changed since, and a deleted entry
// for each record deleted since, and a new delta link.

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dataverse's answers to change-tracking requests it refuses ("Web service
// error codes", Microsoft Dataverse). The page gives no HTTP status per
// code; the fake answers 400, as the Web API does for requests it refuses.
const (
	codeTrackingNotEnabled = "0x80072491" // ChangeTrackingNotEnabledForEntity
	codeExpiredVersion     = "0x80044352" // ExpiredVersionStamp
)

// changeLog is the server's change tracking. Its maps are guarded by
// Server.mu.
type changeLog struct {
	// tracked names the entity sets whose table has change tracking on
	// (Dataverse: the table's Track changes property).
	tracked map[string]bool
	// removed holds, per set, the version at which each key was deleted.
	removed map[string]map[string]uint64
	// epoch counts ExpireChangeTokens calls; a token of an earlier epoch
	// is expired.
	epoch uint64
}

// SetChangeTracking turns change tracking of an entity set on or off, as
// the table's Track changes property does in Dataverse ("Use change
// tracking to synchronize data with external systems": "Enable change
// tracking for a table"). A set without it refuses Prefer:
// odata.track-changes with ChangeTrackingNotEnabledForEntity.
func (s *Server) SetChangeTracking(set string, on bool) error {
	if _, ok := s.tables[set]; !ok {
		return fmt.Errorf("fake: no entity set %q", set)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changes.tracked == nil {
		s.changes.tracked = map[string]bool{}
		s.changes.removed = map[string]map[string]uint64{}
	}
	s.changes.tracked[set] = on
	return nil
}

// crmTracked are the sets of NewCRM with change tracking on: those the
// bundled mappings read, whose tables an administrator would enable it for.
// stringmaps is left without it: Dataverse answers it read-only, and the
// fake needs one set that refuses the preference.
var crmTracked = []string{"accounts", "contacts", "systemusers", "transactioncurrencies", "uomschedules",
	"products", "opportunities", "salesorders", "invoices"}

func trackCRMChanges(s *Server) {
	for _, set := range crmTracked {
		if err := s.SetChangeTracking(set, true); err != nil {
			panic(err) // a set NewCRM does not serve: a programming error
		}
	}
}

// ChangeTracking reports whether change tracking is on for set.
func (s *Server) ChangeTracking(set string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changes.tracked[set]
}

// ExpireChangeTokens makes every delta link handed out so far expired, as
// Dataverse does with changes older than the organization's
// ExpireChangeTrackingInDays (7 days by default): a GET of one answers
// ExpiredVersionStamp, "Please perform a full sync".
func (s *Server) ExpireChangeTokens() {
	s.mu.Lock()
	s.changes.epoch++
	s.mu.Unlock()
}

// noteRemoved records the deletion of key from t, for the delta links of a
// tracked set. Call with s.mu held. A deletion takes a version of its own,
// so that deletions and writes are ordered in one sequence.
func (s *Server) noteRemoved(t *table, key string) {
	if !s.changes.tracked[t.def.Name] {
		return
	}
	s.version++
	if s.changes.removed[t.def.Name] == nil {
		s.changes.removed[t.def.Name] = map[string]uint64{}
	}
	s.changes.removed[t.def.Name][key] = s.version
}

// change is one entry of a change-tracking page: a record, or a deleted key.
type change struct {
	version uint64
	entry   *entry // nil for a deletion
	key     string
}

// serveChanges answers a collection GET that asks for change tracking (the
// Prefer header) or follows a delta link ($deltatoken), and reports whether
// it did; other reads are left to serveCollection.
//
// Both sweep the set by version: a page holds the changes after the
// position its $skiptoken names, the last page's delta link names the
// version the read began at. A record written during the read may come
// twice, never not at all; the first read returns every record and no
// deletions ("If RetrieveEntityChanges is executed with no version …
// returning all of the records as new. Deleted objects are not returned").
func (s *Server) serveChanges(w http.ResponseWriter, r *http.Request, t *table) bool {
	raw, token, hasToken := cutOption(r.URL.RawQuery, "$deltatoken")
	track := wantsTracking(r.Header)
	if !track && !hasToken {
		return false
	}
	if !s.ChangeTracking(t.def.Name) {
		writeStatus(w, http.StatusBadRequest, codeTrackingNotEnabled, fmt.Sprintf("Entity %s isn't enabled for change tracking.", t.def.Name))
		return true
	}
	opts, err := parseOptions(raw)
	if err != nil {
		writeError(w, err)
		return true
	}
	// "Query options not supported in Change Tracking Web API request".
	for _, o := range []string{"$filter", "$orderby", "$expand", "$top"} {
		if _, ok := opts[o]; ok {
			writeStatus(w, http.StatusBadRequest, "0x0", fmt.Sprintf("The \"%s\" query parameter isn't supported when Change Tracking is enabled.", o))
			return true
		}
	}
	fields, err := selectFields(opts)
	if err != nil {
		writeError(w, err)
		return true
	}
	since, epoch, err := parseDeltaToken(token, hasToken)
	if err != nil {
		writeError(w, err)
		return true
	}
	after, start, err := parseChangesSkip(opts["$skiptoken"])
	if err != nil {
		writeError(w, err)
		return true
	}
	pageSize := defaultPageSize
	if n := parsePrefer(r.Header).maxPageSize; n > 0 {
		pageSize = min(n, defaultPageSize)
	}

	s.mu.RLock()
	if hasToken && epoch < s.changes.epoch {
		s.mu.RUnlock()
		writeStatus(w, http.StatusBadRequest, codeExpiredVersion, "Version stamp associated with the client has expired. Please perform a full sync.")
		return true
	}
	if start == 0 {
		start = s.version
	}
	after = max(after, since)
	var list []change
	for key, e := range t.rows {
		if e.version > after {
			list = append(list, change{version: e.version, entry: e, key: key})
		}
	}
	if hasToken {
		for key, v := range s.changes.removed[t.def.Name] {
			if _, back := t.rows[key]; v > after && !back {
				list = append(list, change{version: v, key: key})
			}
		}
	}
	// Annotations are asked for as on any read ("Multi-table lookups").
	applied, annotate := lookupNames(r.Header)
	cols, labels := t.selectColumns(fields, annotate), t.cols.labels
	names := t.cols.names
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b change) int { return cmp.Compare(a.version, b.version) })
	more := len(list) > pageSize
	if more {
		list = list[:pageSize]
	}

	root := serviceRoot(r)
	path := root + requestPathOrSet(r, t)
	query := func(skip string) string {
		q := ""
		if sel, ok := opts["$select"]; ok {
			q = "$select=" + escapeQuery(sel) + "&"
		}
		return q + skip
	}
	if track {
		prefs := preferTrackChanges
		if n := parsePrefer(r.Header).maxPageSize; n > 0 {
			prefs += ",odata.maxpagesize=" + strconv.Itoa(pageSize)
		}
		if annotate {
			prefs += "," + applied
		}
		w.Header().Set("Preference-Applied", prefs)
	}
	w.WriteHeader(http.StatusOK)
	ctx := root + "/$metadata#" + t.def.Name + selectSuffix(readResult{cols: cols, names: names})
	if hasToken {
		ctx += "/$delta"
	}
	buf := append([]byte(`{"@odata.context":`), appendQuote(nil, ctx)...)
	buf = append(buf, `,"value":[`...)
	for i, c := range list {
		if i > 0 {
			buf = append(buf, ',')
		}
		if c.entry != nil {
			buf = t.appendEntity(buf, c.entry, cols, labels, "", annotate)
			continue
		}
		buf = append(buf, `{"@odata.context":`...)
		buf = appendQuote(buf, root+"/$metadata#"+t.def.Name+"/$deletedEntity")
		buf = append(buf, `,"id":`...)
		buf = appendQuote(buf, c.key)
		buf = append(buf, `,"reason":"deleted"}`...)
	}
	buf = append(buf, ']')
	if more {
		skip := "$skiptoken=" + strconv.FormatUint(list[len(list)-1].version, 10) + "!" + strconv.FormatUint(start, 10)
		if hasToken {
			skip = "$deltatoken=" + escapeQuery(token) + "&" + skip
		}
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendQuote(buf, path+"?"+query(skip))
	} else {
		buf = append(buf, `,"@odata.deltaLink":`...)
		buf = appendQuote(buf, path+"?"+query("$deltatoken="+escapeQuery(deltaToken(start, s.changes.epoch, s.now()))))
	}
	buf = append(buf, "}\n"...)
	_, _ = w.Write(buf)
	return true
}

// preferTrackChanges is the preference that asks for a delta link.
const preferTrackChanges = "odata.track-changes"

// wantsTracking reports whether a request's Prefer header asks for
// odata.track-changes.
func wantsTracking(h http.Header) bool {
	for _, line := range h.Values("Prefer") {
		for pref := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(pref), preferTrackChanges) {
				return true
			}
		}
	}
	return false
}

// cutOption removes the query option name from raw, returning the rest and
// the option's decoded value.
func cutOption(raw, name string) (rest, value string, found bool) {
	var keep []string
	for part := range strings.SplitSeq(raw, "&") {
		n, v, _ := strings.Cut(part, "=")
		if n == name || n == strings.ReplaceAll(name, "$", "%24") {
			value, found = v, true
			if u, err := url.PathUnescape(v); err == nil {
				value = u
			}
			continue
		}
		if part != "" {
			keep = append(keep, part)
		}
	}
	return strings.Join(keep, "&"), value, found
}

// deltaToken renders a delta token much as Dataverse's look
// (919042!08/22/2017 08:10:44): the version, the expiry epoch, '!' and the
// time.
func deltaToken(version, epoch uint64, now time.Time) string {
	return strconv.FormatUint(version, 10) + "." + strconv.FormatUint(epoch, 10) + "!" + now.UTC().Format("01/02/2006 15:04:05")
}

// parseDeltaToken reads the version and the epoch of a delta token.
func parseDeltaToken(token string, has bool) (version, epoch uint64, err error) {
	if !has {
		return 0, 0, nil
	}
	head, _, _ := strings.Cut(token, "!")
	v, e, ok := strings.Cut(head, ".")
	version, err1 := strconv.ParseUint(v, 10, 64)
	epoch, err2 := strconv.ParseUint(e, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, badRequest("invalid $deltatoken: it must be copied from an @odata.deltaLink")
	}
	return version, epoch, nil
}

// parseChangesSkip reads the $skiptoken of a change-tracking page: the
// version of the last change handed out and the version the read began at.
func parseChangesSkip(tok string) (after, start uint64, err error) {
	if tok == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(tok, "!")
	after, err1 := strconv.ParseUint(a, 10, 64)
	start, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || start == 0 {
		return 0, 0, badRequest("invalid $skiptoken: it must be copied from an @odata.nextLink of the same query")
	}
	return after, start, nil
}
