package mappings

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestLoadAlternateKeysAndAtomicity(t *testing.T) {
	extract(t, "testdata/altkeys.txtar")
	p, diags := Load(".", LoadOptions{Getenv: testEnv})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%v", diags)
	}
	c := p.Connector("crm")
	if c.Atomicity != "batch" || c.BatchSize != 100 || c.BatchFormat != "multipart" {
		t.Errorf("atomicity %q, batch_size %d, batch_format %q", c.Atomicity, c.BatchSize, c.BatchFormat)
	}
	if got := c.Entities["accounts"].AlternateKey; !reflect.DeepEqual(got, []string{"accountnumber"}) {
		t.Errorf("accounts alternate_key = %v", got)
	}
	parts := c.Entities["parts"]
	if !reflect.DeepEqual(parts.AlternateKey, []string{"name", "region"}) || !reflect.DeepEqual(parts.KeyTypes, map[string]string{"region": "Edm.Int32"}) {
		t.Errorf("parts = %+v", parts)
	}
	// A lookup bound to either set carries the key its mapping uses.
	if a, p := c.Entities["accounts"].LookupKey, parts.LookupKey; a != "accountnumber" || p != "name,region" {
		t.Errorf("lookup keys: accounts %q, parts %q; want the mappings' keys", a, p)
	}
	if parts.Resource != nil {
		t.Errorf("an alternate key made a rest resource: %+v", parts.Resource)
	}
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
