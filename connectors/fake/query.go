package fake

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// defaultPageSize is the page size without a Prefer header, and the most a
// client can ask for: Dataverse's limit.
const defaultPageSize = 5000

// options are a request's decoded query options, by name.
type options map[string]string

// supportedOptions are the system query options the fake implements. Any
// other $-option is refused with 400, as the real servers refuse unknown
// ones, so that a client relying on one notices.
var supportedOptions = map[string]bool{
	"$select": true, "$filter": true, "$orderby": true, "$top": true,
	"$skip": true, "$skiptoken": true, "$count": true,
}

// parseOptions decodes a raw query string. Each name and value is
// percent-decoded with url.PathUnescape, which, unlike url.ParseQuery, keeps
// '+' as '+': OData servers do not read '+' as a space, so a client that
// sends one gets the 400 it would get from them.
func parseOptions(raw string) (options, error) {
	opts := options{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		name, val, _ := strings.Cut(part, "=")
		name, err := url.PathUnescape(name)
		if err != nil {
			return nil, badRequest("malformed query option name %q: %v", name, err)
		}
		val, err = url.PathUnescape(val)
		if err != nil {
			return nil, badRequest("malformed value of query option %s: %v", name, err)
		}
		if strings.HasPrefix(name, "$") && !supportedOptions[name] {
			return nil, badRequest("the query option '%s' is not supported", name)
		}
		if _, dup := opts[name]; dup {
			return nil, badRequest("the query option '%s' is specified more than once", name)
		}
		opts[name] = val
	}
	return opts, nil
}

// selectFields parses $select; nil means all fields.
func selectFields(opts options) ([]string, error) {
	raw, ok := opts["$select"]
	if !ok {
		return nil, nil
	}
	var fields []string
	for f := range strings.SplitSeq(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "*" {
			return nil, nil
		}
		if !isIdentifier(f) {
			return nil, badRequest("invalid $select item %q", f)
		}
		fields = append(fields, f)
	}
	return fields, nil
}

// orderTerm is one $orderby item.
type orderTerm struct {
	field string
	desc  bool
}

// orderBy parses $orderby: comma-separated "field [asc|desc]".
func orderBy(opts options) ([]orderTerm, error) {
	raw, ok := opts["$orderby"]
	if !ok {
		return nil, nil
	}
	var terms []orderTerm
	for item := range strings.SplitSeq(raw, ",") {
		words := strings.Fields(item)
		if len(words) == 0 || len(words) > 2 || !isIdentifier(words[0]) {
			return nil, badRequest("invalid $orderby item %q", strings.TrimSpace(item))
		}
		term := orderTerm{field: words[0]}
		if len(words) == 2 {
			switch words[1] {
			case "asc":
			case "desc":
				term.desc = true
			default:
				return nil, badRequest("invalid $orderby direction %q (want asc or desc)", words[1])
			}
		}
		terms = append(terms, term)
	}
	return terms, nil
}

// count parses a non-negative integer option; -1 when absent.
func count(opts options, name string) (int, error) {
	raw, ok := opts[name]
	if !ok {
		return -1, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, badRequest("invalid %s %q: want a non-negative integer", name, raw)
	}
	return n, nil
}

// wantCount parses $count.
func wantCount(opts options) (bool, error) {
	switch raw, ok := opts["$count"]; {
	case !ok || raw == "false":
		return false, nil
	case raw == "true":
		return true, nil
	default:
		return false, badRequest("invalid $count %q: want true or false", raw)
	}
}

// isIdentifier reports whether s is an OData simple identifier.
func isIdentifier(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentPart(s[i]) {
			return false
		}
	}
	return true
}

// preferences are the Prefer header values the fake honours.
type preferences struct {
	maxPageSize    int  // 0 when not asked for
	representation bool // return=representation
	// annotations are the patterns of odata.include-annotations, as
	// written: "*", "Namespace.*", "Namespace.term", "-" in front to
	// exclude.
	annotations []string
	// annotationsRaw is the odata.include-annotations value as sent, which
	// Preference-Applied echoes.
	annotationsRaw string
}

// parsePrefer reads every Prefer header. Unknown or malformed preferences
// are ignored, as RFC 7240 asks. A quoted value may hold commas.
func parsePrefer(h http.Header) preferences {
	var p preferences
	for _, line := range h.Values("Prefer") {
		for _, pref := range splitUnquoted(line) {
			name, val, _ := strings.Cut(pref, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch name {
			case "odata.maxpagesize", "maxpagesize":
				if n, err := strconv.Atoi(val); err == nil && n > 0 {
					p.maxPageSize = n
				}
			case "return":
				p.representation = strings.EqualFold(val, "representation")
			case "odata.include-annotations", "include-annotations":
				p.annotationsRaw = val
				for a := range strings.SplitSeq(val, ",") {
					if a = strings.TrimSpace(a); a != "" {
						p.annotations = append(p.annotations, a)
					}
				}
			}
		}
	}
	return p
}

// annotation reports whether the odata.include-annotations preference
// asks for the annotation term ("Namespace.name"): an exclusion wins over
// an inclusion (OData Protocol 8.2.8.4, Preference odata.include-annotations).
func (p preferences) annotation(term string) bool {
	ns := term[:max(strings.LastIndexByte(term, '.'), 0)]
	matches := func(pattern string) bool {
		return pattern == "*" || strings.EqualFold(pattern, term) || strings.EqualFold(pattern, ns+".*")
	}
	in := false
	for _, a := range p.annotations {
		if ex, ok := strings.CutPrefix(a, "-"); ok {
			if matches(ex) {
				return false
			}
			continue
		}
		in = in || matches(a)
	}
	return in
}

// splitUnquoted splits s at the commas that are not inside double quotes.
func splitUnquoted(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
