package mappings

import (
	"os"
	"strings"
	"testing"
)

// TestLoadDeferUnsetEnv checks that commands reading only the state load a
// project whose secrets are not set, each unset reference kept on its
// connector at its place, and that other commands still refuse it.
func TestLoadDeferUnsetEnv(t *testing.T) {
	dir := t.TempDir()
	project := "version: 1\nconnectors:\n" +
		"  bc: { type: odata, base_url: \"${BC_URL}\", auth: { type: bearer, token: \"${BC_TOKEN}\" } }\n" +
		"  crm: { type: odata, base_url: \"http://crm\" }\nmappings: [\"m.yaml\"]\n"
	mapping := "name: CUSTOMER\ntable: { connector: bc, entity: customers, key: id }\nintegration: { connector: crm, entity: accounts, key: accountid }\nfields:\n  - { field: number, integration_field: accountnumber }\n"
	for name, src := range map[string]string{"coupler.yaml": project, "m.yaml": mapping} {
		if err := os.WriteFile(dir+"/"+name, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	none := func(string) (string, bool) { return "", false }

	_, diags := Load(dir, LoadOptions{Getenv: none})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "environment variable BC_TOKEN is not set") {
		t.Fatalf("strict load: want the unset variable as an error, got:\n%s", diags.Error())
	}

	p, diags := Load(dir, LoadOptions{Getenv: none, DeferUnsetEnv: true})
	if diags.HasErrors() {
		t.Fatalf("deferred load: unexpected errors:\n%s", diags.Error())
	}
	var got []string
	for _, d := range p.UnsetEnv() {
		got = append(got, strings.TrimPrefix(d.String(), dir+"/"))
	}
	want := []string{
		"coupler.yaml:3:32: connector bc: environment variable BC_URL is not set",
		"coupler.yaml:3:74: connector bc: environment variable BC_TOKEN is not set",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("unset references:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if u := p.Connector("crm").Unset; len(u) != 0 {
		t.Errorf("crm has no references, got %v", u)
	}
}
