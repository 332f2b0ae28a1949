package odata

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

// bindingClient is a client of s that binds lookups, as Dataverse wants.
func bindingClient(t *testing.T, s *fake.Server) *Client {
	t.Helper()
	return fakeClientCfg(t, s, func(c *connectors.Config) { settingsIn(c).Lookups = LookupsBind })
}

// TestPolymorphicReferenceRoundTrip: a Reference to an account written to
// a contact's parentcustomerid, a multi-table lookup, is bound through
// parentcustomerid_account (the strict fake refuses parentcustomerid), and
// read back as _parentcustomerid_value pointing into accounts; one to a
// contact through parentcustomerid_contact, pointing into contacts.
func TestPolymorphicReferenceRoundTrip(t *testing.T) {
	s := fake.NewCRM()
	acc, err := s.Put("accounts", connectors.Record{"name": "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	boss, err := s.Put("contacts", connectors.Record{"lastname": "Boss"})
	if err != nil {
		t.Fatal(err)
	}
	c := bindingClient(t, s)
	contacts := connectors.Entity{Name: "contacts", Key: "contactid", Modified: "modifiedon"}
	tests := []struct {
		name   string
		ref    connectors.Reference
		target string
	}{
		{"parent account", connectors.Reference{Entity: "accounts", Key: acc}, "accounts"},
		{"parent contact", connectors.Reference{Entity: "contacts", Key: boss}, "contacts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Write(t.Context(), contacts, []connectors.WriteOp{{Op: connectors.OpCreate,
				Fields: connectors.Record{"lastname": "Smith", "parentcustomerid": tt.ref}}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("create: %v %v", err, res[0].Err)
			}
			field := c.LookupField("contacts", "parentcustomerid")
			if field != "_parentcustomerid_value" {
				t.Fatalf("LookupField = %q", field)
			}
			recs, err := c.Get(t.Context(), contacts, []string{field}, []string{res[0].Key})
			if err != nil || len(recs) != 1 {
				t.Fatalf("get: %v %v", recs, err)
			}
			if recs[0][field] != tt.ref.Key {
				t.Errorf("%s = %v, want %s", field, recs[0][field], tt.ref.Key)
			}
			target, err := c.LookupTarget(t.Context(), "contacts", "parentcustomerid", recs[0])
			if err != nil || target != tt.target {
				t.Errorf("LookupTarget = %q, %v; want %s", target, err, tt.target)
			}
			// Cleared with the target's navigation property set to null.
			res, err = c.Write(t.Context(), contacts, []connectors.WriteOp{{Op: connectors.OpUpdate, Key: res[0].Key,
				Fields: connectors.Record{"parentcustomerid": connectors.Reference{Entity: tt.ref.Entity}}}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("clear: %v %v", err, res[0].Err)
			}
			if got, _ := s.Get("contacts", res[0].Key); got["_parentcustomerid_value"] != nil {
				t.Errorf("after clearing, _parentcustomerid_value = %v", got["_parentcustomerid_value"])
			}
		})
	}
}

