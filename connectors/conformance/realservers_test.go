package conformance_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/conformance"
	"github.com/couplerhq/coupler/connectors/odata"
	"github.com/couplerhq/coupler/connectors/rest"
)

// TestCAPOData runs the suite through the OData connector against SAP CAP,
// a real OData v4 server, serving accounts shaped like Dataverse's.
func TestCAPOData(t *testing.T) {
	t.Parallel()
	root := conformance.StartCAP(t)
	conformance.Run(t, capTarget(root, connectors.Config{}))
}

// TestCAPODataBatch runs the suite against SAP CAP with every write in a
// $batch request, in each format: CAP serves both the multipart format of
// OData 4.0 and the JSON format of OData 4.01.
func TestCAPODataBatch(t *testing.T) {
	t.Parallel()
	root := conformance.StartCAP(t)
	for _, format := range []string{odata.BatchFormatMultipart, odata.BatchFormatJSON} {
		t.Run(format, func(t *testing.T) {
			conformance.Run(t, capTarget(root, connectors.Config{Settings: &odata.Settings{BatchSize: 10, BatchFormat: format}}))
		})
	}
}

// capTarget is the suite's target for the CAP service at root, with the
// connector settings of cfg.
func capTarget(root string, cfg connectors.Config) conformance.Target {
	return conformance.Target{
		BaseURL: root,
		New: func(base string) (connectors.Connector, error) {
			cfg.Name, cfg.Type, cfg.BaseURL, cfg.MaxRetries = "cap", "odata", base, 2
			return connectors.New(cfg)
		},
		Entity: connectors.Entity{Name: "accounts", Key: "accountid", Modified: "modifiedon"},
		// The service pages at 20 (@cds.query.limit); CAP ignores
		// Prefer: odata.maxpagesize.
		PageSize: 20,
		Record: func(i int) connectors.Record {
			return connectors.Record{"name": "Account", "accountnumber": "A" + time.Now().Format("150405.000"), "customertypecode": 3, "statecode": 0}
		},
		Field:      "name",
		MissingKey: uuid.NewString(),
	}
}

// TestJSONServerREST runs the suite through the generic REST connector
// against json-server 0.17, described the way a project file would.
func TestJSONServerREST(t *testing.T) {
	root := conformance.StartJSONServer(t)
	var (
		mu   sync.Mutex
		last time.Time
	)
	// json-server stores what it is sent, so the client keeps the modified
	// stamp, strictly increasing at millisecond precision.
	stamp := func() string {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now().UTC().Truncate(time.Millisecond)
		if !now.After(last) {
			now = last.Add(time.Millisecond)
		}
		last = now
		return now.Format("2006-01-02T15:04:05.000Z")
	}
	conformance.Run(t, conformance.Target{
		BaseURL: root,
		New: func(base string) (connectors.Connector, error) {
			return connectors.New(connectors.Config{Name: "js", Type: "rest", BaseURL: base, PageSize: 3, MaxRetries: 2,
				Settings: &rest.Settings{Resources: map[string]rest.Resource{"contacts": {
					Query:  map[string]string{"_page": "1", "_sort": "id"},
					Paging: rest.Paging{Style: rest.PagingLinkHeader, SizeParam: "_limit"},
					Since:  rest.Since{Param: "modifiedAt_gte", Format: "rfc3339ms"},
				}}}})
		},
		Entity:   connectors.Entity{Name: "contacts", Key: "id", Modified: "modifiedAt"},
		PageSize: 3,
		Record: func(i int) connectors.Record {
			return connectors.Record{"name": "Contact", "email": "c@example.com", "modifiedAt": stamp()}
		},
		Touch:      func() connectors.Record { return connectors.Record{"modifiedAt": stamp()} },
		Field:      "name",
		MissingKey: "999999",
		NoETags:    "json-server 0.17 ignores If-Match: it cannot refuse a stale update",
	})
}

