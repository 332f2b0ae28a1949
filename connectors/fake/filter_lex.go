package fake

import (
	"fmt"
	"strings"
	"time"
)

// tokenKind is the lexical class of a $filter token.
type tokenKind uint8

const (
	tokEOF      tokenKind = iota
	tokIdent              // field, function or keyword (and, eq, true, null, ...)
	tokString             // 'quoted', text unescaped
	tokNumber             // -12, 3.5, 1e3
	tokDateTime           // 2024-01-01T00:00:00Z, 2024-01-01
	tokGUID               // 8-4-4-4-12 hex digits
	tokLParen
	tokRParen
	tokComma
)

// token is one lexeme of a $filter, with its byte offset in the source.
type token struct {
	kind tokenKind
	pos  int
	text string    // identifier, unescaped string, number text, GUID
	time time.Time // tokDateTime
}

// describe names a token in error messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return fmt.Sprintf("string '%s'", strings.ReplaceAll(t.text, "'", "''"))
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	case tokComma:
		return "','"
	}
	return fmt.Sprintf("'%s'", t.text)
}

// filterError is a $filter syntax or type error at a byte offset.
type filterError struct {
	pos int
	msg string
}

func (e *filterError) Error() string {
	return fmt.Sprintf("invalid $filter at position %d: %s", e.pos, e.msg)
}

func errAt(pos int, format string, args ...any) *filterError {
	return &filterError{pos: pos, msg: fmt.Sprintf(format, args...)}
}

// lexer splits a $filter into tokens. Whitespace is spaces and tabs only: a
// '+' standing for a space is a client encoding bug and is reported.
type lexer struct {
	src string
	pos int
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && (l.src[l.pos] == ' ' || l.src[l.pos] == '\t') {
		l.pos++
	}
	start := l.pos
	if start == len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[start]
	switch {
	case c == '(':
		l.pos++
		return token{kind: tokLParen, pos: start}, nil
	case c == ')':
		l.pos++
		return token{kind: tokRParen, pos: start}, nil
	case c == ',':
		l.pos++
		return token{kind: tokComma, pos: start}, nil
	case c == '\'':
		return l.lexString()
	case l.guidAhead():
		l.pos += 36
		return token{kind: tokGUID, pos: start, text: strings.ToLower(l.src[start:l.pos])}, nil
	case l.dateAhead():
		return l.lexDateTime()
	case isDigit(c) || c == '-' && start+1 < len(l.src) && isDigit(l.src[start+1]):
		return l.lexNumber()
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, pos: start, text: l.src[start:l.pos]}, nil
	case c == '+':
		return token{}, errAt(start, "unexpected '+' (spaces must be sent as %%20, not '+')")
	}
	return token{}, errAt(start, "unexpected character %q", rune(c))
}

// lexString reads a single-quoted string; a doubled quote stands for one.
func (l *lexer) lexString() (token, error) {
	start := l.pos
	var b strings.Builder
	i := start + 1
	for {
		j := strings.IndexByte(l.src[i:], '\'')
		if j < 0 {
			return token{}, errAt(start, "unterminated string literal")
		}
		b.WriteString(l.src[i : i+j])
		i += j + 1
		if i < len(l.src) && l.src[i] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		l.pos = i
		return token{kind: tokString, pos: start, text: b.String()}, nil
	}
}

// lexNumber reads an integer or decimal, with an optional exponent.
func (l *lexer) lexNumber() (token, error) {
	start := l.pos
	i := start
	if l.src[i] == '-' {
		i++
	}
	digits := func() {
		for i < len(l.src) && isDigit(l.src[i]) {
			i++
		}
	}
	digits()
	if i < len(l.src) && l.src[i] == '.' {
		i++
		if i == len(l.src) || !isDigit(l.src[i]) {
			return token{}, errAt(i, "expected a digit after the decimal point")
		}
		digits()
	}
	if i < len(l.src) && (l.src[i] == 'e' || l.src[i] == 'E') {
		i++
		if i < len(l.src) && (l.src[i] == '+' || l.src[i] == '-') {
			i++
		}
		if i == len(l.src) || !isDigit(l.src[i]) {
			return token{}, errAt(i, "expected a digit in the exponent")
		}
		digits()
	}
	if i < len(l.src) && isIdentPart(l.src[i]) {
		return token{}, errAt(i, "unexpected character %q after number", rune(l.src[i]))
	}
	l.pos = i
	return token{kind: tokNumber, pos: start, text: l.src[start:i]}, nil
}

// lexDateTime reads an unquoted date or datetime (OData's Edm.Date and
// Edm.DateTimeOffset literals).
func (l *lexer) lexDateTime() (token, error) {
	start := l.pos
	i := start
	for i < len(l.src) && isDateTimePart(l.src[i]) {
		i++
	}
	text := l.src[start:i]
	t, ok := parseTime(text)
	if !ok {
		return token{}, errAt(start, "invalid datetime %q", text)
	}
	l.pos = i
	return token{kind: tokDateTime, pos: start, text: text, time: t}, nil
}

// guidAhead reports whether a GUID starts at the current position and is
// not part of a longer word.
func (l *lexer) guidAhead() bool {
	end := l.pos + 36
	if end > len(l.src) || !isGUID(l.src[l.pos:end]) {
		return false
	}
	return end == len(l.src) || !isIdentPart(l.src[end]) && l.src[end] != '-'
}

// dateAhead reports whether a date (dddd-dd-dd) starts at the current
// position.
func (l *lexer) dateAhead() bool {
	s := l.src[l.pos:]
	if len(s) < 10 {
		return false
	}
	for i := range 10 {
		if i == 4 || i == 7 {
			if s[i] != '-' {
				return false
			}
		} else if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isDateTimePart(c byte) bool {
	return isDigit(c) || c == '-' || c == ':' || c == '.' || c == '+' || c == 'T' || c == 'Z'
}
