package conformance_test

import (
	"fmt"
	"net/url"
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
	root := conformance.StartCAP(t)
	conformance.Run(t, capTarget(root, connectors.Config{}))
}

// TestCAPODataBatch runs the suite against SAP CAP with every write in a
// $batch request, in each format: CAP serves both the multipart format of
// OData 4.0 and the JSON format of OData 4.01.
func TestCAPODataBatch(t *testing.T) {
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

// capCompanyID is the company testdata/servers/cap/db/data seeds.
const capCompanyID = "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"

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
	crm, err := url.Parse(conformance.StartCAP(t))
	if err != nil {
		t.Fatal(err)
	}
	root := crm.Scheme + "://" + crm.Host + "/api/v2.0" // cap/srv/bc.cds
	company := root + "/companies(" + capCompanyID + ")"
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
