package rest

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// parsePath splits a dot-separated JSON path such as "data.items" into its
// member names. The empty path is the body itself.
func parsePath(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, ".")
	for _, s := range parts {
		if s == "" {
			return nil, fmt.Errorf("path %q has an empty member name", p)
		}
	}
	return parts, nil
}

// lookup follows path through nested objects of v. It reports false when a
// member is missing or a step is not an object.
func lookup(v any, path []string) (any, bool) {
	for _, name := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[name]; !ok {
			return nil, false
		}
	}
	return v, true
}

// checkTemplate checks a path template: relative to the base URL, with {id}
// as its only placeholder, present when the operation addresses a record.
func checkTemplate(path string, needID bool) error {
	if strings.Contains(path, "://") || strings.HasPrefix(path, "//") {
		return fmt.Errorf("path %q must be relative to base_url", path)
	}
	rest := strings.ReplaceAll(path, "{id}", "")
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("path %q: the only placeholder is {id}", path)
	}
	if strings.ContainsAny(path, "?#") {
		return fmt.Errorf("path %q must not hold a query or fragment; use query", path)
	}
	if needID && !strings.Contains(path, "{id}") {
		return fmt.Errorf("path %q needs {id}, the record's key", path)
	}
	return nil
}

// param is one query parameter. Parameters are kept in order, not in a
// url.Values, so that URLs are stable in logs and errors.
type param struct{ name, value string }

func sortParams(ps []param) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
}

// url returns the absolute URL of path (a template, with id substituted)
// with params appended to any query the base URL carries.
func (c *Client) url(path, id string, params ...param) string {
	path = strings.ReplaceAll(path, "{id}", url.PathEscape(id))
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := *c.base
	u.RawQuery = ""
	s := u.String() + path
	var b strings.Builder
	b.WriteString(c.base.RawQuery)
	for _, p := range params {
		if p.value == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.name))
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(p.value), "+", "%20"))
	}
	if b.Len() > 0 {
		s += "?" + b.String()
	}
	return s
}

// timeFormat returns the function that renders a Since time in format.
// A Go layout must render a time that parses back, which catches a layout
// with no date in it.
func timeFormat(format string) (func(time.Time) string, error) {
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
	if err != nil || !back.Equal(ref) && back.Year() != 2001 {
		return nil, errors.New("format must be rfc3339, rfc3339ms, unix, unix_ms or a Go time layout such as 2006-01-02T15:04:05Z07:00")
	}
	if !strings.Contains(format, "2006") && !strings.Contains(format, "06") {
		return nil, fmt.Errorf("format %q has no year; write a Go time layout such as 2006-01-02T15:04:05Z07:00", format)
	}
	return func(t time.Time) string { return t.UTC().Format(format) }, nil
}

// parseTime reads a modified-field value for a local Since filter: an
// RFC 3339 string or a number of seconds (or milliseconds, when it is too
// large to be seconds) since 1970.
func parseTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t, true
		}
		return time.Time{}, false
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		if err != nil {
			return time.Time{}, false
		}
		if n > 1e11 {
			return time.UnixMilli(n), true
		}
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}
