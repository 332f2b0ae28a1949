package engine

// Staging from raw JSON: a connector that hands over its records as their
// values' JSON text (connectors.EntryReader) is staged without a map per
// record, the canonical text of most values being that text itself. The
// rows are those staging the same records as Records gives; the
// differential test of stage_entries_test.go holds the two to it.

import (
	"bytes"
	"encoding/json"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/internal/jsontext"
	"github.com/couplerhq/coupler/mappings"
)

// recordValues is what staging reads of a record (newRow, sourceRow,
// destRow): a Record's values (mapValues), or an entry's JSON text
// (entryValues).
type recordValues interface {
	// key is the text of the key field (keyText).
	key(field string) (string, error)
	// ready makes numbers ready for expressions (numbersForExpressions),
	// once the key is read; value, match and record see them so.
	ready()
	// etag is the record's version; "" when it has none.
	etag() string
	// value is a field's value; nil when absent.
	value(field string) any
	// canonical is canonical(value(field)).
	canonical(field string) (*string, error)
	// match is matchValue(value(field)).
	match(field string) *string
	// record is the whole record, for expressions.
	record() (connectors.Record, error)
}

// mapValues are the values of a Record, which ready changes in place.
type mapValues struct{ rec connectors.Record }

func (v mapValues) key(field string) (string, error) { return recordKey(v.rec, field) }
func (v mapValues) ready()                           { numbersForExpressions(v.rec) }
func (v mapValues) etag() string                     { return etagOf(v.rec) }
func (v mapValues) value(field string) any           { return v.rec[field] }
func (v mapValues) canonical(field string) (*string, error) {
	return canonical(v.rec[field])
}
func (v mapValues) match(field string) *string         { return matchValue(v.rec[field]) }
func (v mapValues) record() (connectors.Record, error) { return v.rec, nil }

// entryStager stages the entries of one side of a mapping: it knows which
// of the fields it asks the connector for each field staging reads is,
// and keeps the map that expressions are given a record in (entries are
// staged one after the other, and no expression keeps its record).
type entryStager struct {
	fields []string
	index  map[string]int // of fields
	rec    connectors.Record
	// reads are the indexes in fields of every field the side's
	// expressions (and what they feed: option maps, lookups) may read of
	// a record, which is all record puts in its map; whole is true when
	// that cannot be told in advance, and record is then the entry's
	// every member. Decoding every member for expressions that read two
	// was an eighth of a full plan's CPU.
	reads []int
	whole bool
	texts []string // see text
	bytes []byte   // see copied
	// asked are the fields staging asked the values of, in the order it
	// asked for them of the first record, which it asks the same of the
	// next: looking each up in index was a tenth of a full plan's CPU.
	asked []askedField
}

type askedField struct {
	field string
	i     int
	ok    bool
}

// newEntryStager asks for every field staging side of m reads.
func newEntryStager(m *Mapping, isSource bool) *entryStager {
	s := &entryStager{index: map[string]int{}}
	add := func(f string) {
		if _, ok := s.index[f]; !ok {
			s.index[f] = len(s.fields)
			s.fields = append(s.fields, f)
		}
	}
	side := m.Dest
	if isSource {
		side = m.Source
	}
	var reads []string
	read := func(fields []string, whole bool) {
		reads = append(reads, fields...)
		s.whole = s.whole || whole
	}
	if side.Filter != nil {
		read(exprReads(side.Filter, false))
	}
	for _, f := range m.Fields {
		if !isSource || f.plain() || f.HasConstant {
			continue // staged without a record
		}
		if f.SourceRead != "" {
			read([]string{f.SourceRead}, false)
		}
		s.whole = s.whole || f.Lookup != nil // lookupTargets hands the whole record to the connector
		if f.Transform != nil {
			read(exprReads(f.Transform, true))
		}
	}
	for _, f := range reads {
		// An annotation's value as a member may differ from the Record's
		// (a non-string ETag, which the Record drops).
		s.whole = s.whole || strings.Contains(f, "@")
	}
	if !s.whole {
		for _, f := range reads {
			add(f)
			s.reads = append(s.reads, s.index[f])
		}
	}
	add(side.Entity.Key)
	add(connectors.ETagField)
	if side.Entity.Modified != "" {
		add(side.Entity.Modified)
	}
	for _, p := range m.Match {
		if isSource {
			add(p.Source)
		} else {
			add(p.Dest)
		}
	}
	for _, f := range side.Display {
		add(f)
	}
	for _, f := range m.Fields {
		if !isSource {
			add(f.DestRead)
		} else if f.plain() {
			add(f.SourceRead)
		}
	}
	return s
}

