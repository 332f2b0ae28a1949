package rest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Resource says how a REST connector reaches one entity: the requests for
// each operation, where the records are in a response, how pages follow one
// another and how an incremental read is asked for. Zero fields take the
// defaults the connector documents.
type Resource struct {
	// List, Get, Create, Update and Delete are the requests of each
	// operation. Paths are relative to the base URL and may hold {id}, the
	// record's key, path-escaped.
	List, Get, Create, Update, Delete Endpoint
	// Records is the dot-separated path of the records array in a list
	// response, e.g. "data.items"; empty means the body is the array.
	Records string
	// Record is the path of the record in a single-record response (get,
	// create, update), e.g. "data"; empty means the body is the record.
	Record string
	// FieldsAt is the dot-separated path, inside each record object, of
	// the object that holds the record's own fields, e.g. "properties" for
	// HubSpot's {"id": …, "properties": {…}}; empty means the record object
	// itself. Records read are that object's fields merged with the
	// record's top-level scalar fields (the nested value wins a clash,
	// except for the key, the ETag and the modified field, where the top
	// level wins); fields written are sent wrapped in the same path.
	FieldsAt string
	// Key is the field that identifies a record, used in {id} and to read
	// the key of a created record; empty means the mapping's key.
	Key string
	// ETag is the field that holds a record's version; when set, updates
	// and deletes send it in If-Match, and a 412 reports the record stale.
	ETag string
	// Query holds fixed query parameters added to every list request, e.g.
	// a sort order.
	Query map[string]string
	// GetQuery holds fixed query parameters added to every get request
	// (one record by key), e.g. HubSpot's properties=name,domain, without
	// which a get answers fewer fields than the list does.
	GetQuery map[string]string
	// Paging says how a list response leads to the next page.
	Paging Paging
	// Since says how to ask for the records modified after a time.
	Since Since
}

// Endpoint is one request: a method and a path template.
type Endpoint struct {
	Method string
	Path   string
}

// Paging styles of a REST list endpoint.
const (
	PagingNone       = "none"        // one response holds every record
	PagingNextLink   = "next_link"   // the body holds the next page's URL
	PagingLinkHeader = "link_header" // a Link header with rel="next"
	PagingPage       = "page"        // a page number parameter
	PagingOffset     = "offset"      // an offset parameter
	PagingCursor     = "cursor"      // the body holds a token sent back as a parameter
)

// Paging says how a list response leads to the next page.
type Paging struct {
	// Style is one of the Paging* constants; empty means none.
	Style string
	// Next is the body path of the next page's URL (next_link) or of the
	// cursor token (cursor).
	Next string
	// Param is the query parameter carrying the page number, offset or
	// cursor.
	Param string
	// SizeParam, when set, carries the page size (Config.PageSize).
	SizeParam string
	// Start is the number of the first page (page style), taken as it is:
	// 0 for APIs that count pages from 0. The project-file loader fills in
	// 1 when a page-style entity does not say.
	Start int
}

// Since says how to ask a REST list endpoint for the records modified after
// a time.
type Since struct {
	// Param is the query parameter, e.g. "updated_since" or
	// "modifiedAt_gte"; empty means the endpoint cannot filter, and an
	// incremental read reads everything and filters locally.
	Param string
	// Format renders the time: "rfc3339" (the default), "rfc3339ms" (three
	// fraction digits, Z), "unix" (seconds), "unix_ms", or a Go time layout.
	Format string
}

// ParseEndpoint reads an endpoint as a project file writes it: "METHOD
// /path" or just "/path" (the method then stays empty, for the default).
// needID says the operation addresses one record, so the path must hold
// {id}.
func ParseEndpoint(s string, needID bool) (Endpoint, error) {
	var e Endpoint
	s = strings.TrimSpace(s)
	if m, p, ok := strings.Cut(s, " "); ok {
		e.Method, s = strings.ToUpper(m), strings.TrimSpace(p)
		switch e.Method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			return e, fmt.Errorf("method %q is not GET, POST, PUT, PATCH or DELETE", m)
		}
	}
	e.Path = s
	return e, CheckPathTemplate(s, needID)
}

// CheckPathTemplate checks a REST path template: relative to the base URL,
// with {id} as its only placeholder, present when needID.
func CheckPathTemplate(path string, needID bool) error {
	switch {
	case path == "":
		return errors.New("path is empty")
	case strings.Contains(path, "://") || strings.HasPrefix(path, "//"):
		return fmt.Errorf("path %q must be relative to base_url", path)
	case strings.ContainsAny(strings.ReplaceAll(path, "{id}", ""), "{}"):
		return fmt.Errorf("path %q: the only placeholder is {id}", path)
	case strings.ContainsAny(path, "?#"):
		return fmt.Errorf("path %q must not hold a query or fragment; use query", path)
	case needID && !strings.Contains(path, "{id}"):
		return fmt.Errorf("path %q needs {id}, the record's key", path)
	}
	return nil
}

// SinceFormatter returns the function that renders a Since time in format:
// "rfc3339" (or empty), "rfc3339ms", "unix", "unix_ms", or a Go layout,
// which must carry at least a year, month and day.
func SinceFormatter(format string) (func(time.Time) string, error) {
	switch format {
	case "", "rfc3339":
		return func(t time.Time) string { return t.UTC().Format(time.RFC3339) }, nil
	case "rfc3339ms":
		return func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }, nil
	case "unix":
		return func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }, nil
	case "unix_ms":
		return func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }, nil
	}
	ref := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	back, err := time.Parse(format, ref.Format(format))
	if err != nil || back.Year() != 2001 || back.Month() != 2 || back.Day() != 3 {
		return nil, fmt.Errorf("format %q is not rfc3339, rfc3339ms, unix, unix_ms or a Go time layout with a date, such as 2006-01-02T15:04:05Z07:00", format)
	}
	return func(t time.Time) string { return t.UTC().Format(format) }, nil
}

// PagingStyles lists the paging styles a REST entity may use.
var PagingStyles = []string{PagingNone, PagingNextLink, PagingLinkHeader, PagingPage, PagingOffset, PagingCursor}
