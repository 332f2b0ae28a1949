package odata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/couplerhq/coupler/connectors"
	ijson "github.com/couplerhq/coupler/internal/jsontext"
)

// page is what a collection response says besides its records, which
// streamPage hands on as it decodes them.
type page struct {
	nextLink string
	date     time.Time // the response's Date header
	context  string    // @odata.context: the base of a relative nextLink
}

// chunkBytes is how much of a page's value array is decoded before its
// records are handed on. Decoded records take about five times their JSON
// (maps of strings and json.Numbers), so a page of 256 MiB, the body
// limit, handed on whole would cost over a gigabyte.
const chunkBytes = 1 << 20

// streamPage decodes an OData collection response,
//
//	{"@odata.context": …, "value": [{…}, …], "@odata.nextLink": "…"}
//
// with its members in any order, passing its records to emit about every
// chunkBytes of body as they are decoded, so that memory holds neither
// the raw body nor the whole page's records. Numbers stay json.Number.
// It returns the page's links. Errors give the byte
// offset where decoding failed; emit's are returned unchanged.
func streamPage(r io.Reader, emit func([]connectors.Record) error) (page, error) {
	return newCollectionDecoder(nil, false).streamPage(r, emit)
}

// streamPage is streamPage with d's buffers.
func (d *collectionDecoder) streamPage(r io.Reader, emit func([]connectors.Record) error) (page, error) {
	var p page
	err := d.streamRecords(r, nil, emit, map[string]*string{"@odata.context": &p.context, "@odata.nextLink": &p.nextLink})
	return p, err
}

// streamRecords decodes a collection response (decode), making each entry
// a Record as soon as it is read, so that d's entries never hold more than
// one. keep, when not nil, is given each before it is cleaned
// (cleanRecord), and says whether it is a record to hand on or was taken
// elsewhere; its errors are given the entry's index and offset. The
// records go to emit about every chunkBytes of body and at the end of the
// value array; emit's errors are returned unchanged.
func (d *collectionDecoder) streamRecords(r io.Reader, keep func(connectors.Record) (bool, error), emit func([]connectors.Record) error, links map[string]*string) error {
	var recs []connectors.Record
	return d.decode(r, func(es *entries) error {
		defer es.reset(es.first + 1)
		rec, err := es.Record(0, nil)
		if err != nil {
			return err
		}
		if keep != nil {
			if ok, err := keep(rec); err != nil {
				return fmt.Errorf("at byte %d: value[%d] %w", es.ends[0], es.first, err)
			} else if !ok {
				return nil
			}
		}
		if es.all {
			cleanRecord(rec)
		}
		recs = append(recs, rec)
		return nil
	}, func(*entries) error {
		if len(recs) == 0 {
			return nil
		}
		err := emit(recs)
		recs = nil
		return err
	}, links)
}

// collectionDecoder decodes collection responses (decode), one after the
// other, reusing its buffers from one to the next.
type collectionDecoder struct {
	dec *jsontext.Decoder
	es  *entries
	// chunk is how much of the value array is decoded before flush:
	// chunkBytes, or for entries, which are staged as soon as they are
	// handed on, entriesChunkBytes.
	chunk int64
}

// entriesChunkBytes is collectionDecoder.chunk for entries: small enough
// that their buffers stay small (and in cache), large enough that handing
// them on costs nothing.
const entriesChunkBytes = 64 << 10

// noBody is what a collectionDecoder reads when it reads nothing.
var noBody = bytes.NewReader(nil)

// newCollectionDecoder returns a decoder whose entries index fields and
// keep every member when all is set (see entries).
func newCollectionDecoder(fields []string, all bool) *collectionDecoder {
	d := &collectionDecoder{dec: jsontext.NewDecoder(noBody), es: newEntries(fields, all), chunk: chunkBytes}
	if fields != nil {
		d.chunk = entriesChunkBytes
	}
	return d
}

// decode decodes an OData collection response with its members
// in any order: the value array's entries into d.es, each handed to each
// once added (which may take it out, resetting es), and es to flush about
// every d.chunk of body and at the end of the array (then reset); each
// member named in links into its string (null leaves it empty); every
// other member skipped.
//
// It reads with a token decoder rather than encoding/json's reflection,
// each entry as one raw value that es splits into its members without a
// map (entries.add): accepting what encoding/json accepts (duplicate
// names, invalid UTF-8, which the Records get as U+FFFD as before).
// Errors give the byte offset where decoding failed; those of each and
// flush are returned unchanged.
func (d *collectionDecoder) decode(r io.Reader, each, flush func(*entries) error, links map[string]*string) error {
	dec, es := d.dec, d.es
	dec.Reset(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	defer dec.Reset(noBody) // let go of r
	if err := expectKind(dec, '{', ""); err != nil {
		return err
	}
	sawValue := false
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return atJSON(dec, "", err)
		}
		name := tok.String() // an object's members start with their name
		switch dst, isLink := links[name]; {
		case name == "value":
			sawValue = true
			if err := decodeEntries(dec, es, d.chunk, each, flush); err != nil {
				return err
			}
		case isLink:
			raw, err := dec.ReadValue()
			if err != nil {
				return atJSON(dec, name+": ", err)
			}
			switch raw.Kind() {
			case 'n':
			case '"':
				v, err := ijson.Decode(raw)
				if err != nil {
					return atJSON(dec, name+": ", err)
				}
				*dst = v.(string)
			default:
				return atJSON(dec, "", fmt.Errorf("%s: unexpected %s, want a string", name, describeKind(raw.Kind())))
			}
		default:
			// Other members (@odata.count, …) are skipped.
			if err := dec.SkipValue(); err != nil {
				return atJSON(dec, "", err)
			}
		}
	}
	if err := expectKind(dec, '}', ""); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the response object")
		}
		return atJSON(dec, "", err)
	}
	if !sawValue {
		return errors.New("response has no value array; is the entity a collection?")
	}
	return nil
}

