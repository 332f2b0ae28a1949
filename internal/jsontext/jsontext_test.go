package jsontext

import (
	"encoding/json"
	"testing"
)

// IsNumber agrees with encoding/json on what a lone number is.
func TestIsNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "12", "12.50", "1e3", "-1.5E-7", "1E+2", "123456789012345678901234",
		"", "-", "01", "1.", ".5", "1e", "+1", "1 2", " 1", "NaN", "0x10", "1.2.3", "--1"} {
		checkIsNumber(t, s)
	}
}

func FuzzIsNumber(f *testing.F) {
	for _, s := range []string{"0", "-1.5e3", "01", "1e"} {
		f.Add(s)
	}
	f.Fuzz(checkIsNumber)
}

func checkIsNumber(t *testing.T, s string) {
	var n json.Number
	want := json.Valid([]byte(s)) && json.Unmarshal([]byte(s), &n) == nil && s == string(n)
	if got := IsNumber(s); got != want {
		t.Errorf("IsNumber(%q) = %v, encoding/json says %v", s, got, want)
	}
}
