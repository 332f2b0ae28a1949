package odata

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// keyer addresses the records of one entity set: by the primary key, the
// default, or by an alternate key declared in the project file (Dataverse's
// accounts(accountnumber='A-1')). Ids always travel as strings; a keyer
// turns them into URL key predicates and $filter conditions with literals
// of the right type, and back.
type keyer struct {
	field string        // the mapping's key field, connectors.Entity.Key
	alt   *AlternateKey // nil: the primary key
}

// keyer returns how records of e are addressed. The declared alternate key
// of e.Name applies when the mapping's key names it (its one field, or its
// fields joined by commas); any other key is taken to be the primary key,
// so that a mapping keyed by accountid keeps working beside one keyed by
// accountnumber.
func (c *Client) keyer(e connectors.Entity) keyer {
	k := keyer{field: e.Key}
	if alt, ok := c.altKeys[e.Name]; ok && alt.Name() == e.Key {
		k.alt = &alt
	}
	return k
}

// composite reports whether ids are key predicates of several fields, which
// the records do not carry as one field.
func (k keyer) composite() bool { return k.alt != nil && len(k.alt.Fields) > 1 }

// path is the escaped path of the record with id.
func (k keyer) path(entity, id string) (string, error) {
	if k.alt == nil {
		return recordPath(entity, id), nil
	}
	pred, err := k.predicate(id)
	if err != nil {
		return "", err
	}
	return entityPath(entity) + "(" + escape(pred, predicateKeep) + ")", nil
}

// predicateKeep are the bytes left unescaped in an alternate key predicate:
// the quotes, and the '=' and ',' that separate its parts. A ',' or '='
// inside a string value stays too, which OData allows: the quotes delimit
// the value.
const predicateKeep = "'=,"

// predicate returns the key predicate for id: name=literal pairs joined by
// commas, each literal typed as the key declares. A composite id is parsed
// and written again, so that whatever it holds can only ever address one
// record of this key.
func (k keyer) predicate(id string) (string, error) {
	if id == "" {
		return "", errors.New("empty key")
	}
	if !k.composite() {
		f := k.alt.Fields[0]
		lit, err := typedLiteral(k.alt.Types[f], id)
		if err != nil {
			return "", fmt.Errorf("key %s: %w", f, err)
		}
		return f + "=" + lit, nil
	}
	vals, err := parsePredicate(id)
	if err != nil {
		return "", fmt.Errorf("key %q: %w", id, err)
	}
	return k.render(vals)
}

// render writes the predicate of the alternate key from field values (as
// strings, unquoted), in the key's field order.
func (k keyer) render(vals map[string]string) (string, error) {
	var b strings.Builder
	for i, f := range k.alt.Fields {
		v, ok := vals[f]
		if !ok {
			return "", fmt.Errorf("no value for key field %s", f)
		}
		lit, err := typedLiteral(k.alt.Types[f], v)
		if err != nil {
			return "", fmt.Errorf("key field %s: %w", f, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f)
		b.WriteByte('=')
		b.WriteString(lit)
	}
	if len(vals) != len(k.alt.Fields) {
		return "", fmt.Errorf("the key has the fields %s, not %s", strings.Join(k.alt.Fields, ","), strings.Join(slices.Sorted(maps.Keys(vals)), ","))
	}
	return b.String(), nil
}

// filter is the $filter selecting the records with one of ids. An id that
// is not a valid key is an error: it cannot name a record.
func (k keyer) filter(ids []string) (string, error) {
	if k.alt == nil {
		return idFilter(k.field, ids), nil
	}
	var b strings.Builder
	for i, id := range ids {
		pred, err := k.predicate(id)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteString(" or ")
		}
		if k.composite() {
			b.WriteByte('(')
		}
		// The predicate is already typed and canonical: turn its
		// name=lit,name=lit into name eq lit and name eq lit.
		vals, _ := parsePredicateLiterals(pred)
		for j, f := range k.alt.Fields {
			if j > 0 {
				b.WriteString(" and ")
			}
			b.WriteString(f)
			b.WriteString(" eq ")
			b.WriteString(vals[f])
		}
		if k.composite() {
			b.WriteByte(')')
		}
	}
	return b.String(), nil
}

