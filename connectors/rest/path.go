package rest

import (
	"fmt"
	"net/url"
	"sort"
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

// checkTemplate checks a path template; see CheckPathTemplate.
func checkTemplate(path string, needID bool) error { return CheckPathTemplate(path, needID) }

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
	return SinceFormatter(format)
}

// checkID refuses a record key that cannot stand for {id} in a path: "."
// and ".." are dot segments, which servers and proxies resolve away (a
// DELETE of record "." would address the collection), and "/", "\" or a
// control character would change the path or its meaning whatever the
// escaping, since some servers unescape before routing.
func checkID(id string) error {
	if id == "." || id == ".." {
		return fmt.Errorf("key %q cannot be sent in a URL path: it is a dot segment, which would address another resource", id)
	}
	for _, r := range id {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("key %q cannot be sent in a URL path: it holds %q", id, r)
		}
	}
	return nil
}

// entityTag renders a record's version for If-Match (RFC 9110 section
// 8.8.3): a version that is already an entity-tag ("…" or W/"…") is sent
// as it is, any other (a number such as 3, a bare token) is quoted, since a
// bare value is not an entity-tag and strict servers ignore or refuse it.
func entityTag(v string) string {
	s := strings.TrimPrefix(v, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.Contains(s[1:len(s)-1], `"`) {
		return v
	}
	return `"` + strings.ReplaceAll(v, `"`, "") + `"`
}
