package engine_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

// typedProject declares the fields of both sides with their EDM types,
// where a test gives one, so that validate checks offline what each field
// mapping writes.
const typedProject = `version: 1
connectors:
  bc:
    type: odata
    base_url: "http://bc.example"
    entities:
      customers: { fields: [id, number, name, code, creditLimit: Edm.Decimal, blocked: Edm.Boolean, orderDate: Edm.Date] }
  dataverse:
    type: odata
    base_url: "http://dv.example"
    entities:
      accounts: { fields: [accountid, description, name: Edm.String, creditlimit: Edm.Decimal, statecode: Edm.Int32, donotemail: Edm.Boolean, lastonholdtime: Edm.DateTimeOffset, parentid: Edm.Guid] }
mappings: [m.yaml]
`

// TestValidateChecksWrittenTypes: where the destination field declares its
// type, validate reports offline a transform, constant, option value or
// copy that can only give another kind of value, at what gives it, with
// the conversion to use; a result that may fit (unknown, a number to any
// number type, text to a GUID or a date, null) is never reported.
func TestValidateChecksWrittenTypes(t *testing.T) {
	// Serial: its subtests change the working directory (t.Chdir), so
	// that diagnostics name the file as a user would see it.
	tests := []struct {
		name  string
		field string // one field mapping, at m.yaml line 6
		want  string // the diagnostic, "" for none
	}{
		{"text to a decimal", `{ field: name, integration_field: creditlimit, direction: to_integration, to_integration: trim(value) }`,
			`m.yaml:6:95: mapping CUSTOMER, field name -> creditlimit: the to_integration transform gives a string, and creditlimit on dataverse accounts is Edm.Decimal (convert it: trim(value) == nil ? nil : float(trim(value)))`},
		{"converted", `{ field: name, integration_field: creditlimit, direction: to_integration, to_integration: float(trim(value)) }`, ""},
		{"a value of unknown type", `{ field: name, integration_field: creditlimit, direction: to_integration, to_integration: "value" }`, ""},
		{"a decimal field to text", `{ field: creditLimit, integration_field: name, direction: to_integration, to_integration: "value" }`,
			`m.yaml:6:95: mapping CUSTOMER, field creditLimit -> name: the to_integration transform gives a number, and name on dataverse accounts is Edm.String (convert it: value == nil ? nil : string(value))`},
		{"a copy of a decimal to text", `{ field: creditLimit, integration_field: name, direction: to_integration }`,
			`m.yaml:6:5: mapping CUSTOMER, field creditLimit -> name: creditLimit on bc customers is Edm.Decimal, and name on dataverse accounts is Edm.String (convert it: to_integration: value == nil ? nil : string(value))`},
		{"a decimal to a decimal", `{ field: creditLimit, integration_field: creditlimit }`, ""},
		{"a decimal to an integer", `{ field: creditLimit, integration_field: statecode, direction: to_integration }`, ""},
		{"a constant string to an integer", `{ integration_field: statecode, constant: "3", direction: to_integration }`,
			`m.yaml:6:47: mapping CUSTOMER, field statecode: the constant "3" is a string, and statecode on dataverse accounts is Edm.Int32 (write it as a number: 3)`},
		{"a constant number", `{ integration_field: statecode, constant: 3, direction: to_integration }`, ""},
		{"a constant null", `{ integration_field: statecode, constant: null, direction: to_integration }`, ""},
		{"a constant number to a boolean", `{ integration_field: donotemail, constant: 1, direction: to_integration }`,
			`m.yaml:6:48: mapping CUSTOMER, field donotemail: the constant 1 is a number, and donotemail on dataverse accounts is Edm.Boolean`},
		{"an option value", `{ field: code, integration_field: statecode, direction: to_integration, options: { "A": 1, "B": "2" } }`,
			`m.yaml:6:101: mapping CUSTOMER, field code -> statecode: the option "B" gives the string "2", and statecode on dataverse accounts is Edm.Int32 (write it as a number: 2)`},
		{"an option default", `{ field: code, integration_field: statecode, direction: to_integration, options: { "A": 1 }, default: "x" }`,
			`m.yaml:6:107: mapping CUSTOMER, field code -> statecode: the default "x" is a string, and statecode on dataverse accounts is Edm.Int32`},
		{"text to a GUID", `{ field: number, integration_field: parentid, direction: to_integration, to_integration: trim(value) }`, ""},
		{"a date to a date and time", `{ field: orderDate, integration_field: lastonholdtime, direction: to_integration, to_integration: 'value == nil ? nil : value + "T00:00:00Z"' }`, ""},
		{"text to a boolean, the other way", `{ field: blocked, integration_field: name, direction: from_integration, from_integration: trim(value) }`,
			`m.yaml:6:95: mapping CUSTOMER, field blocked -> name: the from_integration transform gives a string, and blocked on bc customers is Edm.Boolean`},
		{"a number to an undeclared type", `{ field: creditLimit, integration_field: description, direction: to_integration }`, ""},
		{"a boolean to a number", `{ field: name, integration_field: statecode, direction: to_integration, to_integration: value == "x" }`,
			`(convert it: (value == "x") ? 1 : 0)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "coupler.yaml"), typedProject)
			writeFile(t, filepath.Join(dir, "m.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id }
integration: { connector: dataverse, entity: accounts, key: accountid }
direction: bidirectional
fields:
  - `+tt.field+"\n")
			t.Chdir(dir)
			_, diags := engine.Load(".", mappings.LoadOptions{})
			var errs []string
			for _, d := range diags {
				if d.Severity == mappings.Error {
					errs = append(errs, d.String())
				}
			}
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("want no error, got\n%s", strings.Join(errs, "\n"))
			case tt.want != "" && (len(errs) != 1 || !strings.Contains(errs[0], tt.want)):
				t.Errorf("want one error\n%s\ngot\n%s", tt.want, strings.Join(errs, "\n"))
			}
		})
	}
}

