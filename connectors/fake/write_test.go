package fake

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

func crmClient(t *testing.T) (*Server, *testClient) {
	t.Helper()
	s := NewCRM()
	s.SetClock(stepClock(time.Second))
	return s, newClient(t, s)
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		prefer     string
		wantStatus int
		wantKey    string // "" when generated
	}{
		{"204 with generated key", `{"name":"Contoso"}`, "", http.StatusNoContent, ""},
		{"201 with representation", `{"name":"Contoso"}`, "return=representation", http.StatusCreated, ""},
		{"return=minimal", `{"name":"Contoso"}`, "return=minimal", http.StatusNoContent, ""},
		{"client key kept, lower-cased", `{"accountid":"6F9619FF-8B86-D011-B42D-00C04FC964FF","name":"x"}`, "", http.StatusNoContent, "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
		{"null key generates", `{"accountid":null,"name":"x"}`, "", http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := crmClient(t)
			var hdr []string
			if tt.prefer != "" {
				hdr = []string{"Prefer", tt.prefer}
			}
			r := c.do("POST", "/accounts", tt.body, hdr...)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			loc := r.header.Get("OData-EntityId")
			if !strings.HasPrefix(loc, c.base+"/accounts(") || !strings.HasSuffix(loc, ")") || r.header.Get("Location") != loc {
				t.Fatalf("OData-EntityId = %q, Location = %q", loc, r.header.Get("Location"))
			}
			key := strings.TrimSuffix(strings.TrimPrefix(loc, c.base+"/accounts("), ")")
			if !isGUID(key) || (tt.wantKey != "" && key != tt.wantKey) {
				t.Errorf("key = %q, want %q", key, tt.wantKey)
			}
			tag, _ := s.ETag("accounts", key)
			if r.header.Get("ETag") != tag || tag == "" {
				t.Errorf("ETag header = %q, stored %q", r.header.Get("ETag"), tag)
			}
			if tt.wantStatus == http.StatusCreated {
				rec := r.json(t)
				if rec["accountid"] != key || rec["name"] != "Contoso" || rec["@odata.etag"] != tag || rec["modifiedon"] != "2024-05-01T10:00:00Z" {
					t.Errorf("representation = %v", rec)
				}
				if !strings.HasSuffix(rec["@odata.context"].(string), "/$metadata#accounts/$entity") {
					t.Errorf("@odata.context = %v", rec["@odata.context"])
				}
			} else if len(r.body) != 0 {
				t.Errorf("204 with a body: %s", r.body)
			}
			if got := c.do("GET", "/accounts("+key+")", ""); got.status != http.StatusOK || got.header.Get("ETag") != tag {
				t.Errorf("GET created: %d, ETag %q", got.status, got.header.Get("ETag"))
			}
		})
	}
}

func TestCreateIgnoresServerFieldsAndAnnotations(t *testing.T) {
	s, c := crmClient(t)
	r := c.do("POST", "/accounts", `{"name":"x","modifiedon":"1999-01-01T00:00:00Z","@odata.type":"#Microsoft.Dynamics.CRM.account","name@OData.Community.Display.V1.FormattedValue":"X","address":{ "city" : "Seattle" },"tags":[1, 2.50]}`,
		"Prefer", "return=representation")
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	rec := r.json(t)
	if rec["modifiedon"] != "2024-05-01T10:00:00Z" {
		t.Errorf("client-sent modifiedon was stored: %v", rec["modifiedon"])
	}
	for k := range rec {
		if strings.Contains(k, "@") && k != "@odata.etag" && k != "@odata.context" {
			t.Errorf("annotation %q stored", k)
		}
	}
	if !strings.Contains(string(r.body), `"address":{"city":"Seattle"},"tags":[1,2.50]`) {
		t.Errorf("nested values not kept compactly and exactly: %s", r.body)
	}
	if s.Len("accounts") != 1 {
		t.Error("record not stored")
	}
}

func TestCreateDuplicateKey(t *testing.T) {
	_, c := crmClient(t)
	body := `{"accountid":"6f9619ff-8b86-d011-b42d-00c04fc964ff"}`
	if r := c.do("POST", "/accounts", body); r.status != http.StatusNoContent {
		t.Fatalf("first create: %d", r.status)
	}
	r := c.do("POST", "/accounts", body)
	if r.status != http.StatusConflict || r.errorCode(t) != codeConflict {
		t.Errorf("duplicate create: %d %s", r.status, r.body)
	}
}

