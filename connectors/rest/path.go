package rest

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
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

// checkTemplate checks a path template; see connectors.CheckPathTemplate.
func checkTemplate(path string, needID bool) error { return connectors.CheckPathTemplate(path, needID) }

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
func timeFormat(format string) (func(time.Time) string, error) {
	return connectors.SinceFormatter(format)
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
