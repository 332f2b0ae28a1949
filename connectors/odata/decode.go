package odata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
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
	var p page
	err := decodeCollection(r, func(dec *json.Decoder) error {
		return decodeRecords(dec, func(connectors.Record) (bool, error) { return true, nil }, emit)
	}, map[string]*string{"@odata.context": &p.context, "@odata.nextLink": &p.nextLink})
	return p, err
}

// decodeCollection decodes an OData collection response with its members
// in any order: the value array by value, each member named in links into
// its string (null leaves it empty), and every other member skipped.
func decodeCollection(r io.Reader, value func(*json.Decoder) error, links map[string]*string) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	sawValue := false
	if err := expectDelim(dec, '{'); err != nil {
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
	return endCollection(dec, sawValue)
}

// decodeRecords decodes the value array. Each entry goes to keep, which
// may take it elsewhere (a change-tracking page's deleted entries) and
// says whether it is a record; the records go to emit about every
// chunkBytes of body, and at the end of the array. keep's errors are
// given the entry's index and offset; emit's are returned unchanged.
func decodeRecords(dec *json.Decoder, keep func(connectors.Record) (bool, error), emit func([]connectors.Record) error) error {
	if err := expectDelim(dec, '['); err != nil {
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
	if err := expectDelim(dec, ']'); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	return emit(records)
}

// expectDelim reads the next token and fails unless it is want.
func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err == io.EOF {
		return at(dec, fmt.Errorf("unexpected end of body, want %q", want))
	}
	if err != nil {
		return at(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return at(dec, fmt.Errorf("unexpected %s, want %q", describe(tok), want))
	}
	return nil
}

// describe names a JSON token for an error message without quoting data,
// which may be large.
func describe(tok json.Token) string {
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
		if strings.HasSuffix(k, lookupLogicalName) {
			continue // which table a lookup points to: LookupTarget reads it
		}
		delete(rec, k)
	}
	return rec
}

// endCollection checks the end of a collection response once its members
// are read: the closing brace, nothing after it, and a value array seen.
func endCollection(dec *json.Decoder, sawValue bool) error {
	if err := expectDelim(dec, '}'); err != nil {
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
