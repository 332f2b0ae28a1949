package fake

import (
	"strconv"
	"strings"
	"time"
)

// entry is one stored record. Entries are immutable once published in a
// table: every write builds a new entry and swaps it in. That lets a reader
// collect a page of entries under the read lock and render them after
// releasing it, so a slow client never holds writers up.
type entry struct {
	key      string   // normalised key; shares blob's bytes when it can
	blob     string   // the fields' JSON literals, concatenated in column order
	ends     []uint32 // field i spans blob[ends[i-1]:ends[i]] (from 0 for i == 0); empty means absent
	version  uint64   // ETag version
	modified int64    // last-modified stamp, Unix nanoseconds, UTC
}

// literal returns the JSON literal of column i, or "" when the record does
// not have that field.
func (e *entry) literal(i int) string {
	if i < 0 || i >= len(e.ends) {
		return ""
	}
	var start uint32
	if i > 0 {
		start = e.ends[i-1]
	}
	return e.blob[start:e.ends[i]]
}

// columns maps field names to column numbers. Columns are only ever
// appended, so a slice header copied under the lock stays valid after it.
type columns struct {
	names  []string
	labels []string // `"name":`, JSON-encoded, ready to write
	index  map[string]int
}

// add returns the column of name, appending a new one if needed.
func (c *columns) add(name string) int {
	if i, ok := c.index[name]; ok {
		return i
	}
	i := len(c.names)
	c.names = append(c.names, name)
	c.labels = append(c.labels, string(appendQuote(nil, name))+":")
	c.index[name] = i
	return i
}

// lookup returns the column of name, or -1.
func (c *columns) lookup(name string) int {
	if i, ok := c.index[name]; ok {
		return i
	}
	return -1
}

// table is one entity set's rows. Its fields are guarded by Server.mu, except
// def, keyCol, modCol and layout, which are fixed at creation, and views,
// which has its own lock.
type table struct {
	def    EntitySet
	keyCol int
	modCol int // -1 when the set has no modified field
	layout string
	cols   columns
	rows   map[string]*entry
	gen    uint64 // bumped by every write; sorted views of older generations are stale
	views  viewCache
	// lastNo is the highest number of the set's number series (def.Numbers)
	// that any record has held, by its digits.
	lastNo uint64
	// numbers holds, for a set with a number series, the key of the record
	// holding each number (by its JSON literal): the number is the record's
	// primary key in Business Central, unique (numberTaken).
	numbers map[string]string
	typeOf  map[string]string // the server's entity type names, by set; fixed after New
}

func newTable(def EntitySet) *table {
	if def.ModifiedPrecision <= 0 {
		def.ModifiedPrecision = time.Millisecond
	}
	t := &table{
		def:    def,
		modCol: -1,
		layout: timeLayout(def.ModifiedPrecision),
		cols:   columns{index: map[string]int{}},
		rows:   map[string]*entry{},
	}
	if def.Numbers != nil {
		t.numbers = map[string]string{}
	}
	t.keyCol = t.cols.add(def.Key)
	for _, f := range def.Fields {
		if f != "" && !strings.Contains(f, "@") {
			t.cols.add(f)
		}
	}
	if def.Modified != "" && def.Modified != def.Key {
		t.modCol = t.cols.add(def.Modified)
	}
	return t
}

// timeLayout returns the RFC 3339 layout that shows as many fractional
// digits as precision keeps: none for a second, three for a millisecond.
func timeLayout(precision time.Duration) string {
	digits := 0
	for p := time.Second; p > precision && digits < 9; p /= 10 {
		digits++
	}
	if digits == 0 {
		return "2006-01-02T15:04:05Z07:00"
	}
	return "2006-01-02T15:04:05." + strings.Repeat("0", digits) + "Z07:00"
}

// stamp truncates now to the set's precision.
func (t *table) stamp(now time.Time) int64 {
	return now.UTC().Truncate(t.def.ModifiedPrecision).UnixNano()
}

// assign is one field a write sets: its name and its JSON literal.
type assign struct {
	name string
	lit  string
}

// compose builds the entry for key from base (nil for a create or a
// replace) overlaid with as. It registers new columns, so it must be called
// with the write lock held.
func (t *table) compose(base *entry, key string, as []assign, version uint64, modified int64) *entry {
	n := len(t.cols.names)
	for _, a := range as {
		if t.cols.lookup(a.name) < 0 {
			n++
		}
	}
	lits := make([]string, n)
	if base != nil {
		for i := range base.ends {
			lits[i] = base.literal(i)
		}
	}
	for _, a := range as {
		lits[t.cols.add(a.name)] = a.lit
	}
	keyLit := string(appendQuote(nil, key))
	lits[t.keyCol] = keyLit
	if t.modCol >= 0 {
		lits[t.modCol] = "" // rendered from entry.modified
	}
	for n > 0 && lits[n-1] == "" {
		n--
	}
	size := 0
	for _, l := range lits[:n] {
		size += len(l)
	}
	var b strings.Builder
	b.Grow(size)
	ends := make([]uint32, n)
	for i, l := range lits[:n] {
		b.WriteString(l)
		ends[i] = uint32(b.Len())
	}
	e := &entry{blob: b.String(), ends: ends, version: version, modified: modified, key: key}
	// Share the key's bytes with the blob when its literal needs no escapes:
	// that saves one allocation per record.
	if len(keyLit) == len(key)+2 {
		e.key = e.literal(t.keyCol)[1 : len(keyLit)-1]
	}
	return e
}

// appendEntity appends e as a JSON object: the @odata.context annotation
// when context is not empty, the ETag annotation, then the columns in cols
// (every column when cols is nil), skipping absent fields. Columns holding
// annotations (lookups.go) are left out unless annotate. labels is a
// snapshot of the table's column labels taken under the lock.
func (t *table) appendEntity(dst []byte, e *entry, cols []int, labels []string, context string, annotate bool) []byte {
	dst = append(dst, '{')
	if context != "" {
		dst = append(dst, `"@odata.context":`...)
		dst = appendQuote(dst, context)
		dst = append(dst, ',')
	}
	dst = append(dst, `"@odata.etag":"W/\"`...)
	dst = strconv.AppendUint(dst, e.version, 10)
	dst = append(dst, `\""`...)
	n := len(labels)
	if cols != nil {
		n = len(cols)
	}
	for j := range n {
		i := j
		if cols != nil {
			i = cols[j]
		}
		if i == t.modCol {
			dst = append(dst, ',')
			dst = append(dst, labels[i]...)
			dst = append(dst, '"')
			dst = time.Unix(0, e.modified).UTC().AppendFormat(dst, t.layout)
			dst = append(dst, '"')
			continue
		}
		if lit := e.literal(i); lit != "" && (annotate || !isAnnotationLabel(labels[i])) {
			dst = append(dst, ',')
			dst = append(dst, labels[i]...)
			dst = append(dst, lit...)
		}
	}
	return append(dst, '}')
}

// modifiedString renders e's stamp as the wire does.
func (t *table) modifiedString(e *entry) string {
	return time.Unix(0, e.modified).UTC().Format(t.layout)
}

// etag renders a version as a weak ETag.
func etag(version uint64) string {
	return `W/"` + strconv.FormatUint(version, 10) + `"`
}
