package odata

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/couplerhq/coupler/connectors/transport"
)

// param is one query option. Options are kept in order, not in a
// url.Values, so that URLs are stable and readable in logs and errors.
type param struct{ name, value string }

// resourceURL returns the absolute URL of resource (an escaped path relative
// to the service root, such as "accounts(…)") with params appended to any
// query the service root carries.
func (c *Client) resourceURL(resource string, params ...param) string {
	u := *c.base
	u.RawQuery = ""
	s := u.String() + "/" + resource
	q := encodeQuery(params)
	switch {
	case c.base.RawQuery != "" && q != "":
		s += "?" + c.base.RawQuery + "&" + q
	case c.base.RawQuery != "":
		s += "?" + c.base.RawQuery
	case q != "":
		s += "?" + q
	}
	return s
}

// encodeQuery joins params as name=value pairs, skipping empty values.
func encodeQuery(params []param) string {
	var b strings.Builder
	for _, p := range params {
		if p.value == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name) // "$select" etc.: literal, never user input
		b.WriteByte('=')
		b.WriteString(escape(p.value, queryKeep))
	}
	return b.String()
}

// Bytes that escape leaves alone besides the unreserved ones. In a query
// value, '$' ',' ':' ”' '(' ')' '/' are legal (RFC 3986) and keep $filter
// and $select readable; '+' is always escaped, because OData servers read a
// literal '+' as a space. In a key segment only the quotes stay, since
// ',' '(' ')' would change how the server parses the key. Entity names come
// from the project file, not from data, and may be paths.
const (
	queryKeep  = "$,:'()/"
	entityKeep = "/(),'=:$"
	pathKeep   = "'"
)

// escape percent-encodes s, leaving unreserved bytes and those in keep.
// Spaces become %20, never '+'.
func escape(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if isUnreserved(ch) || strings.IndexByte(keep, ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}

func isUnreserved(ch byte) bool {
	return 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
		ch == '-' || ch == '.' || ch == '_' || ch == '~'
}

// entityPath is the escaped path of an entity set. Path punctuation stays,
// so that an entity may be a path below the service root, such as
// "companies(…)/customers" in Business Central.
func entityPath(entity string) string {
	return escape(entity, entityKeep)
}

// recordPath is the escaped path of one record: entity(key).
func recordPath(entity, key string) string {
	return entityPath(entity) + "(" + escape(keyLiteral(key), pathKeep) + ")"
}

// nextURL resolves a page's @odata.nextLink against the URL of the page and
// checks it. The link must stay on the service's origin, because the
// request will carry our credentials, and must not point back at the page
// itself, which would loop forever.
func (c *Client) nextURL(current, link string) (string, error) {
	if link == "" {
		return "", nil
	}
	cur, err := url.Parse(current)
	if err != nil {
		return "", fmt.Errorf("parse page url: %w", err)
	}
	ref, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("nextLink does not parse: %w", err)
	}
	next := cur.ResolveReference(ref)
	if !transport.SameOrigin(next, c.base) {
		return "", fmt.Errorf("nextLink to %s refused: it leaves the service origin %s",
			transport.Origin(next), transport.Origin(c.base))
	}
	if next.User != nil {
		return "", fmt.Errorf("nextLink refused: it carries credentials")
	}
	s := next.String()
	if s == current {
		return "", fmt.Errorf("nextLink %s points at the page itself", redact(next))
	}
	return s, nil
}

// redact returns the path and query of u, for errors: never the user info,
// and the host is implied by the connector.
func redact(u *url.URL) string {
	return u.RequestURI()
}

// redactString is redact for a URL in string form.
func redactString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable url)"
	}
	return redact(u)
}
