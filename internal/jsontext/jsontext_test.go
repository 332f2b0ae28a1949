package jsontext

import (
	"encoding/json"
	"fmt"
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

// Decode gives what encoding/json gives, or fails where it fails.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`null`, `"x"`, `1.5e3`, `"é\n"`, `{"a":[1]}`, `"W/\"1\""`, `"\ud83d\ude00"`, `"\ud800x"`,
		`"\udc00\ud800"`, "\"a\xffb\"", `"\u00e9\/\b\f\r\t"`, `"\x"`, `"\u12"`, `"a`, `"a"b"`, "\"\x01\"", `tru`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotErr := Decode(raw)
		want, wantErr := DecodeSlow(raw)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("Decode(%q): error %v, encoding/json's %v", raw, gotErr, wantErr)
		}
		if gotErr == nil && fmt.Sprintf("%T %#v", got, got) != fmt.Sprintf("%T %#v", want, want) {
			t.Fatalf("Decode(%q) = %T %#v, encoding/json gives %T %#v", raw, got, got, want, want)
		}
		// What String gives is Decode's string (its callers decode the
		// rest).
		if s, ok := String(raw); ok && (gotErr != nil || s != got) {
			t.Fatalf("String(%q) = %q, %v; Decode gives %T %#v, %v", raw, s, ok, got, got, gotErr)
		}
	})
}
