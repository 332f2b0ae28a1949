package fake

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBusinessCentralRefusesOrAcrossFields: Business Central allows or
// between filters on the same field only ("Using filter expressions in
// OData URIs"), so its fake answers an or across two fields with 400,
// wherever the or sits; Dataverse's fake evaluates it.
func TestBusinessCentralRefusesOrAcrossFields(t *testing.T) {
	erp := NewERP()
	if err := SeedCustomers(erp, 3); err != nil {
		t.Fatal(err)
	}
	bc := newClient(t, erp)
	get := func(c *testClient, set, filter string) response {
		return c.do(http.MethodGet, "/"+set+"?$filter="+strings.ReplaceAll(url.QueryEscape(filter), "+", "%20"), "")
	}
	for _, tt := range []struct {
		filter string
		ok     bool
	}{
		{"country eq 'US' or country eq 'CA'", true},
		{"(country eq 'US' or country eq 'CA') and blocked eq ' '", true},
		{"startswith(displayName,'A') or endswith(displayName,'z')", true},
		{"country eq 'US' and blocked eq ' ' and creditLimit gt 5", true},
		{"country eq 'US' or blocked eq ' '", false},
		{"blocked eq ' ' and (country eq 'US' or city eq 'Miami')", false},
		{"(country eq 'US' and city eq 'Miami') or country eq 'CA'", false},
		{"not (country eq 'US' or startswith(city,'M'))", false},
	} {
		r := get(bc, "companies("+BCCompanyID+")/customers", tt.filter)
		switch {
		case tt.ok && r.status != http.StatusOK:
			t.Errorf("%s: %d %s; want 200", tt.filter, r.status, r.body)
		case !tt.ok && (r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "same field")):
			t.Errorf("%s: %d %s; want 400 saying or must stay on the same field", tt.filter, r.status, r.body)
		}
	}
	if r := get(newClient(t, NewCRM()), "accounts", "statecode eq 0 or name eq 'x'"); r.status != http.StatusOK {
		t.Errorf("Dataverse, or across two fields: %d %s; want 200", r.status, r.body)
	}
}
