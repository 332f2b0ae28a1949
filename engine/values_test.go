package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/internal/jsontext"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{"plain", `"plain"`},
		{"Smith & Sons <ltd>", `"Smith & Sons <ltd>"`},
		{"quote \" and \\ and \n", `"quote \" and \\ and \n"`},
		{"line\u2028sep", `"line\u2028sep"`},
		{"Ærøskøbing €", `"Ærøskøbing €"`},
		{json.Number("5000.00"), "5000"},
		{json.Number("0012.50"), "12.5"},
		{json.Number("-0.0"), "0"},
		{json.Number("1e3"), "1e3"},
		{json.Number("123456789012345678901234"), "123456789012345678901234"},
		{float64(5000), "5000"},
		{float64(12.5), "12.5"},
		{int64(3), "3"},
		{3, "3"},
		{true, "true"},
		{time.Date(2024, 5, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600)), `"2024-05-01T09:00:00Z"`},
		{map[string]any{"b": 1, "a": "x"}, `{"a":"x","b":1}`},
	}
	for _, tt := range tests {
		got, err := canonical(tt.in)
		if err != nil {
			t.Errorf("canonical(%#v): %v", tt.in, err)
			continue
		}
		if *got != tt.want {
			t.Errorf("canonical(%#v) = %s, want %s", tt.in, *got, tt.want)
		}
	}
	if got, err := canonical(nil); got != nil || err != nil {
		t.Errorf("canonical(nil) = %v, %v; want nil", got, err)
	}
}

// TestCanonicalAgreesAcrossSpellings pins what makes the diff stable: the
// same number spelt by two systems compares equal.
func TestCanonicalAgreesAcrossSpellings(t *testing.T) {
	t.Parallel()
	pairs := [][2]any{
		{json.Number("25000.0000"), float64(25000)},
		{json.Number("3"), int64(3)},
		{json.Number("0.1"), float64(0.1)},
	}
	for _, p := range pairs {
		a, _ := canonical(p[0])
		b, _ := canonical(p[1])
		if *a != *b {
			t.Errorf("%#v -> %s but %#v -> %s", p[0], *a, p[1], *b)
		}
	}
}

func TestNumbersForExpressions(t *testing.T) {
	t.Parallel()
	rec := map[string]any{"i": json.Number("3"), "f": json.Number("12.5"), "big": json.Number("123456789012345678901234.5"), "s": "x"}
	numbersForExpressions(rec)
	if rec["i"] != int64(3) || rec["f"] != 12.5 || rec["s"] != "x" {
		t.Errorf("numbers not converted: %#v", rec)
	}
	if _, ok := rec["big"].(json.Number); !ok {
		t.Errorf("a number float64 cannot hold exactly was converted: %#v", rec["big"])
	}
}

func TestNextWatermark(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	start := t0.Add(time.Hour)
	tests := []struct {
		name              string
		old, latest, want time.Time
	}{
		{"nothing read keeps the watermark", t0, time.Time{}, time.Time{}},
		{"moves to the latest seen", t0, t0.Add(time.Minute), t0.Add(time.Minute)},
		{"never past the read's start", t0, start.Add(time.Hour), start},
		{"never backwards", t0.Add(time.Minute), t0, t0.Add(time.Minute)},
	}
	for _, tt := range tests {
		if got := nextWatermark(tt.old, tt.latest, start); !got.Equal(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// decodeValue's direct reading of the common texts gives what the
// decoder gives, for every text: checked on a table of edge cases and
// fuzzed (go test ./engine -fuzz FuzzDecodeValue).
func TestDecodeValueFastPathAgrees(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`null`, `true`, `false`, `0`, `-0`, `12.50`, `1e3`, `-1.5E-7`, `123456789012345678901234`,
		`01`, `1.`, `.5`, `-`, `1e`, `+1`, `1 2`, ` 1`, `NaN`,
		`""`, `"plain"`, `"Ærøskøbing €"`, `"quote \" inside"`, `"back\\slash"`, `"\u00e9"`, `"a" "b"`,
		`"` + "\xff" + `"`, `"tab` + "\t" + `"`, `{"a":1}`, `[1,"x"]`, `nul`, `"unterminated`,
	} {
		checkDecodeValue(t, []byte(raw))
	}
}

func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{`null`, `"x"`, `1.5e3`, `"é\n"`, `{"a":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecodeValue)
}

func checkDecodeValue(t *testing.T, raw []byte) {
	got, gotErr := decodeValue(raw)
	want, wantErr := jsontext.DecodeSlow(raw)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("decodeValue(%q): error %v, the decoder's %v", raw, gotErr, wantErr)
	}
	if gotErr == nil && fmt.Sprintf("%T %#v", got, got) != fmt.Sprintf("%T %#v", want, want) {
		t.Fatalf("decodeValue(%q) = %T %#v, the decoder gives %T %#v", raw, got, got, want, want)
	}
}

// FuzzQuoteJSON: quoteJSON's short cut for strings it writes as they
// stand gives what the encoder it otherwise asks gives.
func FuzzQuoteJSON(f *testing.F) {
	for _, s := range []string{"plain", "Smith & Sons <ltd>", "quote \" \\ \n", "line\u2028sep", "Ærøskøbing €", "a\xffb", "\xe2", "\x7f", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got, want := quoteJSON(s), strings.TrimSuffix(b.String(), "\n"); got != want {
			t.Errorf("quoteJSON(%q) = %s, the encoder gives %s", s, got, want)
		}
	})
}
