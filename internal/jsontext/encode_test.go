package jsontext

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// marshaler stands for connectors.Reference: a value with its own
// MarshalJSON, which encoding/json compacts and may HTML-escape.
type marshaler struct{ text string }

func (m marshaler) MarshalJSON() ([]byte, error) {
	if m.text == "fail" {
		return nil, errors.New("refused")
	}
	return []byte(m.text), nil
}

// MarshalObject writes what encoding/json writes, and fails where it fails.
func TestMarshalObject(t *testing.T) {
	for name, m := range map[string]map[string]any{
		"nil":         nil,
		"empty":       {},
		"plain":       {"name": "Contoso", "b": true, "c": false, "n": nil, "num": json.Number("12.50"), "a": "x"},
		"escapes":     {"q": `say "hi" \ there`, "ctl": "\b\f\n\r\t\x00\x1f\x7f", "html": "<a href='x'>&</a>", "<key>": 1},
		"unicode":     {"é": "é\u2028\u2029😀", "bad": "a\xffb\xc3", "surrogate": "\xed\xa0\x80"},
		"numbers":     {"f": 1.5, "i": 42, "big": 1e21, "empty": json.Number(""), "neg": json.Number("-0.5e-3")},
		"bad number":  {"n": json.Number("01")},
		"nested":      {"m": map[string]any{"z": 1, "a": []any{"<", nil}}, "s": []string{"x"}},
		"marshaler":   {"r": marshaler{`{ "entity" : "<accounts>" }`}},
		"marshal err": {"r": marshaler{"fail"}},
		"bad marshal": {"r": marshaler{`{`}},
		"unsupported": {"c": make(chan int)},
	} {
		for _, html := range []bool{true, false} {
			checkMarshalObject(t, name, m, html)
		}
	}
}

func FuzzMarshalObject(f *testing.F) {
	f.Add("name", "Contoso <&>", "12.5", true)
	f.Add("a\xff", "\u2028\x01\"\\", "-0", false)
	f.Add("", "", "1e", true)
	f.Fuzz(func(t *testing.T, k, v, num string, html bool) {
		checkMarshalObject(t, "fuzz", map[string]any{k: v, k + "n": json.Number(num), v: nil, num: k}, html)
	})
}

func checkMarshalObject(t *testing.T, name string, m map[string]any, html bool) {
	t.Helper()
	got, gotErr := MarshalObject(m, html)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	wantErr := enc.Encode(m)
	want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s (escapeHTML %v): error %v, encoding/json's %v", name, html, gotErr, wantErr)
	}
	if gotErr != nil {
		if gotErr.Error() != wantErr.Error() {
			t.Errorf("%s (escapeHTML %v): error %q, encoding/json's %q", name, html, gotErr, wantErr)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s (escapeHTML %v):\n got %s\nwant %s", name, html, got, want)
	}
	if html {
		if j, _ := json.Marshal(m); !bytes.Equal(got, j) {
			t.Errorf("%s: got %s, json.Marshal %s", name, got, j)
		}
	}
}

// BenchmarkMarshalObject encodes the fields of a create of the benchmark
// mapping (engine/bench_test.go) as apply's request body.
func BenchmarkMarshalObject(b *testing.B) {
	fields := map[string]any{"accountnumber": "C00042", "name": "Customer 42", "address1_line1": "42 Main Street",
		"address1_city": "Springfield", "address1_postalcode": "12345", "address1_country": "US", "telephone1": "+1 555 0142",
		"emailaddress1": "c42@example.com", "creditlimit": json.Number("1000.5"), "donotemail": false, "fax": nil}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := MarshalObject(fields, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalSlow(fields, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}
