package fake

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

func TestPutGetPatchDelete(t *testing.T) {
	s := NewCRM()
	s.SetClock(stepClock(1500 * time.Millisecond))
	key, err := s.Put("accounts", connectors.Record{
		"name":        "Contoso <&>",
		"creditlimit": json.Number("5000.50"),
		"count":       7,
		"active":      true,
		"notes":       nil,
		"modifiedon":  "1999-01-01T00:00:00Z", // server-owned: ignored
		"address":     map[string]any{"city": "Seattle", "zip": json.Number("98101")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !isGUID(key) {
		t.Fatalf("generated key %q is not a GUID", key)
	}
	want := connectors.Record{
		"accountid":   key,
		"name":        "Contoso <&>",
		"creditlimit": json.Number("5000.50"),
		"count":       json.Number("7"),
		"active":      true,
		"notes":       nil,
		"modifiedon":  "2024-05-01T10:00:00Z",
		"address":     map[string]any{"city": "Seattle", "zip": json.Number("98101")},
	}
	got, ok := s.Get("accounts", key)
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Get = %v, want %v", got, want)
	}
	got["name"] = "mutated" // a copy
	if again, _ := s.Get("accounts", key); again["name"] != "Contoso <&>" {
		t.Error("Get returned shared state")
	}

	tag1, _ := s.ETag("accounts", key)
	if err := s.Patch("accounts", key, connectors.Record{"name": "Fabrikam", "city": "Oslo"}); err != nil {
		t.Fatal(err)
	}
	tag2, _ := s.ETag("accounts", key)
	got, _ = s.Get("accounts", key)
	// Stamps: 10:00:00, then 10:00:01.5 truncated to the second.
	if got["name"] != "Fabrikam" || got["city"] != "Oslo" || got["creditlimit"] != json.Number("5000.50") || got["modifiedon"] != "2024-05-01T10:00:01Z" {
		t.Errorf("after Patch: %v", got)
	}
	if tag1 == tag2 {
		t.Error("Patch did not change the ETag")
	}

	// Put replaces the whole record.
	if _, err := s.Put("accounts", connectors.Record{"accountid": key, "name": "Only"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get("accounts", key)
	if len(got) != 3 || got["name"] != "Only" {
		t.Errorf("after Put: %v", got)
	}

	if err := s.Delete("accounts", key); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("accounts", key); ok || s.Len("accounts") != 0 {
		t.Error("record survived Delete")
	}
}

func TestStoreErrors(t *testing.T) {
	s := NewCRM()
	const missing = "00000000-0000-0000-0000-000000000000"
	tests := []struct {
		name     string
		err      error
		notFound bool
	}{
		{"patch missing", s.Patch("accounts", missing, connectors.Record{"a": 1}), true},
		{"delete missing", s.Delete("accounts", missing), true},
		{"unknown set", s.Delete("nope", missing), false},
		{"bad number", func() error {
			_, err := s.Put("accounts", connectors.Record{"n": json.Number("1,5")})
			return err
		}(), false},
		{"non-string key", func() error {
			_, err := s.Put("accounts", connectors.Record{"accountid": 5})
			return err
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error")
			}
			if errors.Is(tt.err, connectors.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v", tt.err, !tt.notFound)
			}
		})
	}
	if _, ok := s.Get("nope", missing); ok {
		t.Error("Get on unknown set")
	}
	if s.All("nope") != nil || s.Len("nope") != 0 {
		t.Error("unknown set is not empty")
	}
}

func TestAllSortedByKey(t *testing.T) {
	s := New(EntitySet{Name: "items", Key: "no"})
	for _, k := range []string{"c", "a", "b"} {
		if _, err := s.Put("items", connectors.Record{"no": k}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for _, r := range s.All("items") {
		keys = append(keys, r["no"].(string))
	}
	if !reflect.DeepEqual(keys, []string{"a", "b", "c"}) {
		t.Errorf("All keys = %v", keys)
	}
}

func TestModifiedPrecision(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		precision time.Duration
		want      string
	}{
		{time.Second, "2024-05-01T08:00:00Z"},
		{time.Millisecond, "2024-05-01T08:00:00.123Z"},
		{0, "2024-05-01T08:00:00.123Z"},
		{10 * time.Millisecond, "2024-05-01T08:00:00.12Z"},
		{time.Microsecond, "2024-05-01T08:00:00.123456Z"},
		{time.Nanosecond, "2024-05-01T08:00:00.123456789Z"},
		{time.Minute, "2024-05-01T08:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.precision.String(), func(t *testing.T) {
			s := New(EntitySet{Name: "x", Key: "id", Modified: "m", ModifiedPrecision: tt.precision})
			s.SetClock(func() time.Time { return at })
			key, err := s.Put("x", connectors.Record{})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Get("x", key); got["m"] != tt.want {
				t.Errorf("m = %v, want %s", got["m"], tt.want)
			}
		})
	}
}

func TestFieldOrder(t *testing.T) {
	s := NewERP()
	if err := SeedCustomers(s, 1); err != nil {
		t.Fatal(err)
	}
	c := newBCClient(t, s)
	body := string(c.do("GET", "/customers", "").body)
	var last int
	for _, f := range customerFields {
		i := strings.Index(body, `"`+f+`":`)
		if i < last {
			t.Errorf("field %s out of BC order in %s", f, body)
		}
		last = i
	}
}
