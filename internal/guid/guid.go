// Package guid tells GUIDs by their spelling.
package guid

import "strings"

// Is reports whether s is spelled like a GUID: 8-4-4-4-12 hex digits of
// either case. It is asked of every key a plan stages, where a regexp cost
// more than the rest of the key's handling.
func Is(s string) bool {
	is, _ := scan(s)
	return is
}

// Lower is s in lower case when it is spelled like a GUID (Is), and s as
// it is otherwise: a GUID's spelling without regard to case. Telling the
// GUID and whether it has an upper-case digit in one pass, it leaves a
// lower-case GUID (most keys) without the second pass strings.ToLower
// makes over it.
func Lower(s string) string {
	if is, upper := scan(s); is && upper {
		return strings.ToLower(s)
	}
	return s
}

// Classes of a byte in a GUID's spelling (class).
const (
	lowerDigit = 1 << iota // 0-9, a-f
	upperDigit             // A-F
	dash
	other
)

// class is the class of each byte. A look-up a byte, without a branch a
// position, is what a key costs a plan: the switch it replaced was 4% of
// staging a record.
var class = func() (t [256]uint8) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9' || 'a' <= c && c <= 'f':
			t[c] = lowerDigit
		case 'A' <= c && c <= 'F':
			t[c] = upperDigit
		case c == '-':
			t[c] = dash
		default:
			t[c] = other
		}
	}
	return t
}()

// scan tells whether s is spelled like a GUID, and whether with an
// upper-case hex digit.
func scan(s string) (is, upper bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false, false
	}
	var seen uint8
	dashes := 0
	for i := 0; i < len(s); i++ {
		c := class[s[i]]
		seen |= c
		dashes += int(c >> 2 & 1)
	}
	// The four dashes in place are all the dashes there are.
	return seen&other == 0 && dashes == 4, seen&upperDigit != 0
}
