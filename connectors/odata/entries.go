package odata

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/couplerhq/coupler/connectors"
	ijson "github.com/couplerhq/coupler/internal/jsontext"
)

// entries is a run of a page's records as their raw JSON: the
// connectors.Entries a read hands on, and what streamPage builds Records
// from. Each record is copied once into buf and split into its members
// there; nothing is decoded until asked for, and the buffers are reused
// from one run to the next (reset).
type entries struct {
	fields []string // what Value's i indexes
	// firstOf is, for each index of fields, that of its name's first
	// occurrence, where a record's value is kept: a field may be asked
	// for twice.
	firstOf []int
	// all keeps every member, annotations included: a change-tracking
	// page's deleted entries are told by theirs.
	all   bool
	names map[string]entryName // by the name's raw JSON text
	// order is the names of the last record's members, in order: the
	// next record of a page most likely has the same, and comparing a
	// name with the one in its place costs less than hashing it for
	// names, which was a third of add's time.
	order []entryName
	date  time.Time

	first   int      // the index in the value array of record 0
	buf     []byte   // the records' JSON, back to back
	members []member // the kept members of every record, in order
	starts  []int    // record r's members are members[starts[r]:starts[r+1]]
	ends    []int64  // the body offset after each record, for errors
	slots   []span   // len(fields) a record: where each field's value is
}

// entryName is a member name seen on the page: decoded once, with what is
// done with its members.
type entryName struct {
	raw  string // as it is on the page
	name string
	slot int  // its index in fields; -1 when none
	drop bool // an annotation cleanRecord would remove whatever its value
}

type member struct {
	name string
	v    span
}

// span is a value's place in entries.buf; the zero span is no value (no
// value starts at 0, where a record's '{' is).
type span struct{ from, to int }

func newEntries(fields []string, all bool) *entries {
	firstOf := make([]int, len(fields))
	for i, f := range fields {
		firstOf[i] = slices.Index(fields, f)
	}
	return &entries{fields: fields, firstOf: firstOf, all: all, names: map[string]entryName{}, starts: []int{0}}
}

// reset empties es for the run starting at index first of the value array.
func (es *entries) reset(first int) {
	es.first = first
	es.buf, es.members, es.starts, es.ends, es.slots = es.buf[:0], es.members[:0], es.starts[:1], es.ends[:0], es.slots[:0]
}

// add appends a record, raw: a JSON object, as a token decoder (which
// has checked its syntax) read it; end is the body offset after it.
func (es *entries) add(raw jsontext.Value, end int64) error {
	base := len(es.buf)
	es.buf = append(es.buf, raw...)
	b := es.buf
	slots := len(es.slots)
	for range es.fields {
		es.slots = append(es.slots, span{})
	}
	for k, i := 0, skipSpace(b, base+1); b[i] != '}'; k++ {
		var n *entryName
		var nameEnd int
		// A name is the one in its place when its text starts with that
		// name's whole text, closing quote included: it then ends there.
		if k < len(es.order) && len(b)-i >= len(es.order[k].raw) && string(b[i:i+len(es.order[k].raw)]) == es.order[k].raw {
			n, nameEnd = &es.order[k], i+len(es.order[k].raw)
		} else {
			nameEnd = stringEnd(b, i)
			name, ok := es.names[string(b[i:nameEnd])]
			if !ok {
				var err error
				if name, err = es.learn(b[i:nameEnd]); err != nil {
					return err
				}
			}
			if k == len(es.order) {
				es.order = append(es.order, name)
			}
			es.order[k] = name
			n = &es.order[k]
		}
		i = skipSpace(b, skipSpace(b, nameEnd)+1) // past the ':'
		v := span{i, valueEnd(b, i)}
		if !n.drop {
			es.members = append(es.members, member{n.name, v})
			if n.slot >= 0 {
				es.slots[slots+n.slot] = v // the last of duplicate names wins, as in a map
			}
		}
		if i = skipSpace(b, v.to); b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	es.starts = append(es.starts, len(es.members))
	es.ends = append(es.ends, end)
	return nil
}

// learn decodes a member name not seen before on the page.
func (es *entries) learn(raw []byte) (entryName, error) {
	v, err := ijson.Decode(raw)
	if err != nil {
		return entryName{}, fmt.Errorf("member name: %w", err)
	}
	name := v.(string)
	n := entryName{raw: string(raw), name: name, slot: -1}
	n.drop = !es.all && strings.Contains(name, "@") && name != etagKey && !keptAnnotation(name)
	for i, f := range es.fields {
		if f == name {
			n.slot = i
			break
		}
	}
	es.names[n.raw] = n
	return n, nil
}

// Len implements connectors.Entries.
func (es *entries) Len() int { return len(es.starts) - 1 }

// Value implements connectors.Entries.
func (es *entries) Value(r, i int) []byte {
	s := es.slots[r*len(es.fields)+es.firstOf[i]]
	if s.to == 0 {
		return nil
	}
	return es.buf[s.from:s.to:s.to]
}

// Date implements connectors.Entries.
func (es *entries) Date() time.Time { return es.date }

// Record implements connectors.Entries: the record as encoding/json (with
// UseNumber) decoded it into a map, cleaned (cleanRecord) unless es keeps
// every member.
func (es *entries) Record(r int, into connectors.Record) (connectors.Record, error) {
	ms := es.members[es.starts[r]:es.starts[r+1]]
	if into == nil {
		into = make(connectors.Record, len(ms))
	} else {
		clear(into)
	}
	for _, m := range ms {
		v, err := ijson.Decode(es.buf[m.v.from:m.v.to])
		if err != nil {
			return nil, fmt.Errorf("at byte %d: value[%d]: %s: %w", es.ends[r], es.first+r, m.name, err)
		}
		into[m.name] = v
	}
	if !es.all {
		cleanRecord(into)
	}
	return into, nil
}

// The scanners below walk JSON a token decoder has already checked, so
// they need not (and do not) check it again.

// skipSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at b[i].
func stringEnd(b []byte, i int) int {
	// Most strings have no escape: their end is the next quote, which
	// IndexByte finds several bytes at a time.
	if q := bytes.IndexByte(b[i+1:], '"'); q >= 0 && bytes.IndexByte(b[i+1:i+1+q], '\\') < 0 {
		return i + 1 + q + 1
	}
	for j := i + 1; ; j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// valueEnd returns the index after the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
		j++
	}
	return j
}
