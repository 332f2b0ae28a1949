package fake

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCaseFunctionsRefusedLikeTheServices: Business Central and Dataverse
// implement no OData case functions, so their fakes answer tolower with
// 400 and say why; a generic OData server (New) evaluates it.
func TestCaseFunctionsRefusedLikeTheServices(t *testing.T) {
	c0 := Customer(0)
	filter := "tolower(displayName) eq '" + strings.ReplaceAll(strings.ToLower(c0["displayName"].(string)), "'", "''") + "'"
	target := "/customers?$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")

	generic := New(bcEntitySets()...)
	if _, err := generic.Put("customers", c0); err != nil {
		t.Fatal(err)
	}
	if recs, _ := newClient(t, generic).readAll(target); len(recs) != 1 {
		t.Errorf("generic server: %d records; want the customer", len(recs))
	}

	for _, tc := range []struct {
		name, target string
		s            *Server
	}{
		{"Business Central", "/companies(" + BCCompanyID + ")" + target, NewERP()},
		{"Dataverse", "/accounts?$filter=" + strings.ReplaceAll(url.QueryEscape("tolower(name) eq 'x'"), "+", "%20"), NewCRM()},
	} {
		r := newClient(t, tc.s).do(http.MethodGet, tc.target, "")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "tolower") || !strings.Contains(string(r.body), "not supported") {
			t.Errorf("%s: %d %s; want 400 saying tolower is not supported", tc.name, r.status, r.body)
		}
	}
}