// selectFields adjusts what Read and Get select: a composite key is no
// field of the records, its parts are.
func (k keyer) selectFields(fields []string, e connectors.Entity) (string, error) {
	if !k.composite() {
		return selectList(fields, e), nil
	}
	if len(fields) == 0 {
		return "", nil
	}
	out := make([]string, 0, len(fields)+len(k.alt.Fields))
	for _, f := range fields {
		if f != k.field {
			out = append(out, f)
		}
	}
	e.Key = ""
	return selectList(append(out, k.alt.Fields...), e), nil
}

// fill adds the composite id to each record, under the mapping's key, so
// that the engine finds it like any key field. A record missing a part
// of the key is left without it: the engine reports it.
func (k keyer) fill(recs []connectors.Record) {
	if !k.composite() {
		return
	}
	for _, rec := range recs {
		if id, err := k.idOf(rec); err == nil {
			rec[k.field] = id
		}
	}
}

// idOf returns the id of rec: the key field's value, or for a composite
// alternate key the predicate of its parts.
func (k keyer) idOf(rec connectors.Record) (string, error) {
	if !k.composite() {
		if id := keyString(rec[k.field]); id != "" {
			return id, nil
		}
		return "", fmt.Errorf("no %s", k.field)
	}
	vals := make(map[string]string, len(k.alt.Fields))
	for _, f := range k.alt.Fields {
		v, ok := scalarString(rec[f])
		if !ok {
			return "", fmt.Errorf("no %s", f)
		}
		vals[f] = v
	}
	return k.render(vals)
}

// scalarString renders a decoded JSON scalar as the string a key value
// travels in.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	}
	return "", false
}

var (
	intRE    = regexp.MustCompile(`^[+-]?[0-9]+$`)
	numberRE = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	dateRE   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// typedLiteral writes v as an OData URL literal of type typ ("" is
// Edm.String): a string in single quotes with quotes doubled, anything else
// bare once it is checked to be of its type, so that no value can break
// out of its literal.
func typedLiteral(typ, v string) (string, error) {
	bad := func() (string, error) { return "", fmt.Errorf("%q is not an %s", v, typ) }
	switch typ {
	case "", "Edm.String":
		return "'" + strings.ReplaceAll(v, "'", "''") + "'", nil
	case "Edm.Guid":
		if !guidRE.MatchString(v) {
			return bad()
		}
		return strings.ToLower(v), nil
	case "Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte":
		if !intRE.MatchString(v) {
			return bad()
		}
		return v, nil
	case "Edm.Decimal", "Edm.Double", "Edm.Single":
		if !numberRE.MatchString(v) {
			return bad()
		}
		return v, nil
	case "Edm.Boolean":
		if v != "true" && v != "false" {
			return bad()
		}
		return v, nil
	case "Edm.Date":
		if !dateRE.MatchString(v) {
			return bad()
		}
		return v, nil
	case "Edm.DateTimeOffset":
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return bad()
		}
		return timeLiteral(t), nil
	}
	return "", fmt.Errorf("key type %q is not one of %s", typ, strings.Join(AlternateKeyTypes, ", "))
}

// parsePredicate parses a key predicate "name='x',other=1" into unquoted
// values by name.
func parsePredicate(s string) (map[string]string, error) {
	lits, err := parsePredicateLiterals(s)
	if err != nil {
		return nil, err
	}
	for name, lit := range lits {
		if strings.HasPrefix(lit, "'") {
			lits[name] = strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
		}
	}
	return lits, nil
}

// parsePredicateLiterals splits a key predicate into its literals, still
// written as in the URL, by name.
func parsePredicateLiterals(s string) (map[string]string, error) {
	out := map[string]string{}
	for rest := s; ; {
		name, after, ok := strings.Cut(rest, "=")
		name = strings.TrimSpace(name)
		if !ok || !isName(name) {
			return nil, fmt.Errorf("want name=value pairs joined by commas, e.g. name='A',region=1")
		}
		after = strings.TrimLeft(after, " ")
		var lit string
		if strings.HasPrefix(after, "'") {
			end := closingQuote(after)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string in %s", name)
			}
			lit, rest = after[:end+1], after[end+1:]
		} else {
			i := strings.IndexByte(after, ',')
			if i < 0 {
				i = len(after)
			}
			lit, rest = strings.TrimSpace(after[:i]), after[i:]
			if lit == "" || strings.ContainsAny(lit, "'()") {
				return nil, fmt.Errorf("bad value of %s", name)
			}
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s given twice", name)
		}
		out[name] = lit
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return out, nil
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("want a comma after the value of %s", name)
		}
		rest = rest[1:]
	}
}

