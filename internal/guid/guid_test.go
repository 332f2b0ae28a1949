package guid

import (
	"regexp"
	"strings"
	"testing"
)

// guidRE is the regexp engine.normalizeID told GUIDs by before Is: Is must
// agree with it.
var guidRE = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

func FuzzIs(f *testing.F) {
	for _, s := range []string{"6F9619FF-8B86-D011-B42D-00C04FC964FF", "6f9619ff-8b86-d011-b42d-00c04fc964ff", "6F9619FF-8B86-D011-B42D-00C04FC964F",
		"6F9619FF-8B86-D011-B42D-00C04FC964FG", "6F9619FF88B86-D011-B42D-00C04FC964FF", "C00010", "", "{6F9619FF-8B86-D011-B42D-00C04FC964FF}",
		"6F9619FF-8B86-D011-B42D-00C04FC964F\n", "6F9619FF-8B86-D011-B42D-00C04FC964\u00c9", "6F9619FF-8B86-D011-B42D-00C04FC96-FF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Is(s), guidRE.MatchString(s); got != want {
			t.Errorf("Is(%q) = %v, the regexp says %v", s, got, want)
		}
		want := s
		if guidRE.MatchString(s) {
			want = strings.ToLower(s)
		}
		if got := Lower(s); got != want {
			t.Errorf("Lower(%q) = %q, want %q", s, got, want)
		}
	})
}
