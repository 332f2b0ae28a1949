package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/couplerhq/coupler/internal/jsontext"
)

// appendQuote appends s as a JSON string. Unlike encoding/json it does not
// escape <, > and &: the real servers do not either, and the stored literal is
// what clients see.
func appendQuote(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// quote returns s as a JSON string literal.
func quote(s string) string { return string(appendQuote(nil, s)) }

// unquote returns the string a JSON string literal denotes. Literals without
// escapes, the common case, cost no allocation.
func unquote(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", false
	}
	body := lit[1 : len(lit)-1]
	if !strings.ContainsRune(body, '\\') {
		return body, true
	}
	var s string
	if err := json.Unmarshal([]byte(lit), &s); err != nil {
		return "", false
	}
	return s, true
}

// encodeLiteral renders a Go value as the JSON literal stored for it.
// Numbers are expected as json.Number, as the connectors decode them; other
// numeric types are accepted and rendered the way encoding/json would.
func encodeLiteral(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "null", nil
	case string:
		return quote(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case json.Number:
		if !jsontext.IsNumber(string(v)) {
			return "", fmt.Errorf("invalid number %q", string(v))
		}
		return string(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return "", fmt.Errorf("unsupported number %v", v)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// decodeLiteral turns a stored literal back into the value a client decoding
// with UseNumber sees: numbers become json.Number.
func decodeLiteral(lit string) (any, error) {
	switch lit[0] {
	case '"':
		if s, ok := unquote(lit); ok {
			return s, nil
		}
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case 'n':
		return nil, nil
	case '{', '[':
	default:
		return json.Number(lit), nil
	}
	return jsontext.DecodeSlow([]byte(lit))
}

// normaliseLiteral makes a client-sent JSON value safe to store verbatim:
// objects and arrays are compacted and strings holding invalid UTF-8 are
// re-encoded, so that every stored literal is valid, compact JSON.
func normaliseLiteral(raw []byte) (string, error) {
	switch raw[0] {
	case '{', '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return "", err
		}
		return buf.String(), nil
	case '"':
		if !utf8.Valid(raw) {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", err
			}
			return quote(s), nil
		}
	}
	return string(raw), nil
}