// entryValues are the values of record r of es, read through s.
type entryValues struct {
	s      *entryStager
	es     connectors.Entries
	r      int
	rec    connectors.Record // record's, once made
	recErr error
	asks   int // of raw, for s.asked
}

// at makes v the values of record r.
func (v *entryValues) at(r int) {
	v.r, v.rec, v.recErr, v.asks = r, nil, nil, 0
}

// raw is the JSON text of field; ok is false when s did not ask for it,
// which the record then answers for.
func (v *entryValues) raw(field string) (raw []byte, ok bool) {
	var i int
	asked := v.s.asked
	if k := v.asks; k < len(asked) && asked[k].field == field {
		i, ok = asked[k].i, asked[k].ok
	} else {
		i, ok = v.s.index[field]
		if k == len(asked) && k < 4*len(v.s.fields) {
			v.s.asked = append(asked, askedField{field, i, ok})
		}
	}
	v.asks++
	if !ok {
		return nil, false
	}
	return v.es.Value(v.r, i), true
}

func (v *entryValues) key(field string) (string, error) {
	raw, _ := v.raw(field) // always asked for
	// Most keys are strings, read without the boxing of Decode's any:
	// keyText of a non-empty string is its normalizeID.
	if k, ok := v.s.str(raw); ok && k != "" {
		return normalizeID(k), nil
	}
	k, err := jsontext.Decode(raw)
	if err != nil {
		return "", err
	}
	return keyText(k, field)
}

func (v *entryValues) ready() {}

func (v *entryValues) etag() string {
	raw, _ := v.raw(connectors.ETagField)
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	if s, ok := v.s.str(raw); ok {
		return s
	}
	s, _ := jsontext.Decode(raw)
	etag, _ := s.(string)
	return etag
}

func (v *entryValues) value(field string) any {
	raw, ok := v.raw(field)
	if ok {
		if s, isString := v.s.str(raw); isString {
			return s
		}
		if x, err := jsontext.Decode(raw); err == nil {
			if n, isNumber := x.(json.Number); isNumber {
				return exprNumber(n)
			}
			return x
		}
	}
	// Not a field newEntryStager asks for, so perhaps not in record's.
	rec, _ := v.es.Record(v.r, nil)
	numbersForExpressions(rec)
	return rec[field]
}

func (v *entryValues) canonical(field string) (*string, error) {
	if raw, ok := v.raw(field); ok {
		return v.s.canonicalRaw(raw)
	}
	return canonical(v.value(field))
}

func (v *entryValues) match(field string) *string { return matchValue(v.value(field)) }

// record is the entry as a Record, in the map the stager reuses, with
// numbers ready for expressions: of the members the stager's expressions
// read (those of its reads), unless it must be whole. Each holds what
// the whole Record holds for it, and an expression cannot tell a member
// left out from one the record lacks.
func (v *entryValues) record() (connectors.Record, error) {
	if v.rec == nil && v.recErr == nil {
		if v.s.whole {
			v.rec, v.recErr = v.es.Record(v.r, v.s.rec)
		} else {
			v.rec, v.recErr = v.partial()
		}
		if v.recErr == nil {
			v.s.rec = v.rec
			numbersForExpressions(v.rec)
		}
	}
	return v.rec, v.recErr
}

// partial is the record of the members of the stager's reads.
func (v *entryValues) partial() (connectors.Record, error) {
	rec := v.s.rec
	if rec == nil {
		rec = make(connectors.Record, len(v.s.reads))
	} else {
		clear(rec)
	}
	for _, i := range v.s.reads {
		raw := v.es.Value(v.r, i)
		if raw == nil {
			continue
		}
		if str, ok := v.s.str(raw); ok {
			rec[v.s.fields[i]] = str
			continue
		}
		x, err := jsontext.Decode(raw)
		if err != nil {
			// Not seen on text the connector's decoder accepted; the
			// whole record says where, as a read of Records would.
			return v.es.Record(v.r, rec)
		}
		rec[v.s.fields[i]] = x
	}
	return rec, nil
}

// exprReads returns the record fields expression p may read: a filter's
// variables (names of functions and of its own variables among them,
// which is harmless), or the members record.<name> of a transform
// (ValueEnv). whole is true when p may read fields not named in advance:
// through $env, or a transform's record other than by a constant name.
func exprReads(p *mappings.Program, transform bool) (fields []string, whole bool) {
	v := &readsVisitor{transform: transform}
	node := p.Node()
	ast.Walk(&node, v)
	return v.fields, v.whole || v.records > v.members
}

