package mappings

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDeclaredFieldTypes: an entity's fields may give their EDM type
// (`- creditLimit: Edm.Decimal`) beside names alone; both are known
// fields, and the typed ones reach the mapping's side for validate's type
// check.
func TestDeclaredFieldTypes(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "coupler.yaml"), `version: 1
connectors:
  bc:
    type: odata
    base_url: "http://bc.example"
    entities:
      customers:
        fields:
          - id
          - number
          - creditLimit: Edm.Decimal
          - blocked: Edm.Boolean
  dataverse:
    type: odata
    base_url: "http://dv.example"
    entities:
      accounts: { fields: [accountid, accountnumber, creditlimit: Edm.Decimal] }
mappings: ["m/*.yaml"]
`)
	writeTestFile(t, filepath.Join(dir, "m", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id }
integration: { connector: dataverse, entity: accounts, key: accountid }
fields:
  - { field: number, integration_field: accountnumber }
  - { field: creditLimit, integration_field: creditlimit }
`)
	p, diags := Load(dir, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	m := p.Mapping("CUSTOMER")
	if want := []string{"id", "number", "creditLimit", "blocked"}; !slices.Equal(m.Table.Known, want) {
		t.Errorf("table known fields %q, want %q", m.Table.Known, want)
	}
	if want := map[string]string{"creditLimit": "Edm.Decimal", "blocked": "Edm.Boolean"}; !maps.Equal(m.Table.Types, want) {
		t.Errorf("table types %v, want %v", m.Table.Types, want)
	}
	for field, want := range map[string]string{"creditlimit": "Edm.Decimal", "accountnumber": "", "nope": ""} {
		if got := m.Integration.FieldType(field); got != want {
			t.Errorf("integration FieldType(%s) = %q, want %q", field, got, want)
		}
	}
}

// TestDeclaredFieldTypeErrors: a type that is not an EDM primitive type,
// or a field entry that is neither a name nor one name with its type, is
// an error at it, with the closest type.
func TestDeclaredFieldTypeErrors(t *testing.T) {
	tests := []struct{ fields, want string }{
		{`[id, creditLimit: Edm.Decmal]`, `coupler.yaml:3:95: connector crm: entity accounts: fields: creditLimit: "Edm.Decmal" is not an EDM type validate knows (did you mean "Edm.Decimal"?)`},
		{`[id, creditLimit: decimal]`, `"decimal" is not an EDM type validate knows; expected one of Edm.Binary, Edm.Boolean`},
		{`[id, { a: Edm.String, b: Edm.String }]`, `coupler.yaml:3:82: connector crm: entity accounts: fields entry must be a field name, or one name with its EDM type (creditLimit: Edm.Decimal), not a mapping of 2 keys`},
		{`[id, a: [Edm.String]]`, `fields: a: the type must be an EDM type such as Edm.String, not a list`},
		{`[id, [a]]`, `fields entry must be a field name, or one name with its EDM type (creditLimit: Edm.Decimal), not a list`},
		{`[id, id: Edm.Guid]`, `fields: "id" is declared twice`},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		writeTestFile(t, filepath.Join(dir, "coupler.yaml"), "version: 1\nconnectors:\n  crm: { type: odata, base_url: \"http://x\", entities: { accounts: { fields: "+tt.fields+" } } }\nmappings: [m.yaml]\n")
		writeTestFile(t, filepath.Join(dir, "m.yaml"), "name: A\ntable: { connector: crm, entity: accounts, key: id }\nintegration: { connector: crm, entity: accounts, key: id }\nfields: [{ field: id, integration_field: id }]\n")
		_, diags := Load(dir, LoadOptions{})
		if got := diags.Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%s:\n%s\nwant %q", tt.fields, got, tt.want)
		}
	}
}
