package fake

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

func TestBatchAtomicityGroups(t *testing.T) {
	s, c := jsonCRMClient(t)
	a, _ := s.Put("accounts", connectors.Record{"name": "a"})
	b, _ := s.Put("accounts", connectors.Record{"name": "b"})
	batch := `{"requests":[
		{"id":"1","atomicityGroup":"g1","method":"PATCH","url":"accounts(` + a + `)","body":{"name":"a2"}},
		{"id":"2","atomicityGroup":"g1","method":"POST","url":"accounts","body":{"name":"rolled back"}},
		{"id":"3","atomicityGroup":"g1","method":"PATCH","url":"accounts(` + b + `)","headers":{"if-match":"W/\"999\""},"body":{"name":"b2"}},
		{"id":"4","atomicityGroup":"g1","method":"DELETE","url":"accounts(` + a + `)"},
		{"id":"5","atomicityGroup":"g2","method":"PATCH","url":"accounts(` + b + `)","body":{"name":"b3"}},
		{"id":"6","dependsOn":["g1"],"method":"PATCH","url":"accounts(` + b + `)","body":{"name":"b4"}}
	]}`
	r := c.do("POST", "/$batch", batch, "Prefer", "odata.continue-on-error")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var res struct {
		Responses []struct {
			ID             string `json:"id"`
			Status         int    `json:"status"`
			AtomicityGroup string `json:"atomicityGroup"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status int
		group  string
	}{{204, "g1"}, {204, "g1"}, {412, "g1"}, {424, "g1"}, {204, "g2"}, {424, ""}}
	if len(res.Responses) != len(want) {
		t.Fatalf("responses %+v", res.Responses)
	}
	for i, w := range want {
		if got := res.Responses[i]; got.Status != w.status || got.AtomicityGroup != w.group {
			t.Errorf("response %d = %+v, want %d in %q", i, got, w.status, w.group)
		}
	}
	if got, _ := s.Get("accounts", a); got["name"] != "a" {
		t.Errorf("g1 was not rolled back: %v", got)
	}
	if got, _ := s.Get("accounts", b); got["name"] != "b3" {
		t.Errorf("g2: %v", got)
	}
	if n := s.Len("accounts"); n != 2 {
		t.Errorf("accounts = %d, want 2: the create of g1 rolled back", n)
	}

	// Without continue-on-error the batch stops after the failed group.
	r = c.do("POST", "/$batch", batch)
	if err := json.Unmarshal(r.body, &res); err != nil || len(res.Responses) != 4 {
		t.Errorf("without continue-on-error: %s", r.body)
	}
}

func TestBatchAtomicityGroupRefusals(t *testing.T) {
	_, c := jsonCRMClient(t)
	for name, body := range map[string]string{
		"not adjacent": `{"requests":[{"id":"1","atomicityGroup":"g","method":"POST","url":"accounts","body":{}},{"id":"2","method":"POST","url":"accounts","body":{}},{"id":"3","atomicityGroup":"g","method":"POST","url":"accounts","body":{}}]}`,
		"a read":       `{"requests":[{"id":"1","atomicityGroup":"g","method":"GET","url":"accounts"}]}`,
	} {
		if r := c.do("POST", "/$batch", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, r.status)
		}
	}
}

func TestAlternateKeys(t *testing.T) {
	s := New(
		EntitySet{Name: "accounts", Key: "accountid", Fields: []string{"accountnumber", "name"}, AlternateKeys: [][]string{{"accountnumber"}}},
		EntitySet{Name: "parts", Key: "id", Types: map[string]string{"region": "Edm.Int32"}, AlternateKeys: [][]string{{"name", "region"}}},
	)
	c := newClient(t, s)
	a, _ := s.Put("accounts", connectors.Record{"accountnumber": "O'B,1", "name": "a"})
	s.Put("accounts", connectors.Record{"accountnumber": "dup", "name": "d1"})
	s.Put("accounts", connectors.Record{"accountnumber": "dup", "name": "d2"})
	s.Put("parts", connectors.Record{"name": "bolt", "region": json.Number("2")})
	tests := []struct {
		method, path string
		status       int
		has          string
	}{
		{"GET", "/accounts(accountnumber='O''B,1')", 200, `"name":"a"`},
		{"GET", "/accounts(accountnumber='O%27%27B%2C1')", 200, `"name":"a"`},
		{"GET", "/accounts(accountid=" + a + ")", 200, `"name":"a"`},
		{"GET", "/accounts(accountnumber='none')", 404, ""},
		{"GET", "/accounts(accountnumber='dup')", 409, ""},
		{"GET", "/accounts(name='a')", 400, "not a key"},
		{"GET", "/accounts(accountnumber='x)", 400, ""},
		{"GET", "/parts(region=2,name='bolt')", 200, `"name":"bolt"`},
		{"GET", "/parts(name='bolt',region='2')", 404, ""}, // a string is not the number 2
		{"GET", "/parts(name='bolt',region=3)", 404, ""},
		{"GET", "/parts(name='bolt')", 400, ""},
		{"PATCH", "/accounts(accountnumber='O''B,1')", 200, `"name":"patched"`},
		{"DELETE", "/accounts(accountnumber='O''B,1')", 204, ""},
		{"GET", "/accounts(" + a + ")", 404, ""},
	}
	for _, tt := range tests {
		body := ""
		var hdr []string
		if tt.method == "PATCH" {
			body, hdr = `{"name":"patched"}`, []string{"Prefer", "return=representation"}
		}
		r := c.do(tt.method, tt.path, body, hdr...)
		if r.status != tt.status || !strings.Contains(string(r.body), tt.has) {
			t.Errorf("%s %s = %d %s, want %d with %q", tt.method, tt.path, r.status, r.body, tt.status, tt.has)
		}
	}
}
