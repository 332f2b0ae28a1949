package odata

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
)

// param is one query option. Options are kept in order, not in a
// url.Values, so that URLs are stable and readable in logs and errors.
type param struct{ name, value string }

// companySegment matches a path segment that names a Business Central
// company: companies({id}) in its API v2.0 ("Tips for working with the
// APIs": all resources live in the context of a parent company, at
// <endpoint>/companies({id})/customers) and Company('{name}') in its OData
// web services (…/ODataV4/Company('CRONUS')/Customer). In both, $metadata
// and $batch are at the service root above it.
var companySegment = regexp.MustCompile(`^(companies|Company)\([^()/]+\)$`)

// splitServiceRoot returns the service root and the escaped entity path
// (ending in "/", or "") of a connector whose base URL is base.
//
// With entityPath set (the entity_path setting), base is the root as it
// is, and the entity sets are below entityPath. Without it, a base URL
// whose last segment names a company (companySegment) is split there: the
// URL Business Central documents for its API,
// https://api.businesscentral.dynamics.com/v2.0/{tenant}/{env}/api/v2.0/companies({id}),
// is the root …/api/v2.0 and the entity path companies({id}). A base URL
// that ends in a company and has an entity path too is refused: the sets
// would be looked for under companies(…)/companies(…).
func splitServiceRoot(base *url.URL, entityPath string) (*url.URL, string, error) {
	esc := base.EscapedPath()
	i := strings.LastIndexByte(esc, '/')
	last := esc[i+1:]
	if entityPath == "" {
		if i < 0 || !companySegment.MatchString(last) {
			return base, "", nil
		}
		root := *base
		root.RawPath = esc[:i]
		p, err := url.PathUnescape(root.RawPath)
		if err != nil {
			return nil, "", errors.New("base url path does not unescape")
		}
		root.Path = p
		return &root, last + "/", nil
	}
	if i >= 0 && companySegment.MatchString(last) {
		return nil, "", fmt.Errorf("the base url already ends in %s, so the entity sets would be looked for below %s/%s: give the service root (…/api/v2.0) as base url, or drop the entity path", last, last, strings.Trim(entityPath, "/"))
	}
	p := strings.Trim(entityPath, "/")
	if p == "" || strings.ContainsAny(p, "?#") {
		return nil, "", fmt.Errorf("%q is not a path below the service root, such as companies(<id>)", entityPath)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return nil, "", fmt.Errorf("%q has an empty, . or .. segment", entityPath)
		}
	}
	return base, escape(p, entityKeep) + "/", nil
}

// CheckEntityPath reports what New would refuse in an entity path given
// with baseURL (see splitServiceRoot), so that a project loader can point
// at the setting. A base URL that does not parse is not its concern.
func CheckEntityPath(baseURL, entityPath string) error {
	base, err := transport.ParseBaseURL(baseURL)
	if err != nil || entityPath == "" {
		return nil
	}
	_, _, err = splitServiceRoot(base, entityPath)
	return err
}

// setPath is the escaped path of an entity set (or a path entity) relative
// to the service root: below the entity path, if there is one.
func (c *Client) setPath(entity string) string {
	return c.sets + entityPath(entity)
}

// resourceURL returns the absolute URL of resource (an escaped path relative
// to the service root, such as "$batch" or setPath's "accounts(…)") with
// params appended to any query the service root carries.
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

// nextURL resolves a page's @odata.nextLink and checks it. The link must
// stay on the service's origin, because the request will carry our
// credentials, and must not point back at the page itself, which would
// loop forever. current is the URL the page was read from, context the
// page's @odata.context ("" when it has none); see payloadURL.
func (c *Client) nextURL(current, context, link string) (string, error) {
	if link == "" {
		return "", nil
	}
	next, err := payloadURL(current, context, link)
	if err != nil {
		return "", fmt.Errorf("nextLink: %w", err)
	}
	if !transport.SameOrigin(next, c.base) {
		return "", fmt.Errorf("nextLink to %s refused: it leaves the service origin %s",
			transport.Origin(next), transport.Origin(c.base))
	}
	if next.User != nil {
		return "", fmt.Errorf("nextLink refused: it carries credentials")
	}
	s := next.String()
	if s == current {
		return "", fmt.Errorf("nextLink %s points at the page itself", redact.PathQuery(next))
	}
	return s, nil
}

// payloadURL resolves link, a URL found in a response payload
// (@odata.nextLink, @odata.deltaLink), as the OData JSON Format (v4.01,
// section 4.3 "Relative URLs") says: a relative URL is relative to the
// context URL of the object that carries it, and the context URL, itself
// possibly relative, to the request URL. So with
//
//	request  https://h/api/v2.0/companies(1)/customers
//	context  ../$metadata#companies(1)/customers   (= https://h/api/v2.0/$metadata)
//	nextLink companies(1)/customers?$skiptoken=X
//
// the next page is https://h/api/v2.0/companies(1)/customers?$skiptoken=X,
// as SAP CAP means it; resolved against the request URL it would be
// …/companies(1)/companies(1)/customers (404). Without a context URL the
// base is the request URL. The "$metadata#…" part of a context URL drops
// out by ordinary RFC 3986 resolution.
func payloadURL(request, context, link string) (*url.URL, error) {
	base, err := url.Parse(request)
	if err != nil {
		return nil, fmt.Errorf("parse page url: %w", err)
	}
	ref, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("it does not parse: %w", err)
	}
	if !ref.IsAbs() && context != "" {
		cu, err := url.Parse(context)
		if err != nil {
			return nil, fmt.Errorf("the relative link needs the page's @odata.context, which does not parse: %w", err)
		}
		base = base.ResolveReference(cu)
	}
	return base.ResolveReference(ref), nil
}
