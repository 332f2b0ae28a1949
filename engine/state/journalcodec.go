package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A journal entry's payload is binary, not JSON: a first sync of 100,000
// records journals every write's fields, and encoding/json's reflection
// over the intents cost a third of recording them, and its escaped fields
// and member names made the journal half again as large. The first byte
// says what the entry holds:
//
//	'H' the header: the database's id (a string)
//	'I' intents: a count, then each intent's values in intentColumns' order
//	'D' drops: a run id, a count, then the seqs
//
// Integers are varints, strings a uvarint length then the bytes, times a
// byte saying whether one is set then its Unix nanoseconds.
const (
	entryHeader  = 'H'
	entryIntents = 'I'
	entryDrops   = 'D'
)

// encodeEntry appends e's payload to buf.
func encodeEntry(buf []byte, e journalEntry) []byte {
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	tm := func(t time.Time) {
		if t.IsZero() {
			buf = append(buf, 0)
			return
		}
		buf = append(buf, 1)
		buf = binary.AppendVarint(buf, t.UnixNano())
	}
	switch {
	case e.Database != "":
		buf = append(buf, entryHeader)
		str(e.Database)
	case e.Dropped != nil:
		buf = append(buf, entryDrops)
		buf = binary.AppendVarint(buf, e.Dropped.Run)
		buf = binary.AppendUvarint(buf, uint64(len(e.Dropped.Seqs)))
		for _, s := range e.Dropped.Seqs {
			buf = binary.AppendVarint(buf, s)
		}
	default:
		buf = append(buf, entryIntents)
		buf = binary.AppendUvarint(buf, uint64(len(e.Intents)))
		for i := range e.Intents {
			in := &e.Intents[i]
			buf = binary.AppendVarint(buf, in.RunID)
			str(in.PlanID)
			str(in.Mapping)
			str(in.Direction)
			buf = binary.AppendVarint(buf, in.Seq)
			str(in.Op)
			str(in.SourceID)
			str(in.DestID)
			str(in.ClientKey)
			str(in.Fields)
			tm(in.SourceModified)
			str(in.SourceETag)
			tm(in.CreatedAt)
		}
	}
	return buf
}

// entryDecoder reads a payload; the first error sticks.
type entryDecoder struct {
	b   []byte
	err error
}

var errShortEntry = errors.New("entry cut short")

func (d *entryDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShortEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items each taking at least one byte, so that a
// damaged count cannot ask for more memory than the entry's size.
func (d *entryDecoder) count() int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > uint64(len(d.b)-n) {
		d.err = errShortEntry
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *entryDecoder) str() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *entryDecoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	if len(d.b) == 0 {
		d.err = errShortEntry
		return time.Time{}
	}
	set := d.b[0]
	d.b = d.b[1:]
	switch set {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.varint()).UTC()
	}
	d.err = fmt.Errorf("time flag %d", set)
	return time.Time{}
}

// decodeEntry reads a payload encodeEntry wrote.
func decodeEntry(payload []byte) (journalEntry, error) {
	var e journalEntry
	if len(payload) == 0 {
		return e, errShortEntry
	}
	d := &entryDecoder{b: payload[1:]}
	switch payload[0] {
	case entryHeader:
		e.Database = d.str()
		if d.err == nil && e.Database == "" {
			d.err = errors.New("header without a database id")
		}
	case entryDrops:
		e.Dropped = &journalDrops{Run: d.varint()}
		n := d.count()
		for range n {
			e.Dropped.Seqs = append(e.Dropped.Seqs, d.varint())
		}
	case entryIntents:
		n := d.count()
		if d.err == nil {
			e.Intents = make([]Intent, 0, n)
		}
		for i := 0; i < n && d.err == nil; i++ {
			var in Intent
			in.RunID = d.varint()
			in.PlanID = d.str()
			in.Mapping = d.str()
			in.Direction = d.str()
			in.Seq = d.varint()
			in.Op = d.str()
			in.SourceID = d.str()
			in.DestID = d.str()
			in.ClientKey = d.str()
			in.Fields = d.str()
			in.SourceModified = d.time()
			in.SourceETag = d.str()
			in.CreatedAt = d.time()
			e.Intents = append(e.Intents, in)
		}
	default:
		return e, fmt.Errorf("entry of unknown kind %q", payload[0])
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the entry", len(d.b))
	}
	return e, d.err
}
