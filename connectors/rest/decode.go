package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/couplerhq/coupler/connectors"
)

// decodeJSON decodes one JSON value from body, numbers as json.Number.
// Errors give the byte offset where decoding failed.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("at byte %d: %w", se.Offset, err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("at byte %d: unexpected end of body", len(body))
		default:
			return nil, fmt.Errorf("at byte %d: %w", dec.InputOffset(), err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("at byte %d: data after the JSON value", dec.InputOffset())
	}
	return v, nil
}

// listPage is one decoded list response.
type listPage struct {
	records []connectors.Record
	// next is the next page's URL (next_link) or cursor (cursor), "" when
	// the body names none.
	next string
}

// decodeList decodes a list response: the records array at res.records and,
// for body-driven paging, the next link or cursor at res.next. Each record
// is flattened (see flatten) with top naming the fields whose top-level
// value wins.
func decodeList(body []byte, res *resource, top []string) (listPage, error) {
	var p listPage
	v, err := decodeJSON(body)
	if err != nil {
		return p, err
	}
	arr, ok := lookup(v, res.records)
	if !ok {
		return p, fmt.Errorf("response has no %s", pathName(res.records, "records"))
	}
	items, ok := arr.([]any)
	if !ok {
		if arr == nil { // "items": null, as some APIs send for an empty page
			items = nil
		} else {
			return p, fmt.Errorf("%s is %s, want an array", pathName(res.records, "the response"), kind(arr))
		}
	}
	p.records = make([]connectors.Record, 0, len(items))
	for i, it := range items {
		rec, ok := it.(map[string]any)
		if !ok {
			return p, fmt.Errorf("%s[%d] is %s, want an object", pathName(res.records, "records"), i, kind(it))
		}
		rec, err := res.flatten(rec, top)
		if err != nil {
			return p, fmt.Errorf("%s[%d]: %w", pathName(res.records, "records"), i, err)
		}
		p.records = append(p.records, res.withETag(rec))
	}
	if len(res.next) > 0 {
		nv, ok := lookup(v, res.next)
		if ok && nv != nil {
			switch x := nv.(type) {
			case string:
				p.next = x
			case json.Number: // a numeric cursor
				p.next = x.String()
			default:
				return p, fmt.Errorf("%s is %s, want a string", pathName(res.next, ""), kind(nv))
			}
		}
	}
	return p, nil
}

// decodeItem decodes a single-record response (get, create, update): the
// object at res.record, flattened (see flatten).
func decodeItem(body []byte, res *resource, top []string) (connectors.Record, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	it, ok := lookup(v, res.record)
	if !ok {
		return nil, fmt.Errorf("response has no %s", pathName(res.record, "record"))
	}
	rec, ok := it.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is %s, want an object", pathName(res.record, "the response"), kind(it))
	}
	rec, err = res.flatten(rec, top)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pathName(res.record, "record"), err)
	}
	return res.withETag(rec), nil
}

// withETag copies the record's version from the configured field to
// connectors.ETagField, where the engine looks for it. Numbers become their
// text.
func (res *resource) withETag(rec connectors.Record) connectors.Record {
	delete(rec, connectors.ETagField) // only the configured field may set it
	if res.etag == "" {
		return rec
	}
	switch v := rec[res.etag].(type) {
	case string:
		if v != "" {
			rec[connectors.ETagField] = v
		}
	case json.Number:
		rec[connectors.ETagField] = v.String()
	}
	return rec
}

// pathName names a JSON path in an error message.
func pathName(path []string, whole string) string {
	if len(path) == 0 {
		return whole
	}
	return `"` + strings.Join(path, ".") + `"`
}

// kind names a decoded JSON value's type without quoting it.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// keyString renders a key value as the string ids travel in.
func keyString(v any) string {
	switch k := v.(type) {
	case string:
		return k
	case json.Number:
		return k.String()
	}
	return ""
}
