package conformance_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/conformance"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/connectors/odata"
	"github.com/couplerhq/coupler/connectors/rest"
	"github.com/couplerhq/coupler/connectors/rest/resttest"
)

// steppingClock returns a clock that moves a second per reading, so that
// every write gets a stamp of its own however fast the test runs.
func steppingClock() func() time.Time {
	var mu sync.Mutex
	t := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func TestFakeOData(t *testing.T) {
	erp := fake.NewERP()
	erp.SetClock(steppingClock())
	srv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	defer srv.Close()
	conformance.Run(t, conformance.Target{
		BaseURL: fake.BCCompanyURL(srv.URL + "/api/v2.0"),
		New: func(base string) (connectors.Connector, error) {
			return connectors.New(connectors.Config{Name: "bc", Type: "odata", BaseURL: base, PageSize: 3, MaxRetries: 2})
		},
		Entity:   connectors.Entity{Name: "customers", Key: "id", Modified: "lastModifiedDateTime"},
		PageSize: 3,
		Record: func(i int) connectors.Record {
			r := fake.Customer(i)
			delete(r, "id")
			delete(r, "lastModifiedDateTime")
			return r
		},
		Field:      "displayName",
		MissingKey: uuid.NewString(),
	})
}

// TestFakeODataBatch runs the suite with every write in a $batch request:
// against the fake ERP in JSON batches, which Business Central documents,
// and against the fake CRM in multipart batches, the only ones it takes,
// as Dataverse. Neither sets batch_format: its default follows the
// service's URL.
func TestFakeODataBatch(t *testing.T) {
	t.Run("ERP json", func(t *testing.T) {
		erp := fake.NewERP()
		erp.SetClock(steppingClock())
		srv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
		defer srv.Close()
		conformance.Run(t, conformance.Target{
			BaseURL: fake.BCCompanyURL(srv.URL + "/api/v2.0"),
			New: func(base string) (connectors.Connector, error) {
				return connectors.New(connectors.Config{Name: "bc", Type: "odata", BaseURL: base, PageSize: 3, MaxRetries: 2, Settings: &odata.Settings{BatchSize: 10}})
			},
			Entity:   connectors.Entity{Name: "customers", Key: "id", Modified: "lastModifiedDateTime"},
			PageSize: 3,
			Record: func(i int) connectors.Record {
				r := fake.Customer(i)
				delete(r, "id")
				delete(r, "lastModifiedDateTime")
				return r
			},
			Field:      "displayName",
			MissingKey: uuid.NewString(),
		})
	})
	t.Run("CRM multipart", func(t *testing.T) {
		crm := fake.NewCRM()
		crm.SetClock(steppingClock())
		srv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
		defer srv.Close()
		conformance.Run(t, conformance.Target{
			BaseURL: srv.URL + "/api/data/v9.2",
			New: func(base string) (connectors.Connector, error) {
				return connectors.New(connectors.Config{Name: "dataverse", Type: "odata", BaseURL: base, PageSize: 3, MaxRetries: 2, Settings: &odata.Settings{BatchSize: 10}})
			},
			Entity:   connectors.Entity{Name: "accounts", Key: "accountid", Modified: "modifiedon"},
			PageSize: 3,
			Record: func(i int) connectors.Record {
				return connectors.Record{"name": fmt.Sprintf("Account %d", i), "accountnumber": fmt.Sprintf("A%d", i)}
			},
			Field:      "name",
			MissingKey: uuid.NewString(),
		})
	})
}

// restResource describes the resttest API the way a project file would.
var restResource = rest.Resource{
	Records: "data", Record: "data", Key: "id", ETag: "version",
	Paging: rest.Paging{Style: rest.PagingCursor, Next: "meta.next_cursor", Param: "cursor", SizeParam: "limit"},
	Since:  rest.Since{Param: "updated_since", Format: "unix_ms"},
}

func TestFakeREST(t *testing.T) {
	api := resttest.New("contacts")
	srv := httptest.NewServer(api)
	defer srv.Close()
	conformance.Run(t, conformance.Target{
		BaseURL: srv.URL + "/",
		New: func(base string) (connectors.Connector, error) {
			return connectors.New(connectors.Config{Name: "crm", Type: "rest", BaseURL: base, PageSize: 3, MaxRetries: 2,
				Settings: &rest.Settings{Resources: map[string]rest.Resource{"contacts": restResource}}})
		},
		Entity:   connectors.Entity{Name: "contacts", Key: "id", Modified: "updated_at"},
		PageSize: 3,
		Record: func(i int) connectors.Record {
			return connectors.Record{"name": "Contact", "email": "c@example.com"}
		},
		Field:      "name",
		MissingKey: "r999999",
	})
}

// hubSpotResource describes the HubSpot-shaped resttest API (CRM v3
// objects) the way a project file would: records under "results", each
// record's own fields under "properties", the cursor in paging.next.after.
var hubSpotResource = rest.Resource{
	List:     rest.Endpoint{Path: "/crm/v3/objects/companies"},
	Get:      rest.Endpoint{Path: "/crm/v3/objects/companies/{id}"},
	Create:   rest.Endpoint{Method: "POST", Path: "/crm/v3/objects/companies"},
	Update:   rest.Endpoint{Method: "PATCH", Path: "/crm/v3/objects/companies/{id}"},
	Delete:   rest.Endpoint{Method: "DELETE", Path: "/crm/v3/objects/companies/{id}"},
	Records:  "results",
	FieldsAt: "properties",
	Key:      "id",
	Query:    map[string]string{"properties": "name,domain,hs_lastmodifieddate", "archived": "false"},
	GetQuery: map[string]string{"properties": "name,domain,hs_lastmodifieddate"},
	Paging:   rest.Paging{Style: rest.PagingCursor, Next: "paging.next.after", Param: "after", SizeParam: "limit"},
}

func TestFakeHubSpot(t *testing.T) {
	api := resttest.NewHubSpot("companies")
	srv := httptest.NewServer(api)
	defer srv.Close()
	conformance.Run(t, conformance.Target{
		BaseURL: srv.URL,
		New: func(base string) (connectors.Connector, error) {
			return connectors.New(connectors.Config{Name: "hubspot", Type: "rest", BaseURL: base, PageSize: 3, MaxRetries: 2,
				Settings: &rest.Settings{Resources: map[string]rest.Resource{"companies": hubSpotResource}}})
		},
		Entity:   connectors.Entity{Name: "companies", Key: "id", Modified: "updatedAt"},
		PageSize: 3,
		Record: func(i int) connectors.Record {
			return connectors.Record{"name": "Company", "domain": fmt.Sprintf("c%d.example", i)}
		},
		Field:      "name",
		MissingKey: "999999",
		NoETags:    "HubSpot's CRM v3 API has no ETags or If-Match: its writes are last-writer-wins",
	})
}