// TestValidateOnlineChecksWrittenTypes: without declared types, validate
// --online gives the same diagnostics from the services' $metadata.
func TestValidateOnlineChecksWrittenTypes(t *testing.T) {
	t.Parallel()
	erp, crm := fake.NewERP(), fake.NewCRM()
	dir := bcDataverseProject(t, erp, crm, "")
	writeFile(t, filepath.Join(dir, "mappings", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: creditlimit, to_integration: trim(value) }
  - { field: creditLimit, integration_field: name, to_integration: "value" }
  - { field: creditLimit, integration_field: websiteurl }
  - { integration_field: customertypecode, constant: "3" }
  - { field: displayName, integration_field: telephone1, to_integration: "float(value)" }
`)
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	var got []string
	for _, d := range e.CheckOnline(t.Context()) {
		if d.Severity == mappings.Error {
			_, after, _ := strings.Cut(d.String(), "customer.yaml:")
			got = append(got, after)
		}
	}
	want := []string{
		`6:75: mapping CUSTOMER, field displayName -> creditlimit: the to_integration transform gives a string, and creditlimit on dataverse accounts is Edm.Decimal (convert it: trim(value) == nil ? nil : float(trim(value)))`,
		`7:68: mapping CUSTOMER, field creditLimit -> name: the to_integration transform gives a number, and name on dataverse accounts is Edm.String (convert it: value == nil ? nil : string(value))`,
		`8:5: mapping CUSTOMER, field creditLimit -> websiteurl: creditLimit on bc customers is Edm.Decimal, and websiteurl on dataverse accounts is Edm.String (convert it: to_integration: value == nil ? nil : string(value))`,
		`9:54: mapping CUSTOMER, field customertypecode: the constant "3" is a string, and customertypecode on dataverse accounts is Edm.Int32 (write it as a number: 3)`,
		`10:74: mapping CUSTOMER, field displayName -> telephone1: the to_integration transform gives a number, and telephone1 on dataverse accounts is Edm.String (convert it: string(float(value)))`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