func TestODataBind(t *testing.T) {
	tests := []struct {
		bind string
		want any
	}{
		{`"/systemusers(00000000-0000-0000-0000-0000000000AA)"`, "00000000-0000-0000-0000-0000000000aa"},
		{`"systemusers(00000000-0000-0000-0000-0000000000aa)"`, "00000000-0000-0000-0000-0000000000aa"},
		{`"https://org.crm.dynamics.com/api/data/v9.2/systemusers(00000000-0000-0000-0000-0000000000aa)"`, "00000000-0000-0000-0000-0000000000aa"},
		{`"/teams(teamid=00000000-0000-0000-0000-0000000000bb)"`, "00000000-0000-0000-0000-0000000000bb"},
		{`"/codes('A/B')"`, "A/B"},
		{`null`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.bind, func(t *testing.T) {
			s, c := crmClient(t)
			// The bound user exists: the Web API refuses a binding to a
			// record that does not (TestMultiTableLookupBinding).
			if _, err := s.Put("systemusers", connectors.Record{"systemuserid": "00000000-0000-0000-0000-0000000000aa", "fullname": "A"}); err != nil {
				t.Fatal(err)
			}
			r := c.do("POST", "/accounts", `{"name":"x","ownerid@odata.bind":`+tt.bind+`}`, "Prefer", "return=representation")
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			rec := r.json(t)
			if got, ok := rec["_ownerid_value"]; !ok || got != tt.want {
				t.Errorf("_ownerid_value = %v (present %v), want %v", got, ok, tt.want)
			}
			if _, ok := rec["ownerid@odata.bind"]; ok {
				t.Error("the bind annotation itself was stored")
			}
			got, _ := s.Get("accounts", rec["accountid"].(string))
			if got["_ownerid_value"] != tt.want {
				t.Errorf("stored _ownerid_value = %v", got["_ownerid_value"])
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	const key = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	tests := []struct {
		name       string
		ifMatch    string // "current" is replaced by the current ETag
		prefer     string
		body       string
		wantStatus int
	}{
		{"no If-Match", "", "", `{"name":"new"}`, http.StatusNoContent},
		{"current ETag", "current", "", `{"name":"new"}`, http.StatusNoContent},
		{"current ETag, strong form", "strong", "", `{"name":"new"}`, http.StatusNoContent},
		{"star", "*", "", `{"name":"new"}`, http.StatusNoContent},
		{"one of a list", `W/"999", current`, "", `{"name":"new"}`, http.StatusNoContent},
		{"stale ETag", `W/"1"`, "", `{"name":"new"}`, http.StatusPreconditionFailed},
		{"representation", "current", "return=representation", `{"name":"new"}`, http.StatusOK},
		{"same key in body", "", "", `{"accountid":"` + strings.ToUpper(key) + `","name":"new"}`, http.StatusNoContent},
		{"changed key", "", "", `{"accountid":"00000000-0000-0000-0000-000000000000","name":"new"}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := crmClient(t)
			if r := c.do("POST", "/accounts", `{"accountid":"`+key+`","name":"old","city":"Seattle"}`); r.status != http.StatusNoContent {
				t.Fatal(r.status)
			}
			_ = s.Patch("accounts", key, nil) // an outside edit: the ETag moves past W/"1"
			before, _ := s.ETag("accounts", key)
			ifMatch := strings.ReplaceAll(tt.ifMatch, "current", before)
			if tt.ifMatch == "strong" {
				ifMatch = strings.TrimPrefix(before, "W/")
			}
			var hdr []string
			if ifMatch != "" {
				hdr = append(hdr, "If-Match", ifMatch)
			}
			if tt.prefer != "" {
				hdr = append(hdr, "Prefer", tt.prefer)
			}
			r := c.do("PATCH", "/accounts("+key+")", tt.body, hdr...)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			after, _ := s.ETag("accounts", key)
			rec, _ := s.Get("accounts", key)
			if r.status >= 400 {
				if after != before || rec["name"] != "old" {
					t.Errorf("failed PATCH changed the record: %v %v", after, rec)
				}
				if r.status == http.StatusPreconditionFailed && r.errorCode(t) != codePreconditionFailed {
					t.Errorf("code = %q", r.errorCode(t))
				}
				return
			}
			if after == before || r.header.Get("ETag") != after {
				t.Errorf("ETag before %q, after %q, header %q", before, after, r.header.Get("ETag"))
			}
			if rec["name"] != "new" || rec["city"] != "Seattle" {
				t.Errorf("PATCH did not merge: %v", rec)
			}
			if rec["modifiedon"] != "2024-05-01T10:00:02Z" {
				t.Errorf("modifiedon = %v, want the third stamp", rec["modifiedon"])
			}
			if tt.wantStatus == http.StatusOK && r.json(t)["name"] != "new" {
				t.Errorf("representation = %s", r.body)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	s, c := crmClient(t)
	const key = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	c.do("POST", "/accounts", `{"accountid":"`+key+`"}`)
	if r := c.do("DELETE", "/accounts("+key+")", "", "If-Match", `W/"999"`); r.status != http.StatusPreconditionFailed {
		t.Errorf("stale delete: %d", r.status)
	}
	tag, _ := s.ETag("accounts", key)
	if r := c.do("DELETE", "/accounts("+strings.ToUpper(key)+")", "", "If-Match", tag); r.status != http.StatusNoContent {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if s.Len("accounts") != 0 {
		t.Error("record still there")
	}
	if r := c.do("DELETE", "/accounts("+key+")", ""); r.status != http.StatusNotFound || r.errorCode(t) != codeNotFound {
		t.Errorf("second delete: %d %s", r.status, r.body)
	}
	// A record re-created under the same key gets a new ETag, so a
	// conditional write holding the old one cannot hit the new record.
	c.do("POST", "/accounts", `{"accountid":"`+key+`"}`)
	if again, _ := s.ETag("accounts", key); again == tag {
		t.Errorf("re-created record reused ETag %s", tag)
	}
}

func TestStringKeys(t *testing.T) {
	s := New(EntitySet{Name: "codes", Key: "code"})
	c := newClient(t, s)
	if r := c.do("POST", "/codes", `{"code":"O'Brien & co/1","x":1}`); r.status != http.StatusNoContent {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	loc := c.do("POST", "/codes", `{"code":"plain"}`).header.Get("OData-EntityId")
	if loc != c.base+"/codes('plain')" {
		t.Errorf("OData-EntityId = %q", loc)
	}
	for _, path := range []string{"/codes('O''Brien%20%26%20co%2F1')", "/codes(code='O''Brien%20%26%20co%2F1')"} {
		r := c.do("GET", path, "")
		if r.status != http.StatusOK || r.json(t)["code"] != "O'Brien & co/1" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
}

func TestERPRequiresIfMatch(t *testing.T) {
	_, c := seeded(t, 1)
	id := Customer(0)["id"].(string)
	tests := []struct {
		ifMatch string
		status  int
	}{
		{"", http.StatusPreconditionRequired},
		{"*", http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run("If-Match "+tt.ifMatch, func(t *testing.T) {
			var hdr []string
			if tt.ifMatch != "" {
				hdr = []string{"If-Match", tt.ifMatch}
			}
			r := c.do("PATCH", "/customers("+id+")", `{"city":"Oslo"}`, hdr...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status >= 400 && r.errorCode(t) != codePreconditionRequired {
				t.Errorf("code = %q", r.errorCode(t))
			}
		})
	}
}

// TestCreateSetsActiveState: a Dataverse record created without a state is
// Active, statecode 0 with its default status reason 1, and one created
// with a state keeps it.
func TestCreateSetsActiveState(t *testing.T) {
	tests := []struct {
		name, body    string
		state, status any
	}{
		{"no state given", `{"name":"Contoso"}`, "0", "1"},
		{"state given", `{"name":"Contoso","statecode":1,"statuscode":2}`, "1", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := crmClient(t)
			r := c.do("POST", "/accounts", tt.body, "Prefer", "return=representation")
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			rec := r.json(t)
			if fmt.Sprint(rec["statecode"]) != tt.state || fmt.Sprint(rec["statuscode"]) != tt.status {
				t.Errorf("statecode %v, statuscode %v; want %v, %v", rec["statecode"], rec["statuscode"], tt.state, tt.status)
			}
		})
	}
	// Business Central has no state columns: nothing is added there.
	s := NewERP()
	c := newClient(t, s)
	r := c.do("POST", "/companies("+BCCompanyID+")/customers", `{"displayName":"x"}`, "Prefer", "return=representation")
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if _, ok := r.json(t)["statecode"]; ok {
		t.Error("a Business Central customer got a statecode")
	}
}

// TestWriteWithDataReturnedSelects: a create or update with
// return=representation answers with the columns its $select names, the
// key and ETag always ("Create with data returned", "Update with data
// returned"); a property the set lacks is refused before anything is
// written, as Dataverse refuses it.
func TestWriteWithDataReturnedSelects(t *testing.T) {
	s, c := crmClient(t)
	prefer := []string{"Prefer", "return=representation"}
	r := c.do("POST", "/accounts?$select=name,modifiedon", `{"name":"Contoso","telephone1":"555"}`, prefer...)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	rec := r.json(t)
	key, _ := rec["accountid"].(string)
	if len(rec) != 5 || key == "" || rec["name"] != "Contoso" || rec["modifiedon"] == nil || rec["@odata.etag"] == nil ||
		!strings.HasSuffix(rec["@odata.context"].(string), "/$metadata#accounts(accountid,name,modifiedon)/$entity") {
		t.Errorf("created record answered as %v; want its key, name, modifiedon, ETag and context alone", rec)
	}
	r = c.do("PATCH", "/accounts("+key+")?$select=telephone1", `{"name":"Fabrikam"}`, append(prefer, "If-Match", "*")...)
	if rec := r.json(t); r.status != http.StatusOK || len(rec) != 4 || rec["telephone1"] != "555" || rec["accountid"] != key {
		t.Errorf("update: %d, answered as %v; want its key, telephone1, ETag and context alone", r.status, rec)
	}
	before := s.Len("accounts")
	for _, w := range []struct{ method, path string }{{"POST", "/accounts?$select=nosuchfield"}, {"PATCH", "/accounts(" + key + ")?$select=name,nosuchfield"}} {
		r := c.do(w.method, w.path, `{"name":"Litware"}`, append(prefer, "If-Match", "*")...)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "Could not find a property named 'nosuchfield'") {
			t.Errorf("%s %s: %d %s; want 400, the property named", w.method, w.path, r.status, r.body)
		}
	}
	if got, _ := s.Get("accounts", key); s.Len("accounts") != before || got["name"] != "Fabrikam" {
		t.Errorf("a refused write changed the set: %d accounts (was %d), name %v", s.Len("accounts"), before, got["name"])
	}
}
