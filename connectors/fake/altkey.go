package fake

import (
	"net/http"
	"slices"
	"strings"
)

// namedKey is a key segment written with names, (accountnumber='A-1') or
// (name='x',region=1): each name with its value, unquoted, in URL order.
type namedKey []keyPart

type keyPart struct {
	name, value string
	str         bool // the value was a 'quoted string'
}

// parseNamedKey parses the inside of a key segment written with names. It
// reports ok false when the key is not written with names (a bare literal),
// which splitKeySegment handles.
func parseNamedKey(lit string) (namedKey, bool, error) {
	var out namedKey
	rest := lit
	for {
		name, after, found := strings.Cut(rest, "=")
		name = strings.TrimSpace(name)
		if !found || !isIdentifier(name) {
			if out == nil {
				return nil, false, nil
			}
			return nil, true, badRequest("malformed key (%s): want name=value pairs joined by commas", lit)
		}
		after = strings.TrimLeft(after, " ")
		part := keyPart{name: name}
		if strings.HasPrefix(after, "'") {
			end := -1
			for i := 1; i < len(after); i++ {
				if after[i] == '\'' {
					if i+1 < len(after) && after[i+1] == '\'' {
						i++
						continue
					}
					end = i
					break
				}
			}
			if end < 0 {
				return nil, true, badRequest("malformed key (%s): unterminated string", lit)
			}
			part.value, part.str = strings.ReplaceAll(after[1:end], "''", "'"), true
			rest = after[end+1:]
		} else {
			i := strings.IndexByte(after, ',')
			if i < 0 {
				i = len(after)
			}
			part.value, rest = strings.TrimSpace(after[:i]), after[i:]
			if part.value == "" || strings.ContainsAny(part.value, "'()") {
				return nil, true, badRequest("malformed key (%s): bad value of %s", lit, name)
			}
			if isGUID(part.value) {
				part.value = strings.ToLower(part.value)
			}
		}
		if slices.ContainsFunc(out, func(p keyPart) bool { return p.name == name }) {
			return nil, true, badRequest("malformed key (%s): %s given twice", lit, name)
		}
		out = append(out, part)
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return out, true, nil
		}
		if rest[0] != ',' {
			return nil, true, badRequest("malformed key (%s): want a comma after %s", lit, name)
		}
		rest = rest[1:]
	}
}

// primary reports whether k names the set's primary key, which
// splitKeySegment has already resolved.
func (k namedKey) primary(t *table) bool {
	return len(k) == 1 && k[0].name == t.def.Key
}

// resolveAlternate finds the key of the record that an alternate key
// addresses. Like Dataverse, a set of names that is not a declared
// alternate key is a 400 and no match is a 404.
func (s *Server) resolveAlternate(t *table, k namedKey) (string, *statusError) {
	names := make([]string, len(k))
	for i, p := range k {
		names[i] = p.name
	}
	declared := slices.ContainsFunc(t.def.AlternateKeys, func(ak []string) bool {
		return len(ak) == len(names) && !slices.ContainsFunc(ak, func(f string) bool { return !slices.Contains(names, f) })
	})
	if !declared {
		return "", badRequest("%s is not a key or an alternate key of %s", strings.Join(names, ","), t.def.Name)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	cols := make([]int, len(k))
	for i, p := range k {
		if cols[i] = t.cols.lookup(p.name); cols[i] < 0 {
			return "", notFound(t.def.Name, k.String())
		}
	}
	found := ""
	for key, e := range t.rows {
		if !k.matches(e, cols) {
			continue
		}
		if found != "" {
			return "", errorf(http.StatusConflict, codeConflict, "%s(%s) matches more than one record", t.def.Name, k.String())
		}
		found = key
	}
	if found == "" {
		return "", notFound(t.def.Name, k.String())
	}
	return found, nil
}

// matches reports whether record e has the values of k in cols.
func (k namedKey) matches(e *entry, cols []int) bool {
	for i, p := range k {
		lit := e.literal(cols[i])
		if lit == "" || lit == "null" {
			return false
		}
		if s, ok := unquote(lit); ok {
			if !p.str && isGUID(p.value) {
				s = strings.ToLower(s)
			} else if !p.str {
				return false // a string field, a bare literal
			}
			if s != p.value {
				return false
			}
			continue
		}
		if p.str || lit != p.value {
			return false
		}
	}
	return true
}

// String writes k back as a key predicate, for messages.
func (k namedKey) String() string {
	var b strings.Builder
	for i, p := range k {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		if p.str {
			b.WriteString("'" + strings.ReplaceAll(p.value, "'", "''") + "'")
		} else {
			b.WriteString(p.value)
		}
	}
	return b.String()
}

// SetAlternateKeys declares the alternate keys of set, as
// EntitySet.AlternateKeys does, on a server built by NewCRM or NewERP.
// Call it before the server serves requests: a set's declaration is read
// without a lock.
func (s *Server) SetAlternateKeys(set string, keys ...[]string) error {
	t, err := s.table(set)
	if err != nil {
		return err
	}
	t.def.AlternateKeys = keys
	return nil
}
