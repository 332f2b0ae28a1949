package mappings

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/couplerhq/coupler/connectors/rest"
)

func TestLoadRESTConnector(t *testing.T) {
	extract(t, "testdata/rest.txtar")
	p, diags := Load(".", LoadOptions{Getenv: testEnv})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%v", diags)
	}
	c := p.Connector("crm")
	if c.Type != "rest" || c.Auth.Type != "api_key" || c.Auth.Header != "X-API-Key" || c.Auth.Key != "s3cret" {
		t.Errorf("connector = %+v, want rest with api_key auth expanded", c)
	}
	if c.CAFile != filepath.Join(p.Dir, "certs/ca.pem") {
		t.Errorf("ca_file = %q, want it relative to the project directory %s", c.CAFile, p.Dir)
	}
	want := &rest.Resource{
		List:    rest.Endpoint{Method: "GET", Path: "/accounts"},
		Get:     rest.Endpoint{Path: "/accounts/{id}"},
		Create:  rest.Endpoint{Method: "POST", Path: "/accounts"},
		Update:  rest.Endpoint{Method: "PUT", Path: "/accounts/{id}"},
		Delete:  rest.Endpoint{Path: "/accounts/{id}"},
		Records: "data.items", Record: "data", Key: "id", ETag: "version",
		Query:  map[string]string{"sort": "updated_at", "archived": "false"},
		Paging: rest.Paging{Style: "cursor", Next: "meta.next_cursor", Param: "cursor", SizeParam: "limit"},
		Since:  rest.Since{Param: "updated_since", Format: "2006-01-02 15:04:05"},
	}
	if got := restResource(t, c, "accounts"); !reflect.DeepEqual(got, want) {
		t.Errorf("resource =\n%+v\nwant\n%+v", got, want)
	}
	nested := &rest.Resource{
		List:    rest.Endpoint{Path: "/crm/v3/objects/companies"},
		Records: "results", FieldsAt: "properties", GetQuery: map[string]string{"properties": "name,domain"},
		Paging: rest.Paging{Style: "cursor", Next: "paging.next.after", Param: "after", SizeParam: "limit"},
	}
	if got := restResource(t, c, "companies"); !reflect.DeepEqual(got, nested) {
		t.Errorf("resource with fields_at =\n%+v\nwant\n%+v", got, nested)
	}
	if got := c.Entities["companies"].Fields; !reflect.DeepEqual(got, []string{"id", "name", "domain", "updatedAt"}) {
		t.Errorf("fields = %v: fields_at must not touch the declared field names", got)
	}
}

// TestLoadRESTPagingStartAndQueryKey checks that a page-style entity
// without start gets 1 while start: 0 is kept (0-based page APIs), and that
// an api_key sent in the query is loaded with its parameter, expanded.
func TestLoadRESTPagingStartAndQueryKey(t *testing.T) {
	extract(t, "testdata/rest-paging.txtar")
	p, diags := Load(".", LoadOptions{Getenv: testEnv})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%v", diags)
	}
	c := p.Connector("crm")
	if c.Auth.In != "query" || c.Auth.Param != "api_token" || c.Auth.Key != "s3cret" {
		t.Errorf("auth = %+v, want api_key in query api_token, expanded", c.Auth)
	}
	for entity, want := range map[string]int{"one_based": 1, "zero_based": 0, "offset": 0} {
		if got := restResource(t, c, entity).Paging.Start; got != want {
			t.Errorf("%s: start = %d, want %d", entity, got, want)
		}
	}
}

// restResource returns the rest resource the loader decoded for entity of
// c, nil when there is none.
func restResource(t *testing.T, c *Connector, entity string) *rest.Resource {
	t.Helper()
	s, ok := c.Settings.(*rest.Settings)
	if !ok {
		t.Fatalf("connector %s: settings %T, want *rest.Settings", c.Name, c.Settings)
	}
	r, ok := s.Resources[entity]
	if !ok {
		return nil
	}
	return &r
}