// closingQuote returns the index of the quote that ends the string literal
// at the start of s, skipping doubled quotes, or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			i++
			continue
		}
		return i
	}
	return -1
}

// isName reports whether s is an OData simple identifier.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9' {
			continue
		}
		return false
	}
	return true
}

// checkAlternateKeys validates the declared alternate keys when the
// connector is built, so that a typo fails before any request.
func checkAlternateKeys(keys map[string]AlternateKey) error {
	for _, entity := range slices.Sorted(maps.Keys(keys)) {
		k := keys[entity]
		if len(k.Fields) == 0 {
			return fmt.Errorf("odata: entity %s: alternate key has no fields", entity)
		}
		seen := map[string]bool{}
		for _, f := range k.Fields {
			if !isName(f) || seen[f] {
				return fmt.Errorf("odata: entity %s: alternate key field %q is not a property name or is repeated", entity, f)
			}
			seen[f] = true
		}
		for _, f := range slices.Sorted(maps.Keys(k.Types)) {
			if !seen[f] {
				return fmt.Errorf("odata: entity %s: key type given for %s, which is not a field of the alternate key", entity, f)
			}
			if !slices.Contains(AlternateKeyTypes, k.Types[f]) {
				return fmt.Errorf("odata: entity %s: key field %s: type %q is not one of %s", entity, f, k.Types[f], strings.Join(AlternateKeyTypes, ", "))
			}
		}
	}
	return nil
}

// describeAlternateKeys adds to s, for each declared composite alternate
// key whose fields the entity set has, the field a mapping keys by: the
// fields joined by commas, holding the key predicate the connector fills
// in. validate --online then accepts that key, and describe shows it.
func (c *Client) describeAlternateKeys(s *connectors.Schema) {
	for _, name := range slices.Sorted(maps.Keys(c.altKeys)) {
		k := c.altKeys[name]
		es := s.Entity(name)
		if len(k.Fields) < 2 || es == nil || es.Field(k.Name()) != nil {
			continue
		}
		if slices.ContainsFunc(k.Fields, func(f string) bool { return es.Field(f) == nil }) {
			continue // validate reports the mapping's key as missing
		}
		es.Fields = append(es.Fields, connectors.FieldSchema{Name: k.Name(), Type: "Edm.String"})
	}
}

// bindAlternateKeys rewrites lookups bound to a record of a set with a
// declared alternate key. The engine writes a bound lookup as
// "x@odata.bind": "/set(id)" with the id as coupled; when the lookup's
// mapping is keyed by the alternate key, that id is the key's value, which
// the service must be sent as the key predicate: /accounts(accountnumber='A-1').
// Which key the id is of is decided by the key the set's mappings use
// (AlternateKey.LookupKey). When that is unknown (no mapping of the set, or
// mappings by both keys), an alternate key typed Edm.Guid is used, as its
// ids cannot be told from the primary key's; otherwise an id that is a GUID
// is taken to be the primary key (Dataverse's keys are GUIDs) and left
// alone. fields is not modified; a copy is returned when something changed.
func (c *Client) bindAlternateKeys(fields connectors.Record) (connectors.Record, error) {
	if len(c.altKeys) == 0 {
		return fields, nil
	}
	var out connectors.Record
	for name, v := range fields {
		ref, ok := v.(string)
		if !ok || !strings.HasSuffix(name, "@odata.bind") || !strings.HasPrefix(ref, "/") || !strings.HasSuffix(ref, ")") {
			continue
		}
		open := strings.IndexByte(ref, '(')
		if open < 0 {
			continue
		}
		set, id := ref[1:open], ref[open+1:len(ref)-1]
		alt, declared := c.altKeys[set]
		if !declared || !bindsByAlternateKey(alt, id) {
			continue
		}
		k := keyer{field: alt.Name(), alt: &alt}
		path, err := k.path(set, id)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		if out == nil {
			out = maps.Clone(fields)
		}
		out[name] = "/" + path
	}
	if out == nil {
		return fields, nil
	}
	return out, nil
}

// bindsByAlternateKey reports whether id, bound to a record of a set with
// the alternate key alt, is a value of alt rather than of the primary key.
func bindsByAlternateKey(alt AlternateKey, id string) bool {
	if alt.LookupKey != "" {
		return alt.LookupKey == alt.Name()
	}
	if len(alt.Fields) == 1 && alt.Types[alt.Fields[0]] == "Edm.Guid" {
		return true
	}
	return !guidRE.MatchString(id)
}
