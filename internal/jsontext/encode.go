package jsontext

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// MarshalObject returns what encoding/json writes for m (json.Marshal when
// escapeHTML, else an Encoder with SetEscapeHTML(false), without its
// newline): the members in the order of their names, a nil map as null.
//
// Apply encodes every write twice (its intent, its request body), and
// encoding/json's reflection and its map of reflected encoders was a
// noticeable share of a first sync. The values a write holds, strings,
// nulls, booleans and json.Numbers, are written directly; any other value
// (a float, a Reference with its MarshalJSON, a nested map) is written by
// encoding/json on its own, which writes it as it would inside m.
// Whenever encoding/json would fail, m is encoded by it whole, for its
// error. FuzzMarshalObject holds the two together.
func MarshalObject(m map[string]any, escapeHTML bool) ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	names := make([]string, 0, len(m))
	size := 2
	for k, v := range m {
		names = append(names, k)
		size += len(k) + 4
		if s, ok := v.(string); ok {
			size += len(s) + 2
		} else {
			size += 8
		}
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k, escapeHTML)
		b = append(b, ':')
		switch v := m[k].(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			b = appendString(b, v, escapeHTML)
		case bool:
			if v {
				b = append(b, "true"...)
			} else {
				b = append(b, "false"...)
			}
		case json.Number:
			switch {
			case v == "":
				b = append(b, '0') // as encoding/json writes an empty Number
			case IsNumber(string(v)):
				b = append(b, v...)
			default:
				return marshalSlow(m, escapeHTML)
			}
		default:
			enc, err := marshalSlow(v, escapeHTML)
			if err != nil {
				return marshalSlow(m, escapeHTML)
			}
			b = append(b, enc...)
		}
	}
	return append(b, '}'), nil
}

// marshalSlow is encoding/json's encoding of v, HTML escaped or not.
func marshalSlow(v any, escapeHTML bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as encoding/json quotes a string (its
// appendString): the short escapes it uses, \u00XX for other control
// characters (and <, >, & when escapeHTML), \ufffd for each byte of
// invalid UTF-8, and U+2028 and U+2029 escaped for JSONP.
func appendString(b []byte, s string, escapeHTML bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && (!escapeHTML || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
