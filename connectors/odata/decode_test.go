package odata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/transport"
)

// wholePage is a page with its records, as decodePage gives it.
type wholePage struct {
	page
	records []connectors.Record
}

// decodePage decodes a collection response through streamPage, as reads
// do, keeping every record.
func decodePage(r io.Reader) (wholePage, error) {
	var p wholePage
	var err error
	p.page, err = streamPage(r, func(recs []connectors.Record) error {
		p.records = append(p.records, recs...)
		return nil
	})
	return p, err
}

// TestStreamPageInParts: a page larger than chunkBytes is handed on in
// parts, which hold every record once and in order.
func TestStreamPageInParts(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"value":[`)
	const n = 20000
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%06d","pad":"%s"}`, i, strings.Repeat("p", 100))
	}
	b.WriteString(`],"@odata.nextLink":"next"}`)
	parts, i := 0, 0
	p, err := streamPage(strings.NewReader(b.String()), func(recs []connectors.Record) error {
		parts++
		for _, r := range recs {
			if want := fmt.Sprintf("%06d", i); r["id"] != want {
				return fmt.Errorf("record %d has id %v", i, r["id"])
			}
			i++
		}
		return nil
	})
	if err != nil || i != n || p.nextLink != "next" || parts < 2 {
		t.Errorf("%d records in %d parts, next %q, err %v; want %d records in parts of about %d bytes", i, parts, p.nextLink, err, n, chunkBytes)
	}
	stop := errors.New("stop")
	if _, err := streamPage(strings.NewReader(b.String()), func([]connectors.Record) error { return stop }); err != stop {
		t.Errorf("the caller's error came back as %v, want it unchanged", err)
	}
}

func TestDecodePage(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     []connectors.Record
		wantNext string
	}{
		{"empty", `{"value":[]}`, nil, ""},
		{"records and next link after value",
			`{"@odata.context":"x","value":[{"id":"a","n":12.50,"@odata.etag":"W/\"1\""},{"id":"b","o":{"k":[1,null]}}],"@odata.nextLink":"http://h/svc/x?$skiptoken=2"}`,
			[]connectors.Record{
				{"id": "a", "n": json.Number("12.50"), "@odata.etag": `W/"1"`},
				{"id": "b", "o": map[string]any{"k": []any{json.Number("1"), nil}}},
			},
			"http://h/svc/x?$skiptoken=2"},
		{"next link before value", `{"@odata.nextLink":"n","value":[{"id":"a"}]}`, []connectors.Record{{"id": "a"}}, "n"},
		{"null next link", `{"value":[],"@odata.nextLink":null}`, nil, ""},
		{"annotations stripped",
			`{"value":[{"id":"a","@odata.editLink":"x","@odata.id":"y","name@odata.type":"#String","_ownerid_value@OData.Community.Display.V1.FormattedValue":"Ann","@odata.etag":7}]}`,
			[]connectors.Record{{"id": "a"}}, ""},
		// The table a lookup points to stays, for LookupTarget.
		{"lookup target kept",
			`{"value":[{"id":"a","_ownerid_value":"u","_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"systemuser"}]}`,
			[]connectors.Record{{"id": "a", "_ownerid_value": "u", "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "systemuser"}}, ""},
		{"skips other members", `{"@odata.count":3,"extra":{"a":[1,2]},"value":[{"id":"a"}]}`, []connectors.Record{{"id": "a"}}, ""},
		{"whitespace", " \n{ \"value\" : [ { \"id\" : \"a\" } ] }\n ", []connectors.Record{{"id": "a"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader proves decoding does not depend on read sizes.
			p, err := decodePage(iotest.OneByteReader(strings.NewReader(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.records, tt.want) {
				t.Errorf("records = %#v, want %#v", p.records, tt.want)
			}
			if p.nextLink != tt.wantNext {
				t.Errorf("nextLink = %q, want %q", p.nextLink, tt.wantNext)
			}
		})
	}
}

func TestDecodePageErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty body", ``, "at byte 0: unexpected end of body"},
		{"truncated", `{"value":[{"id":"a"},{"id":`, "at byte"},
		{"syntax", `{"value":[{"id":"a"},]}`, "at byte 21: value[1]: invalid character"},
		{"array at top", `[{"id":"a"}]`, `unexpected "[", want "{"`},
		{"value not array", `{"value":{"id":"a"}}`, `unexpected "{", want "["`},
		{"value string", `{"value":"x"}`, `unexpected string, want "["`},
		{"null element", `{"value":[null]}`, "value[0] is null"},
		{"number element", `{"value":[{"id":"a"},3]}`, "value[1]"},
		{"no value", `{"@odata.context":"x"}`, "no value array"},
		{"trailing data", `{"value":[]} {}`, "data after the response object"},
		{"next link not string", `{"value":[],"@odata.nextLink":5}`, "@odata.nextLink"},
		{"bad key token", `{1:2}`, "at byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodePage(strings.NewReader(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLimitReader(t *testing.T) {
	body := `{"value":[{"id":"a"}]}`
	if _, err := decodePage(transport.LimitReader(strings.NewReader(body), int64(len(body)))); err != nil {
		t.Errorf("body of exactly the limit: %v", err)
	}
	_, err := decodePage(transport.LimitReader(strings.NewReader(body), int64(len(body)-1)))
	if !errors.Is(err, transport.ErrBodyTooLarge) {
		t.Errorf("err = %v, want ErrBodyTooLarge", err)
	}
}

func FuzzDecodePage(f *testing.F) {
	for _, s := range []string{
		`{"value":[]}`,
		`{"@odata.context":"x","value":[{"id":"a","n":1.5e3,"@odata.etag":"W/\"1\"","x@odata.type":"s"}],"@odata.nextLink":"http://h/x"}`,
		`{"value":[{"a":{"b":[1,{"c":null}]}}],"@odata.count":1}`,
		`{"value":[null]}`,
		`[]`,
		`{"value":[{"id":`,
		`{"value":[]} x`,
		strings.Repeat("[", 20000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePage(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, r := range p.records {
			for k := range r {
				if strings.Contains(k, "@") && k != etagKey {
					t.Fatalf("annotation %q survived", k)
				}
			}
		}
		// Whatever decoded must be valid JSON.
		if !json.Valid(data) {
			t.Fatalf("decoded invalid JSON %q", data)
		}
	})
}
