package mappings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors/odata"
)

func TestLoadAlternateKeysAndAtomicity(t *testing.T) {
	extract(t, "testdata/altkeys.txtar")
	p, diags := Load(".", LoadOptions{Getenv: testEnv})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%v", diags)
	}
	s := odataSettings(t, p.Connector("crm"))
	if s.Atomicity != "batch" || s.BatchSize != 100 || s.BatchFormat != "multipart" {
		t.Errorf("atomicity %q, batch_size %d, batch_format %q", s.Atomicity, s.BatchSize, s.BatchFormat)
	}
	if got := s.AlternateKeys["accounts"].Fields; !reflect.DeepEqual(got, []string{"accountnumber"}) {
		t.Errorf("accounts alternate_key = %v", got)
	}
	parts := s.AlternateKeys["parts"]
	if !reflect.DeepEqual(parts.Fields, []string{"name", "region"}) || !reflect.DeepEqual(parts.Types, map[string]string{"region": "Edm.Int32"}) {
		t.Errorf("parts = %+v", parts)
	}
	// A lookup bound to either set carries the key its mapping uses.
	if a, p := s.AlternateKeys["accounts"].LookupKey, parts.LookupKey; a != "accountnumber" || p != "name,region" {
		t.Errorf("lookup keys: accounts %q, parts %q; want the mappings' keys", a, p)
	}
}

// odataSettings returns the odata settings the loader decoded for c.
func odataSettings(t *testing.T, c *Connector) *odata.Settings {
	t.Helper()
	s, ok := c.Settings.(*odata.Settings)
	if !ok {
		t.Fatalf("connector %s: settings %T, want *odata.Settings", c.Name, c.Settings)
	}
	return s
}

func TestLoadAlternateKeyErrors(t *testing.T) {
	tests := []struct{ entities, want string }{
		{`{ a: { alternate_key: [x, x] } }`, `alternate_key: "x" is not a field name, or is given twice`},
		{`{ a: { alternate_key: "x,y" } }`, `alternate_key: "x,y" is not a field name`},
		{`{ a: { alternate_key: [x], key_types: { y: Edm.Int32 } } }`, `key_types names y, which is not a field of alternate_key`},
		{`{ a: { alternate_key: [x], key_types: { x: Edm.Stream } } }`, `key_types x: "Edm.Stream" is not one of`},
		{`{ a: { alternate_key: [x], key_types: [x] } }`, `key_types must be a mapping`},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		project := "version: 1\nconnectors:\n  crm: { type: odata, base_url: \"http://x\", atomicity: all, entities: " + tt.entities + " }\n"
		if err := os.WriteFile(dir+"/coupler.yaml", []byte(project), 0o644); err != nil {
			t.Fatal(err)
		}
		_, diags := Load(dir, LoadOptions{Getenv: testEnv})
		got := diags.Error()
		if !strings.Contains(got, tt.want) || !strings.Contains(got, "atomicity must be record") {
			t.Errorf("%s:\n%s\nwant %q and the atomicity error", tt.entities, got, tt.want)
		}
	}
}

// TestLoadLookupKey checks that the key a set's mappings use
// is kept with the set's alternate key: the odata connector
// addresses a lookup bound to that set by it (a GUID may be the alternate
// key's value, not the primary key).
func TestLoadLookupKey(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "http://bc.example" }
  dataverse:
    type: odata
    base_url: "http://dv.example"
    lookups: bind
    entities:
      accounts: { alternate_key: [bc_id], key_types: { bc_id: Edm.Guid } }
      contacts: { alternate_key: [emailaddress1] }
mappings: ["m/*.yaml"]
`)
	writeTestFile(t, filepath.Join(dir, "m", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id }
integration: { connector: dataverse, entity: accounts, key: bc_id }
fields:
  - { field: id, integration_field: bc_id }
`)
	writeTestFile(t, filepath.Join(dir, "m", "contact.yaml"), `name: CONTACT
table: { connector: bc, entity: contacts, key: id }
integration: { connector: dataverse, entity: contacts, key: contactid }
fields:
  - { field: customerId, integration_field: parentcustomerid, lookup: CUSTOMER }
`)
	p, diags := Load(dir, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	alt := odataSettings(t, p.Connector("dataverse")).AlternateKeys
	if got := alt["accounts"].LookupKey; got != "bc_id" {
		t.Errorf("accounts: LookupKey %q, want bc_id (the CUSTOMER mapping's key)", got)
	}
	if got := alt["contacts"].LookupKey; got != "contactid" {
		t.Errorf("contacts: LookupKey %q, want contactid (the primary key the CONTACT mapping uses)", got)
	}
}

// writeTestFile writes content to path, making its directory.
func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