// TestReferenceToATargetTheLookupDoesNotTake: a Reference to a set the
// multi-table lookup does not point to fails the write before it is sent,
// naming the targets $metadata lists.
func TestReferenceToATargetTheLookupDoesNotTake(t *testing.T) {
	s := fake.NewCRM()
	c := bindingClient(t, s)
	res, err := c.Write(t.Context(), connectors.Entity{Name: "contacts", Key: "contactid"}, []connectors.WriteOp{{Op: connectors.OpCreate,
		Fields: connectors.Record{"parentcustomerid": connectors.Reference{Entity: "systemusers", Key: "00000000-0000-0000-0000-000000000001"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "accounts or contacts, not to systemusers") {
		t.Errorf("err = %v, want the lookup's targets named", res[0].Err)
	}
	if s.Len("contacts") != 0 {
		t.Error("the write was sent")
	}
}

// TestReferenceEncoding: how a Reference goes on the wire, per lookup and
// connector setting.
func TestReferenceEncoding(t *testing.T) {
	s := fake.NewCRM()
	const id = "00000000-0000-0000-0000-0000000000aa"
	tests := []struct {
		name   string
		bind   bool
		entity string
		field  string
		ref    connectors.Reference
		want   connectors.Record
	}{
		{"single-valued", true, "accounts", "ownerid", connectors.Reference{Entity: "systemusers", Key: id},
			connectors.Record{"ownerid@odata.bind": "/systemusers(" + id + ")"}},
		{"multi-table", true, "salesorders", "customerid", connectors.Reference{Entity: "accounts", Key: id},
			connectors.Record{"customerid_account@odata.bind": "/accounts(" + id + ")"}},
		{"cleared", true, "invoices", "customerid", connectors.Reference{Entity: "contacts"},
			connectors.Record{"customerid_contact@odata.bind": nil}},
		{"not binding: the key", false, "accounts", "ownerid", connectors.Reference{Entity: "systemusers", Key: id},
			connectors.Record{"ownerid": id}},
		{"by an alternate key", true, "contacts", "parentcustomerid", connectors.Reference{Entity: "accounts", Key: "A-1"},
			connectors.Record{"parentcustomerid_account@odata.bind": "/accounts(accountnumber='A-1')"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeClientCfg(t, s, func(c *connectors.Config) {
				if tt.bind {
					settingsIn(c).Lookups = LookupsBind
				}
				settingsIn(c).AlternateKeys = map[string]AlternateKey{"accounts": {Fields: []string{"accountnumber"}}}
			})
			wr, err := c.encodeWrite(t.Context(), c.keyer(connectors.Entity{Name: tt.entity}), connectors.Entity{Name: tt.entity},
				connectors.WriteOp{Op: connectors.OpCreate, Fields: connectors.Record{tt.field: tt.ref}})
			if err != nil {
				t.Fatal(err)
			}
			var got connectors.Record
			if err := json.Unmarshal(wr.body, &got); err != nil {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestReadsAskForLookupTargets: a connector that binds lookups asks for
// the lookuplogicalname annotation, which Dataverse sends only when asked;
// one that does not, does not.
func TestReadsAskForLookupTargets(t *testing.T) {
	for _, bind := range []bool{true, false} {
		var prefer string
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			prefer = r.Header.Get("Prefer")
			writeJSON(w, http.StatusOK, collection(nil, ""))
		}), func(c *connectors.Config) {
			c.PageSize = 10
			if bind {
				settingsIn(c).Lookups = LookupsBind
			}
		})
		if err := c.Read(t.Context(), connectors.Query{Entity: connectors.Entity{Name: "contacts"}}, func(connectors.Page) error { return nil }); err != nil {
			t.Fatal(err)
		}
		asked := strings.Contains(prefer, `odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"`)
		if asked != bind || !strings.Contains(prefer, "odata.maxpagesize=10") {
			t.Errorf("bind %v: Prefer = %q", bind, prefer)
		}
	}
}

// TestReadBack: what a written field is read back as.
func TestReadBack(t *testing.T) {
	c := fakeClientCfg(t, fake.NewCRM(), func(c *connectors.Config) {
		settingsIn(c).Lookups = LookupsBind
		settingsIn(c).AlternateKeys = map[string]AlternateKey{"accounts": {Fields: []string{"accountnumber"}}}
	})
	const id = "00000000-0000-0000-0000-0000000000aa"
	tests := []struct {
		name, field string
		v           any
		wantName    string
		wantValue   any
		wantOK      bool
	}{
		{"plain", "name", "Acme", "name", "Acme", true},
		{"reference", "parentcustomerid", connectors.Reference{Entity: "contacts", Key: id}, "_parentcustomerid_value", id, true},
		{"cleared", "parentcustomerid", connectors.Reference{Entity: "contacts"}, "_parentcustomerid_value", nil, true},
		{"by an alternate key", "parentcustomerid", connectors.Reference{Entity: "accounts", Key: "A-1"}, "", nil, false},
		{"an older coupler's binding", "ownerid@odata.bind", "/systemusers(" + id + ")", "_ownerid_value", id, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, value, ok := c.ReadBack("contacts", tt.field, tt.v)
			if name != tt.wantName || value != tt.wantValue || ok != tt.wantOK {
				t.Errorf("ReadBack = %q, %v, %v; want %q, %v, %v", name, value, ok, tt.wantName, tt.wantValue, tt.wantOK)
			}
		})
	}
}

// TestNoMetadataBindsTheLookupAsNamed: a service without $metadata gets
// the lookup bound under its own name, once asked: the failed fetch is
// not repeated for every write.
func TestNoMetadataBindsTheLookupAsNamed(t *testing.T) {
	var metadata int
	var bodies []string
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "$metadata") {
			metadata++
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		w.Header().Set("OData-EntityId", "http://x/svc/contacts(00000000-0000-0000-0000-000000000001)")
		w.WriteHeader(http.StatusNoContent)
	}), func(c *connectors.Config) { settingsIn(c).Lookups = LookupsBind; c.MaxRetries = 0 })
	ref := connectors.Reference{Entity: "accounts", Key: "00000000-0000-0000-0000-0000000000aa"}
	for range 2 {
		res, err := c.Write(t.Context(), connectors.Entity{Name: "contacts", Key: "contactid"},
			[]connectors.WriteOp{{Op: connectors.OpCreate, Fields: connectors.Record{"parentcustomerid": ref}}})
		if err != nil || res[0].Err != nil {
			t.Fatal(errors.Join(err, res[0].Err))
		}
	}
	if metadata != 1 {
		t.Errorf("$metadata asked for %d times, want 1", metadata)
	}
	for _, b := range bodies {
		if !strings.Contains(b, `"parentcustomerid@odata.bind":"/accounts(00000000-0000-0000-0000-0000000000aa)"`) {
			t.Errorf("body %s", b)
		}
	}
}