type readsVisitor struct {
	transform        bool
	fields           []string
	whole            bool
	records, members int // a transform's uses of record, and of record.<name>
}

func (v *readsVisitor) Visit(n *ast.Node) {
	switch n := (*n).(type) {
	case *ast.IdentifierNode:
		switch {
		case n.Value == "$env":
			v.whole = true
		case !v.transform:
			v.fields = append(v.fields, n.Value)
		case n.Value == "record":
			v.records++
		}
	case *ast.MemberNode:
		id, isIdent := n.Node.(*ast.IdentifierNode)
		prop, isString := n.Property.(*ast.StringNode)
		if v.transform && isIdent && isString && id.Value == "record" {
			v.fields = append(v.fields, prop.Value)
			v.members++
		}
	}
}

// canonicalRaw is canonical of the value whose JSON text raw is, numbers
// made ready for expressions (whose canonical text is that of the
// number's literal: see numbersForExpressions), nil being absent. The
// text is its own canonical form for a literal, a string quoteJSON would
// write as it stands, and a number without insignificant zeros; the rest
// is decoded and rendered.
func (s *entryStager) canonicalRaw(raw []byte) (*string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	switch c := raw[0]; {
	case c == 'n':
		return nil, nil
	case string(raw) == "true":
		return s.text("true"), nil
	case string(raw) == "false":
		return s.text("false"), nil
	case c == 't' || c == 'f':
		return s.text(string(raw)), nil
	case c == '"' && quotedAsIs(raw[1:len(raw)-1]):
		return s.text(s.copied(raw)), nil
	case c == '-' || '0' <= c && c <= '9':
		if jsontext.IsNumber(string(raw)) {
			// Read in place, the page's bytes may be what canonicalNumber
			// gives: copied is what keeps them.
			n := canonicalNumber(unsafe.String(unsafe.SliceData(raw), len(raw)))
			return s.text(s.copied(unsafe.Slice(unsafe.StringData(n), len(n)))), nil
		}
	}
	v, err := jsontext.Decode(raw)
	if err != nil {
		return nil, err
	}
	if n, ok := v.(json.Number); ok {
		return canonical(exprNumber(n))
	}
	return canonical(v)
}

// text is a pointer to t, one of a block of them the stager allocates at
// a time: a row's values are pointers, and one allocated apiece was an
// allocation more for every value staged. A block lives as long as any of
// its texts, which the Appender has copied once the row is staged.
func (s *entryStager) text(t string) *string {
	if len(s.texts) == cap(s.texts) {
		s.texts = make([]string, 0, 256)
	}
	s.texts = append(s.texts, t)
	return &s.texts[len(s.texts)-1]
}

// textBlock is the size of the blocks of bytes copied copies into.
const textBlock = 8 << 10

// copied is a copy of b, in a block of bytes the stager allocates at a
// time, for the same reason as text: most values staged are short strings
// copied from the page, whose buffer the next page reuses. The block's
// bytes are never written again once copied, which is what a string
// made of them (unsafe.String) needs; a long text gets its own.
func (s *entryStager) copied(b []byte) string {
	if len(b) > textBlock/8 {
		return string(b)
	}
	if len(b) > cap(s.bytes)-len(s.bytes) {
		s.bytes = make([]byte, 0, textBlock)
	}
	s.bytes = append(s.bytes, b...)
	t := s.bytes[len(s.bytes)-len(b):]
	return unsafe.String(unsafe.SliceData(t), len(t))
}

// str is the string the JSON text raw holds, as jsontext.String gives
// it, copied into the stager's blocks of bytes (copied); ok is false when
// raw is no string jsontext.String reads.
func (s *entryStager) str(raw []byte) (_ string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	switch {
	case jsontext.Plain(in):
		return s.copied(in), true
	case 3*len(in) > textBlock/8:
		return jsontext.String(raw)
	}
	// Unquoted into the block, which must hold the most that can be
	// appended: the bytes past the block's length are no string's yet.
	if 3*len(in) > cap(s.bytes)-len(s.bytes) {
		s.bytes = make([]byte, 0, textBlock)
	}
	b, ok := jsontext.AppendUnquoted(s.bytes, in)
	if !ok {
		return "", false
	}
	t := b[len(s.bytes):]
	s.bytes = b
	return unsafe.String(unsafe.SliceData(t), len(t)), true
}

// quotedAsIs reports whether a JSON string whose inside is b is what
// quoteJSON writes for its value: no escape, and nothing quoteJSON would
// escape (0xE2 starts U+2028 and U+2029).
func quotedAsIs(b []byte) bool {
	return jsontext.Plain(b) && bytes.IndexByte(b, 0xE2) < 0
}
