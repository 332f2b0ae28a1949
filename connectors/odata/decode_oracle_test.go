package odata

// The decoder of collection responses before issue 16's entries
// (decode.go, entries.go), kept as the oracle FuzzEntries and
// BenchmarkDecodePage compare them with: encoding/json decoding each
// record into a map.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/couplerhq/coupler/connectors"
)

// oldStreamPage decodes an OData collection response,
//
//	{"@odata.context": …, "value": [{…}, …], "@odata.nextLink": "…"}
//
// with its members in any order, passing its records to emit about every
// chunkBytes of body as they are decoded, so that memory holds neither
// the raw body nor the whole page's records. Numbers stay json.Number.
// It returns the page's links. Errors give the byte
// offset where decoding failed; emit's are returned unchanged.
func oldStreamPage(r io.Reader, emit func([]connectors.Record) error) (page, error) {
	var p page
	err := oldDecodeCollection(r, func(dec *json.Decoder) error {
		return oldDecodeRecords(dec, func(connectors.Record) (bool, error) { return true, nil }, emit)
	}, map[string]*string{"@odata.context": &p.context, "@odata.nextLink": &p.nextLink})
	return p, err
}

// oldDecodeCollection decodes an OData collection response with its members
// in any order: the value array by value, each member named in links into
// its string (null leaves it empty), and every other member skipped.
func oldDecodeCollection(r io.Reader, value func(*json.Decoder) error, links map[string]*string) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	sawValue := false
	if err := oldExpectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return at(dec, err)
		}
		name, _ := tok.(string) // object keys are always strings
		if name == "value" {
			sawValue = true
			if err := value(dec); err != nil {
				return err
			}
			continue
		}
		dst, ok := links[name]
		if !ok {
			// Other members (@odata.count, …) are skipped.
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return at(dec, err)
			}
			continue
		}
		var link *string
		if err := dec.Decode(&link); err != nil {
			return at(dec, fmt.Errorf("%s: %w", name, err))
		}
		if link != nil {
			*dst = *link
		}
	}
	return oldEndCollection(dec, sawValue)
}

// oldDecodeRecords decodes the value array. Each entry goes to keep, which
// may take it elsewhere (a change-tracking page's deleted entries) and
// says whether it is a record; the records go to emit about every
// chunkBytes of body, and at the end of the array. keep's errors are
// given the entry's index and offset; emit's are returned unchanged.
func oldDecodeRecords(dec *json.Decoder, keep func(connectors.Record) (bool, error), emit func([]connectors.Record) error) error {
	if err := oldExpectDelim(dec, '['); err != nil {
		return err
	}
	var records []connectors.Record
	from := dec.InputOffset()
	for i := 0; dec.More(); i++ {
		var rec connectors.Record
		if err := dec.Decode(&rec); err != nil {
			return at(dec, fmt.Errorf("value[%d]: %w", i, err))
		}
		if rec == nil { // null
			return at(dec, fmt.Errorf("value[%d] is null, want an object", i))
		}
		if ok, err := keep(rec); err != nil {
			return at(dec, fmt.Errorf("value[%d] %w", i, err))
		} else if !ok {
			continue
		}
		records = append(records, cleanRecord(rec))
		if dec.InputOffset()-from >= chunkBytes {
			if err := emit(records); err != nil {
				return err
			}
			records, from = nil, dec.InputOffset()
		}
	}
	if err := oldExpectDelim(dec, ']'); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	return emit(records)
}

// oldExpectDelim reads the next token and fails unless it is want.
func oldExpectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err == io.EOF {
		return at(dec, fmt.Errorf("unexpected end of body, want %q", want))
	}
	if err != nil {
		return at(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return at(dec, fmt.Errorf("unexpected %s, want %q", oldDescribe(tok), want))
	}
	return nil
}

// describe names a JSON token for an error message without quoting data,
// which may be large.
func oldDescribe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// oldEndCollection checks the end of a collection response once its members
// are read: the closing brace, nothing after it, and a value array seen.
func oldEndCollection(dec *json.Decoder, sawValue bool) error {
	if err := oldExpectDelim(dec, '}'); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the response object")
		}
		return at(dec, err)
	}
	if !sawValue {
		return errors.New("response has no value array; is the entity a collection?")
	}
	return nil
}

// oldStreamChangesPage is streamChangesPage over the old decoder.
func oldStreamChangesPage(r io.Reader, emit func([]connectors.Record) error) (changesPage, error) {
	var p changesPage
	keep := func(rec connectors.Record) (bool, error) {
		if !isDeletedEntry(rec) {
			return true, nil
		}
		id, _ := rec["id"].(string)
		if id == "" {
			id, _ = rec["@id"].(string)
		}
		key := removedKey(id)
		if key == "" {
			return false, errors.New("is a deleted entry without an id")
		}
		p.removed = append(p.removed, key)
		return false, nil
	}
	err := oldDecodeCollection(r, func(dec *json.Decoder) error { return oldDecodeRecords(dec, keep, emit) },
		map[string]*string{"@odata.context": &p.context, "@odata.nextLink": &p.nextLink, "@odata.deltaLink": &p.deltaLink})
	return p, err
}
