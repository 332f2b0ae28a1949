package fake

import (
	"net/http"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestMultiTableLookupBinding: the CRM's Customer lookups take only their
// per-target navigation properties, as Dataverse's multi-table lookups do.
func TestMultiTableLookupBinding(t *testing.T) {
	s, c := crmClient(t)
	acc, err := s.Put("accounts", connectors.Record{"name": "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	boss, err := s.Put("contacts", connectors.Record{"lastname": "Boss"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := s.Put("systemusers", connectors.Record{"fullname": "Ann Hill"})
	if err != nil {
		t.Fatal(err)
	}
	const missing = "00000000-0000-0000-0000-0000000000aa"
	tests := []struct {
		name, set, body string
		status          int
		want            any    // _x_value stored
		logical         string // its annotation, when asked for
	}{
		{"unsuffixed, refused", "contacts", `{"parentcustomerid@odata.bind":"/accounts(` + acc + `)"}`, 400, nil, ""},
		{"to an account", "contacts", `{"parentcustomerid_account@odata.bind":"/accounts(` + acc + `)"}`, 201, acc, "account"},
		{"to a contact", "contacts", `{"parentcustomerid_contact@odata.bind":"/contacts(` + boss + `)"}`, 201, boss, "contact"},
		{"navigation of another table", "contacts", `{"parentcustomerid_account@odata.bind":"/contacts(` + boss + `)"}`, 400, nil, ""},
		{"order's customer, unsuffixed", "salesorders", `{"customerid@odata.bind":"/accounts(` + acc + `)"}`, 400, nil, ""},
		{"order's customer", "salesorders", `{"customerid_account@odata.bind":"/accounts(` + acc + `)"}`, 201, acc, "account"},
		{"invoice's customer", "invoices", `{"customerid_contact@odata.bind":"/contacts(` + boss + `)"}`, 201, boss, "contact"},
		{"opportunity's customer, unsuffixed", "opportunities", `{"customerid@odata.bind":"/accounts(` + acc + `)"}`, 400, nil, ""},
		{"single-valued", "contacts", `{"ownerid@odata.bind":"/systemusers(` + user + `)"}`, 201, nil, ""},
		// Dataverse answers a binding to a record that does not exist
		// with 404, "account With Id = … Does Not Exist" (0x80040217).
		{"to a missing account", "contacts", `{"parentcustomerid_account@odata.bind":"/accounts(` + missing + `)"}`, 404, nil, ""},
		{"single-valued, to a missing user", "contacts", `{"ownerid@odata.bind":"/systemusers(` + acc + `)"}`, 404, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("POST", "/"+tt.set, tt.body, "Prefer", "return=representation")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != http.StatusCreated {
				want := codeBadRequest
				if tt.status == http.StatusNotFound {
					want = codeObjectDoesNotExist
				}
				if r.errorCode(t) != want {
					t.Errorf("error code %q, want %q: %s", r.errorCode(t), want, r.body)
				}
				return
			}
			rec := r.json(t)
			lookup := "_customerid_value"
			if tt.set == "contacts" {
				lookup = "_parentcustomerid_value"
			}
			if tt.want != nil && rec[lookup] != tt.want {
				t.Errorf("%s = %v, want %v", lookup, rec[lookup], tt.want)
			}
			for k := range rec {
				if strings.Contains(k, "lookuplogicalname") {
					t.Errorf("%s sent without being asked for", k)
				}
			}
			if tt.logical == "" {
				return
			}
			key := rec[s.tables[tt.set].def.Key].(string)
			for _, prefer := range []string{`odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"`, `odata.include-annotations="*"`,
				`odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.*"`} {
				got := c.do("GET", "/"+tt.set+"?$select="+lookup+"&$filter="+s.tables[tt.set].def.Key+"%20eq%20"+key, "", "Prefer", prefer).values(t)
				if len(got) != 1 || got[0][lookup+lookupLogicalName] != tt.logical {
					t.Errorf("Prefer %s: %v, want %s annotated %s", prefer, got, lookup, tt.logical)
				}
			}
			excluded := c.do("GET", "/"+tt.set+"("+key+")", "", "Prefer", `odata.include-annotations="*,-Microsoft.Dynamics.CRM.lookuplogicalname"`).json(t)
			if _, ok := excluded[lookup+lookupLogicalName]; ok {
				t.Errorf("excluded annotation sent: %v", excluded)
			}
		})
	}
}

// TestMultiTableLookupMetadata: $metadata declares a Customer lookup as
// one navigation property per target, each constrained to the one lookup
// property, and no navigation property of its own.
func TestMultiTableLookupMetadata(t *testing.T) {
	doc := string(NewCRM().Metadata())
	for _, want := range []string{
		`<NavigationProperty Name="parentcustomerid_account" Type="Microsoft.Dynamics.CRM.account">`,
		`<NavigationProperty Name="parentcustomerid_contact" Type="Microsoft.Dynamics.CRM.contact">`,
		`<ReferentialConstraint Property="_parentcustomerid_value" ReferencedProperty="accountid" />`,
		`<ReferentialConstraint Property="_parentcustomerid_value" ReferencedProperty="contactid" />`,
		`<NavigationPropertyBinding Path="parentcustomerid_contact" Target="contacts" />`,
		`<NavigationProperty Name="customerid_account" Type="Microsoft.Dynamics.CRM.account">`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("$metadata lacks %s", want)
		}
	}
	if strings.Contains(doc, `NavigationProperty Name="parentcustomerid"`) {
		t.Error("$metadata declares parentcustomerid as a navigation property")
	}
	contacts := NewCRM().Schema().Entity("contacts")
	if got := contacts.Polymorphic["parentcustomerid"]; got["accounts"] != "parentcustomerid_account" || got["contacts"] != "parentcustomerid_contact" || len(got) != 2 {
		t.Errorf("Polymorphic = %v", contacts.Polymorphic)
	}
}
