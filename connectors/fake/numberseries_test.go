package fake

import (
	"net/http"
	"strings"
	"testing"
)

// TestNumberSeries checks that the ERP numbers customers and vendors
// created without a number, as Business Central's number series do, after
// the highest number held, and keeps a number the client sends.
func TestNumberSeries(t *testing.T) {
	s, c := seeded(t, 3) // C00010, C00020, C00030
	prefer := []string{"Prefer", "return=representation"}
	tests := []struct {
		name, set, body, want string
	}{
		{"absent", "/customers", `{"displayName":"a"}`, "C00040"},
		{"null", "/customers", `{"displayName":"b","number":null}`, "C00050"},
		{"blank", "/customers", `{"displayName":"c","number":""}`, "C00060"},
		{"given", "/customers", `{"displayName":"d","number":"C00100"}`, "C00100"},
		{"after the highest given", "/customers", `{"displayName":"e"}`, "C00110"},
		{"another pattern is kept", "/customers", `{"displayName":"f","number":"WEB-1"}`, "WEB-1"},
		{"vendors have their own", "/vendors", `{"displayName":"g"}`, "V00010"},
	}
	for _, tt := range tests {
		r := c.do("POST", tt.set, tt.body, prefer...)
		if r.status != http.StatusCreated {
			t.Fatalf("%s: status %d: %s", tt.name, r.status, r.body)
		}
		rec := r.json(t)
		if rec["number"] != tt.want {
			t.Errorf("%s: number = %v, want %s", tt.name, rec["number"], tt.want)
		}
		if stored, _ := s.Get(tt.set[1:], rec["id"].(string)); stored["number"] != tt.want {
			t.Errorf("%s: stored number = %v, want %s", tt.name, stored["number"], tt.want)
		}
	}
	// Seeding and PATCH set numbers as given, and the series passes them.
	if _, err := s.Put("customers", map[string]any{"number": "C00500", "displayName": "seeded"}); err != nil {
		t.Fatal(err)
	}
	if r := c.do("POST", "/customers", `{"displayName":"h"}`, prefer...); r.json(t)["number"] != "C00510" {
		t.Errorf("after a seeded C00500: number = %v, want C00510", r.json(t)["number"])
	}
	// The CRM has no number series: an account stays without a number.
	_, cc := crmClient(t)
	r := cc.do("POST", "/accounts", `{"name":"x"}`, prefer...)
	if got := r.json(t)["accountnumber"]; got != nil {
		t.Errorf("account number = %v, want none", got)
	}
}

// TestNumberTaken checks that the ERP refuses a create or an update that
// gives a record a number another record holds, as Business Central
// refuses to insert or rename a record to a primary key in use, and that
// a refused write changes nothing.
func TestNumberTaken(t *testing.T) {
	s, c := seeded(t, 3) // C00010, C00020, C00030
	prefer := []string{"Prefer", "return=representation"}
	second := c.do("GET", "/customers?$filter=number%20eq%20'C00020'", "").json(t)["value"].([]any)[0].(map[string]any)
	for _, tt := range []struct {
		name, method, path, body string
	}{
		{"create", "POST", "/customers", `{"displayName":"dup","number":"C00010"}`},
		{"update", "PATCH", "/customers(" + second["id"].(string) + ")", `{"number":"C00010"}`},
	} {
		r := c.do(tt.method, tt.path, tt.body, append(prefer, "If-Match", "*")...)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "already exists") || !strings.Contains(string(r.body), "C00010") {
			t.Errorf("%s with a number in use: status %d, %s; want 400 naming the number", tt.name, r.status, r.body)
		}
	}
	if got, _ := s.Get("customers", second["id"].(string)); got["number"] != "C00020" {
		t.Errorf("the refused update changed the number to %v", got["number"])
	}
	// A number freed by a change or a delete can be taken again; a record
	// may be written with its own number.
	for _, tt := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"keep own number", "PATCH", "/customers(" + second["id"].(string) + ")", `{"number":"C00020","displayName":"same"}`, http.StatusOK},
		{"renumber", "PATCH", "/customers(" + second["id"].(string) + ")", `{"number":"C00025"}`, http.StatusOK},
		{"take the freed number", "POST", "/customers", `{"displayName":"new","number":"C00020"}`, http.StatusCreated},
	} {
		if r := c.do(tt.method, tt.path, tt.body, append(prefer, "If-Match", "*")...); r.status != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.want, r.body)
		}
	}
}
