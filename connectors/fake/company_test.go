package fake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBCCompanyScope checks that the ERP answers like Business Central:
// entity sets only below companies({id}), $metadata and $batch only at the
// service root, the companies set read-only at the root.
func TestBCCompanyScope(t *testing.T) {
	_, c := seeded(t, 1)
	root, company := c.srv.URL, c.base
	id := Customer(0)["id"].(string)
	other := "companies(00000000-0000-0000-0000-000000000001)"
	tests := []struct {
		method, url, body string
		status            int
		code              string // "" for a success
	}{
		{"GET", root + "/customers", "", 404, codeBCNotFound},
		{"POST", root + "/customers", `{"displayName":"x"}`, 404, codeBCNotFound},
		{"GET", root + "/customers(" + id + ")", "", 404, codeBCNotFound},
		{"GET", company + "/$metadata", "", 404, codeBCNotFound},
		{"POST", company + "/$batch", `{"requests":[]}`, 404, codeBCNotFound},
		{"GET", company + "/companies", "", 404, codeBCNotFound},
		{"GET", root + "/" + other + "/customers", "", 404, codeBCNotFound},
		{"GET", root + "/companies", "", 200, ""},
		{"GET", company, "", 200, ""},
		{"GET", root + "/$metadata", "", 200, ""},
		{"POST", root + "/companies", `{"name":"x"}`, 405, codeMethodNotAllowed},
		{"PATCH", company, `{"name":"x"}`, 405, codeMethodNotAllowed},
		{"GET", company + "/customers(" + id + ")", "", 200, ""},
		{"DELETE", company + "/customers(" + id + ")", "", 428, codePreconditionRequired},
		{"PATCH", company + "/customers(" + id + ")", `{"displayName":"x"}`, 428, codePreconditionRequired},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+strings.TrimPrefix(tt.url, root), func(t *testing.T) {
			r := c.do(tt.method, tt.url, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" {
				if code := r.errorCode(t); code != tt.code {
					t.Errorf("code = %q, want %q", code, tt.code)
				}
			}
		})
	}

	companies := c.do("GET", root+"/companies", "").values(t)
	if len(companies) != 1 || companies[0]["id"] != BCCompanyID || companies[0]["name"] == "" {
		t.Errorf("companies = %v, want the one company %s", companies, BCCompanyID)
	}
	if md := string(c.do("GET", root+"/$metadata", "").body); !strings.Contains(md, `EntitySet Name="companies"`) || !strings.Contains(md, `EntitySet Name="customers"`) {
		t.Errorf("$metadata lacks the companies or customers set:\n%s", md)
	}
}

// TestBCBatchInnerURLs checks that the $batch at the root addresses the
// company's sets as companies({id})/set, relative to the root or absolute,
// and answers 404 for a set outside the company.
func TestBCBatchInnerURLs(t *testing.T) {
	_, c := seeded(t, 1)
	batch := `{"requests":[
		{"id":"1","method":"GET","url":"companies(` + BCCompanyID + `)/customers?$select=id"},
		{"id":"2","method":"GET","url":"` + c.base + `/customers?$select=id"},
		{"id":"3","method":"GET","url":"customers?$select=id"},
		{"id":"4","method":"POST","url":"companies(` + BCCompanyID + `)/customers","headers":{"content-type":"application/json"},"body":{"displayName":"new"}}
	]}`
	r := c.do("POST", c.srv.URL+"/$batch", batch, "Prefer", "odata.continue-on-error")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var res batchResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	want := []int{200, 200, 404, 204} // 204: no Prefer: return=representation
	if len(res.Responses) != len(want) {
		t.Fatalf("%d responses, want %d: %s", len(res.Responses), len(want), r.body)
	}
	for i, resp := range res.Responses {
		if resp.Status != want[i] {
			t.Errorf("request %s: status %d, want %d: %s", resp.ID, resp.Status, want[i], resp.Body)
		}
	}
	if loc := res.Responses[3].Headers["location"]; !strings.HasPrefix(loc, c.base+"/customers(") {
		t.Errorf("created record's Location = %q, want it below %s", loc, c.base)
	}
}

// TestRelativeLinks reads every page with links resolved as the OData
// JSON Format says (the next link against the context URL, the context
// URL against the request URL), and checks that resolving the next link
// against the request URL, the mistake the mode exists to catch, misses.
func TestRelativeLinks(t *testing.T) {
	s, c := seeded(t, 12)
	s.SetRelativeLinks(true)
	target := c.base + "/customers?$select=id"
	var n, pages int
	for target != "" {
		r := c.do("GET", target, "", "Prefer", "odata.maxpagesize=5")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, r.status, r.body)
		}
		pages++
		n += len(r.values(t))
		body := r.json(t)
		ctx, _ := body["@odata.context"].(string)
		next, _ := body["@odata.nextLink"].(string)
		if want := "../$metadata#companies(" + BCCompanyID + ")/customers(id)"; ctx != want {
			t.Errorf("@odata.context = %q, want %q", ctx, want)
		}
		if next == "" {
			break
		}
		if !strings.HasPrefix(next, "companies(") {
			t.Fatalf("nextLink = %q, want it relative to the service root", next)
		}
		req, _ := url.Parse(target)
		base := req.ResolveReference(mustParse(t, ctx))
		target = base.ResolveReference(mustParse(t, next)).String()
		if wrong := req.ResolveReference(mustParse(t, next)).String(); c.do("GET", wrong, "").status != http.StatusNotFound {
			t.Errorf("the next link resolved against the request URL, %s, did not answer 404", wrong)
		}
	}
	if n != 12 || pages != 3 {
		t.Errorf("read %d records in %d pages, want 12 in 3", n, pages)
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