// TestCAPBusinessCentralCompanyURL runs the suite through the OData
// connector against SAP CAP serving a Business Central-shaped API
// (testdata/servers/cap/srv/bc.cds): customers only below
// companies({id}), $metadata and $batch at the service root, and relative
// context and next links, as CAP writes them. The connector is given the
// company's URL, as Business Central's documentation gives it; writes go
// one by one and in $batch requests, and Describe reads $metadata. Before
// the connector told the service root from the entity path, the second
// page was asked for at companies({id})/companies({id})/customers and
// $metadata and $batch below the company: 404 from CAP.
func TestCAPBusinessCentralCompanyURL(t *testing.T) {
	t.Parallel()
	crm, err := url.Parse(conformance.StartCAP(t))
	if err != nil {
		t.Fatal(err)
	}
	root := crm.Scheme + "://" + crm.Host + "/api/v2.0" // cap/srv/bc.cds
	company := root + "/companies(" + conformance.CAPCompanyID + ")"
	for _, batch := range []int{1, 5} {
		t.Run(fmt.Sprintf("batch_size %d", batch), func(t *testing.T) {
			var conn connectors.Connector
			conformance.Run(t, conformance.Target{
				BaseURL: company,
				New: func(base string) (connectors.Connector, error) {
					c, err := connectors.New(connectors.Config{Name: "bc", Type: "odata", BaseURL: base, MaxRetries: 2, Settings: &odata.Settings{BatchSize: batch}})
					conn = c
					return c, err
				},
				Entity:   connectors.Entity{Name: "customers", Key: "id", Modified: "lastModifiedDateTime"},
				PageSize: 20, // @cds.query.limit
				Record: func(i int) connectors.Record {
					return connectors.Record{"number": fmt.Sprintf("C%05d", i), "displayName": "Customer", "city": "Atlanta"}
				},
				Field:      "displayName",
				MissingKey: uuid.NewString(),
			})
			schema, err := conn.(connectors.Describer).Describe(t.Context())
			if err != nil {
				t.Fatalf("describe: %v", err)
			}
			if e := schema.Entity("customers"); e == nil || e.Field("displayName") == nil {
				t.Errorf("describe has no customers with displayName: %+v", schema)
			}
		})
	}
}

// TestCAPBusinessCentralRefusals checks that SAP CAP's Business
// Central-shaped service refuses what Business Central refuses, so that the
// tests against it (TestBundledSetAgainstCAP) cannot pass on a request the
// real service would answer with an error: a set outside a company (404
// BadRequest_NotFound, "Tips for working with the APIs"), tolower in
// $filter and an or across two fields (400, "Using filter expressions in
// OData URIs"), an update without If-Match (428; If-Match is Required in
// "Update customers").
func TestCAPBusinessCentralRefusals(t *testing.T) {
	t.Parallel()
	company := conformance.StartCAPBusinessCentral(t)
	root := strings.TrimSuffix(company, "/companies("+conformance.CAPCompanyID+")")
	customer := "980008c0-9dc9-5c46-8737-3d8e219df901" // C00010 of cap/db/data
	for _, tt := range []struct {
		name, method, url, ifMatch string
		want                       int
		code                       string
	}{
		{"a set below the company", http.MethodGet, company + "/customers?$select=id", "", http.StatusOK, ""},
		{"a set at the root", http.MethodGet, root + "/customers?$select=id", "", http.StatusNotFound, "BadRequest_NotFound"},
		{"a record at the root", http.MethodPatch, root + "/customers(" + customer + ")", "*", http.StatusNotFound, "BadRequest_NotFound"},
		{"tolower", http.MethodGet, company + "/customers?$filter=" + url.PathEscape("tolower(email) eq 'x'"), "", http.StatusBadRequest, "BadRequest"},
		{"or across two fields", http.MethodGet, company + "/customers?$filter=" + url.PathEscape("city eq 'x' or state eq 'y'"), "", http.StatusBadRequest, "BadRequest"},
		{"or on one field", http.MethodGet, company + "/customers?$filter=" + url.PathEscape("(city eq 'x' or city eq 'y') and state eq 'z'"), "", http.StatusOK, ""},
		{"an update without If-Match", http.MethodPatch, company + "/customers(" + customer + ")", "", http.StatusPreconditionRequired, "428"}, // CAP's own code
		{"an update with If-Match", http.MethodPatch, company + "/customers(" + customer + ")", "*", http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.method == http.MethodPatch {
				body = strings.NewReader(`{"phoneNumber":"+44 161 555 0000"}`)
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, tt.url, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.ifMatch != "" {
				req.Header.Set("If-Match", tt.ifMatch)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var answer struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			raw, _ := io.ReadAll(resp.Body)
			_ = json.Unmarshal(raw, &answer)
			if resp.StatusCode != tt.want || answer.Error.Code != tt.code {
				t.Errorf("%s %s: %d %q, want %d %q: %s", tt.method, tt.url, resp.StatusCode, answer.Error.Code, tt.want, tt.code, raw)
			}
		})
	}
}