// decodeEntries decodes the value array into es; see decode.
func decodeEntries(dec *jsontext.Decoder, es *entries, chunk int64, each, flush func(*entries) error) error {
	if err := expectKind(dec, '[', ""); err != nil {
		return err
	}
	es.reset(0)
	from := dec.InputOffset()
	i := 0
	for ; dec.PeekKind() != ']'; i++ {
		// A record's errors are given where it starts, past the comma.
		start := dec.InputOffset() + int64(len(dec.UnreadBuffer())-len(bytes.TrimLeft(dec.UnreadBuffer(), ", \t\r\n")))
		raw, err := dec.ReadValue()
		if err != nil {
			return atOffset(start, fmt.Sprintf("value[%d]: ", i), err)
		}
		switch raw.Kind() {
		case '{':
		case 'n':
			return atOffset(start, "", fmt.Errorf("value[%d] is null, want an object", i))
		default:
			return atOffset(start, "", fmt.Errorf("value[%d]: unexpected %s, want an object", i, describeKind(raw.Kind())))
		}
		if err := es.add(raw, dec.InputOffset()); err != nil {
			return atOffset(start, fmt.Sprintf("value[%d]: ", i), err)
		}
		if each != nil {
			if err := each(es); err != nil {
				return err
			}
		}
		if dec.InputOffset()-from >= chunk {
			if err := flush(es); err != nil {
				return err
			}
			es.reset(i + 1)
			from = dec.InputOffset()
		}
	}
	if err := expectKind(dec, ']', fmt.Sprintf("value[%d]: ", i)); err != nil {
		return err
	}
	return flush(es)
}

// expectKind reads the next token and fails unless it is want.
func expectKind(dec *jsontext.Decoder, want jsontext.Kind, where string) error {
	tok, err := dec.ReadToken()
	if err == io.EOF {
		return atJSON(dec, where, fmt.Errorf("unexpected end of body, want %q", string(want)))
	}
	if err != nil {
		return atJSON(dec, where, err)
	}
	if tok.Kind() != want {
		return atJSON(dec, where, fmt.Errorf("unexpected %s, want %q", describeKind(tok.Kind()), string(want)))
	}
	return nil
}

// describeKind names a kind of JSON token for an error message without
// quoting data, which may be large.
func describeKind(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return fmt.Sprintf("%q", string(rune(k)))
	}
}

// atJSON adds the byte offset where the token decoder failed to an error,
// after where (which part of the response): a syntax error's own offset,
// else the decoder's.
func atJSON(dec *jsontext.Decoder, where string, err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return atOffset(se.ByteOffset, where, se.Err)
	}
	return atOffset(dec.InputOffset(), where, err)
}

// atOffset is atJSON at a given offset, a syntax error's own left out.
func atOffset(offset int64, where string, err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fmt.Errorf("at byte %d: %s%w", offset, where, err)
}

// at adds the decoder's byte offset to a decoding error: where the failing
// token is, or where the failing record starts. (A *json.SyntaxError's own
// Offset is relative to the value being decoded, so it is not used.)
func at(dec *json.Decoder, err error) error {
	return fmt.Errorf("at byte %d: %w", dec.InputOffset(), err)
}

// etagKey is where a record keeps its version for conditional writes.
const etagKey = "@odata.etag"

// cleanRecord removes annotations, keeping the ETag under "@odata.etag" and
// the table each lookup points to ("_x_value@Microsoft.Dynamics.CRM.
// lookuplogicalname", for LookupTarget).
// OData names cannot contain '@', so every key that does is an annotation:
// instance ones such as "@odata.editLink" and property ones such as
// "name@odata.type". Left in, they would show up as changed fields.
func cleanRecord(rec connectors.Record) connectors.Record {
	for k, v := range rec {
		if !strings.Contains(k, "@") {
			continue
		}
		if k == etagKey {
			if _, ok := v.(string); ok {
				continue
			}
		}
		if keptAnnotation(k) {
			continue
		}
		delete(rec, k)
	}
	return rec
}

// keptAnnotation reports whether cleanRecord keeps the annotation name
// whatever its value: which table a lookup points to, for LookupTarget.
func keptAnnotation(name string) bool { return strings.HasSuffix(name, lookupLogicalName) }
