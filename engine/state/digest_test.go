package state

import "testing"

// TestRowDigest holds the staged digest to what the diff compares: a pair
// of records with equal digests is taken as having no change, so values
// the diff would find different must digest apart, and values it finds
// equal (a null and "", a field it does not compare) alike.
func TestRowDigest(t *testing.T) {
	str := func(s string) *string { return &s }
	fields := []DestField{{Name: "a"}, {Name: "b"}, {Name: "made", CreateOnly: true}}
	tests := []struct {
		name string
		x, y []*string
		same bool
	}{
		{"equal values", []*string{str(`"x"`), str(`1`), nil}, []*string{str(`"x"`), str(`1`), nil}, true},
		{"a null is compared as an empty string", []*string{nil, str(`1`), nil}, []*string{str(`""`), str(`1`), nil}, true},
		{"a field the diff does not compare", []*string{str(`"x"`), str(`1`), str(`"p"`)}, []*string{str(`"x"`), str(`1`), str(`"q"`)}, true},
		{"one value differs", []*string{str(`"x"`), str(`1`), nil}, []*string{str(`"x"`), str(`2`), nil}, false},
		{"values swapped", []*string{str(`1`), str(`2`), nil}, []*string{str(`2`), str(`1`), nil}, false},
		{"a boundary moved", []*string{str(`"ab"`), str(`"c"`), nil}, []*string{str(`"a`), str(`b""c"`), nil}, false},
		{"a null is not the text null", []*string{nil, str(`1`), nil}, []*string{str(`null`), str(`1`), nil}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two stages, as the two sides of a diff have.
			src, dst := &Stage{digested: digested(fields)}, &Stage{digested: digested(fields)}
			src.digest.SetSeed(digestSeed)
			dst.digest.SetSeed(digestSeed)
			hx, hy := src.rowDigest(tt.x), dst.rowDigest(tt.y)
			if (hx == hy) != tt.same {
				t.Errorf("digests %v and %v: same = %v, want %v", hx, hy, hx == hy, tt.same)
			}
		})
	}
	if h := (&Stage{digested: digested([]DestField{{Name: "made", CreateOnly: true}})}).rowDigest([]*string{str(`1`)}); h != nil {
		t.Errorf("digest with no field compared = %v, want nil (NULL)", h)
	}
}
