package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

// TestConnectorConfigLookupKey checks that the key a set's mappings use
// reaches the connector with the set's alternate key: the odata connector
// addresses a lookup bound to that set by it (a GUID may be the alternate
// key's value, not the primary key).
func TestConnectorConfigLookupKey(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "coupler.yaml"), `version: 1
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
	writeFile(t, filepath.Join(dir, "m", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id }
integration: { connector: dataverse, entity: accounts, key: bc_id }
fields:
  - { field: id, integration_field: bc_id }
`)
	writeFile(t, filepath.Join(dir, "m", "contact.yaml"), `name: CONTACT
table: { connector: bc, entity: contacts, key: id }
integration: { connector: dataverse, entity: contacts, key: contactid }
fields:
  - { field: customerId, integration_field: parentcustomerid, lookup: CUSTOMER }
`)
	p, diags := mappings.Load(dir, mappings.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	alt := engine.ConnectorConfig(p.Connector("dataverse")).AlternateKeys
	if got := alt["accounts"].LookupKey; got != "bc_id" {
		t.Errorf("accounts: LookupKey %q, want bc_id (the CUSTOMER mapping's key)", got)
	}
	if got := alt["contacts"].LookupKey; got != "contactid" {
		t.Errorf("contacts: LookupKey %q, want contactid (the primary key the CONTACT mapping uses)", got)
	}
}

// TestConnectorConfigBatchFormat checks that batch_format reaches the
// connector, and that leaving it out leaves the choice to the connector.
func TestConnectorConfigBatchFormat(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "http://bc.example", batch_size: 50, batch_format: json }
  dataverse: { type: odata, base_url: "http://dv.example/api/data/v9.2", batch_size: 50 }
mappings: ["m/*.yaml"]
`)
	writeFile(t, filepath.Join(dir, "m", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id }
integration: { connector: dataverse, entity: accounts, key: accountid }
fields:
  - { field: number, integration_field: accountnumber }
`)
	p, diags := mappings.Load(dir, mappings.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := engine.ConnectorConfig(p.Connector("bc")).BatchFormat; got != "json" {
		t.Errorf("bc: BatchFormat %q, want json", got)
	}
	if got := engine.ConnectorConfig(p.Connector("dataverse")).BatchFormat; got != "" {
		t.Errorf("dataverse: BatchFormat %q, want none (the connector picks)", got)
	}
}
