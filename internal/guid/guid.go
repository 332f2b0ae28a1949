// Package guid tells GUIDs by their spelling.
package guid

// Is reports whether s is spelled like a GUID: 8-4-4-4-12 hex digits of
// either case. It is asked of every key a plan stages, where a regexp cost
// more than the rest of the key's handling.
func Is(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
