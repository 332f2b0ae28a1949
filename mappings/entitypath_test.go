package mappings

import (
	"os"
	"strings"
	"testing"
)

func TestLoadEntityPath(t *testing.T) {
	tests := []struct {
		name, connector string
		want            string // the error, "" for none
		entityPath      string // loaded, when there is no error
	}{
		{"company", `{ type: odata, base_url: "http://bc/api/v2.0", entity_path: "companies(${COMPANY})" }`, "", "companies(c-1)"},
		{"company url", `{ type: odata, base_url: "http://bc/api/v2.0/companies(1)" }`, "", ""},
		{"both", `{ type: odata, base_url: "http://bc/api/v2.0/companies(1)", entity_path: "companies(1)" }`,
			"coupler.yaml:3:80: connector bc: entity_path: the base url already ends in companies(1), so the entity sets would be looked for below companies(1)/companies(1)", ""},
		{"dot segment", `{ type: odata, base_url: "http://bc/api/v2.0", entity_path: "../x" }`,
			`coupler.yaml:3:67: connector bc: entity_path: "../x" has an empty, . or .. segment`, ""},
		{"rest", `{ type: rest, base_url: "http://bc/api", entity_path: "companies(1)" }`,
			"coupler.yaml:3:48: connector bc: entity_path is a setting of type odata", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			project := "version: 1\nconnectors:\n  bc: " + tt.connector + "\n  crm: { type: odata, base_url: \"http://crm\" }\nmappings: [\"m.yaml\"]\n"
			mapping := "name: CUSTOMER\ntable: { connector: bc, entity: customers, key: id }\nintegration: { connector: crm, entity: accounts, key: accountid }\nfields:\n  - { field: number, integration_field: accountnumber }\n"
			for name, src := range map[string]string{"coupler.yaml": project, "m.yaml": mapping} {
				if err := os.WriteFile(dir+"/"+name, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, diags := Load(dir, LoadOptions{Getenv: func(k string) (string, bool) {
				if k == "COMPANY" {
					return "c-1", true
				}
				return testEnv(k)
			}})
			got := diags.Error()
			if tt.want == "" {
				if diags.HasErrors() {
					t.Fatalf("unexpected diagnostics:\n%s", got)
				}
				if s := odataSettings(t, p.Connector("bc")); s.EntityPath != tt.entityPath {
					t.Errorf("entity path %q, want %q", s.EntityPath, tt.entityPath)
				}
				return
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("diagnostics:\n%s\nwant %q", got, tt.want)
			}
		})
	}
}
