// Package jsontext recognises and decodes single JSON values by hand, as
// encoding/json would, for the hot paths that would otherwise run
// encoding/json per value.
package jsontext

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// IsNumber reports whether s is one number in JSON's grammar and nothing
// else: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func IsNumber(s string) bool {
	i := 0
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// Decode turns one JSON value's text into the value encoding/json with
// UseNumber gives for it: nil, a bool, a string, a json.Number, or for an
// object or array a map[string]any or []any. raw nil is nil.
//
// The common texts, null, the booleans, a number and a string (escaped or
// not: unquote), are read directly: a json.Decoder per value is what the
// hot paths (apply's changed values, a page's records) cannot afford. The
// rest, objects, arrays and malformed text, go through encoding/json
// (DecodeSlow), whose answer is the reference; FuzzDecode holds the two
// together.
func Decode(raw []byte) (any, error) {
	if raw == nil {
		return nil, nil
	}
	// Compared and checked as bytes, the text is copied into a string only
	// for what the value keeps of it: copying the whole of it first was an
	// allocation more for every null and boolean, and two bytes more for
	// every string, of every value a plan stages.
	switch {
	case string(raw) == "null":
		return nil, nil
	case string(raw) == "true":
		return true, nil
	case string(raw) == "false":
		return false, nil
	case len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"':
		if s, ok := String(raw); ok {
			return s, nil
		}
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') && IsNumber(string(raw)):
		return json.Number(raw), nil
	}
	return DecodeSlow(raw)
}

// String is the string Decode gives for raw, a JSON string Decode reads
// directly; ok is false for anything else, which the caller decodes
// with Decode. It spares the callers that want a string (a key, a
// version) the boxing of Decode's answer.
func String(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if in := raw[1 : len(raw)-1]; Plain(in) {
		return string(in), true
	}
	return unquote(raw[1 : len(raw)-1])
}

// Plain reports whether b, the inside of a JSON string, holds no escape,
// quote or control character and is valid UTF-8: then it is the string's
// value as it stands.
func Plain(b []byte) bool {
	ascii := true
	for _, c := range b {
		if special[c] {
			if c < utf8.RuneSelf {
				return false
			}
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// PlainString is Plain of a Go string.
func PlainString(s string) bool {
	// Plain only reads b, so the string's bytes serve without a copy.
	return Plain(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// special marks the bytes Plain must look at more closely: a quote, a
// backslash, a control character, and any byte of a multi-byte UTF-8
// sequence. One look-up a byte, and no UTF-8 check of ASCII text (most of
// every page), is what scanning each value costs.
var special = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

// DecodeSlow is Decode through encoding/json, for any JSON text.
func DecodeSlow(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// unquote decodes the inside of a JSON string as encoding/json does
// (its unquoteBytes): escapes, a lone or unpaired surrogate and each byte
// of invalid UTF-8 as U+FFFD. ok is false for text that is not the inside
// of a JSON string, which the caller leaves to DecodeSlow for its error.
func unquote(s []byte) (_ string, ok bool) {
	// Short strings (a version's W/"…", most escaped values) are unquoted
	// on the stack, the string their one allocation.
	var short [64]byte
	b := short[:0]
	if len(s) > len(short) {
		b = make([]byte, 0, len(s))
	}
	b, ok = AppendUnquoted(b, s)
	return string(b), ok
}

// AppendUnquoted appends to b what unquote gives for s, the inside of a
// JSON string; ok is false as for unquote. What it appends is at most
// 3*len(s) bytes (an invalid byte becomes U+FFFD's three).
func AppendUnquoted(b, s []byte) (_ []byte, ok bool) {
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			if r+1 >= len(s) {
				return b, false
			}
			switch s[r+1] {
			case '"', '\\', '/':
				b = append(b, s[r+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r+2:])
				if rr < 0 {
					return b, false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := rune(-1)
					if r+1 < len(s) && s[r] == '\\' && s[r+1] == 'u' {
						rr1 = hex4(s[r+2:])
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return b, false
			}
			r += 2
		case c == '"' || c < ' ':
			return b, false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return b, true
}

// hex4 is the value of the four hex digits s starts with; -1 when it does
// not.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
