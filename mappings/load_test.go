package mappings

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// testEnv is the environment the golden projects see.
func testEnv(name string) (string, bool) {
	switch name {
	case "ERP_URL":
		return "http://erp.example", true
	case "CRM_URL":
		return "http://crm.example", true
	case "TOKEN":
		return "s3cret", true
	}
	return "", false
}

// extract writes a txtar archive's files into a fresh directory and makes
// it the working directory, so that diagnostics carry short relative paths.
func extract(t *testing.T, archive string) {
	t.Helper()
	a, err := txtar.ParseFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range a.Files {
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
}

// TestDiagnosticsGolden loads each broken project under
// testdata/diagnostics and compares every diagnostic, with its line and
// column, against the archive's golden section.
func TestDiagnosticsGolden(t *testing.T) {
	archives, err := filepath.Glob("testdata/diagnostics/*.txtar")
	if err != nil || len(archives) == 0 {
		t.Fatalf("no golden archives: %v", err)
	}
	for _, archive := range archives {
		name := strings.TrimSuffix(filepath.Base(archive), ".txtar")
		t.Run(name, func(t *testing.T) {
			abs, err := filepath.Abs(archive)
			if err != nil {
				t.Fatal(err)
			}
			a, err := txtar.ParseFile(abs)
			if err != nil {
				t.Fatal(err)
			}
			extract(t, abs)
			_, diags := Load(".", LoadOptions{Getenv: testEnv})
			var got strings.Builder
			for _, d := range diags {
				got.WriteString(d.String() + "\n")
			}
			const golden = "want.diagnostics"
			if *update {
				var files []txtar.File
				for _, f := range a.Files {
					if f.Name != golden {
						files = append(files, f)
					}
				}
				a.Files = append(files, txtar.File{Name: golden, Data: []byte(got.String())})
				if err := os.WriteFile(abs, txtar.Format(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			var want string
			for _, f := range a.Files {
				if f.Name == golden {
					want = string(f.Data)
				}
			}
			if got.String() != want {
				t.Errorf("diagnostics differ (rerun with -update if intended)\n--- got\n%s--- want\n%s", got.String(), want)
			}
		})
	}
}

func TestLoadValidProject(t *testing.T) {
	extract(t, "testdata/valid.txtar")
	p, diags := Load(".", LoadOptions{Getenv: testEnv})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%v", diags)
	}
	if got := p.Connector("erp"); got == nil || got.BaseURL != "http://erp.example/api" || got.Auth.Token != "s3cret" {
		t.Errorf("connector erp = %+v, want base URL expanded and token set", got)
	}
	if c := p.Connector("crm"); c == nil || c.RateLimit != 12.5 || odataSettings(t, c).BatchSize != 100 || c.Auth.Type != "oauth2" || c.Auth.ClientSecret != "s3cret" ||
		len(c.Auth.Scopes) != 1 || c.Auth.Scopes[0] != "http://crm.example/.default" {
		t.Errorf("connector crm = %+v, want oauth2 with the secret and scope expanded, rate_limit 12.5", c)
	}
	m := p.Mapping("CUSTOMER")
	if m == nil {
		t.Fatal("mapping CUSTOMER not loaded")
	}
	if m.Direction != ToIntegration || m.Table.Entity != "customers" || m.Integration.Key != "accountid" {
		t.Errorf("mapping = %+v", m)
	}
	if len(m.Fields) != 3 || !m.Fields[2].HasConstant || m.Fields[2].Constant != json.Number("3") {
		t.Errorf("fields = %+v", m.Fields)
	}
	if m.Filter.Source != `blocked == " "` || m.Filter.Pos.Line != 6 {
		t.Errorf("filter = %+v, want source and line 6 kept", m.Filter)
	}
}

func TestDefaultsLoadAndLocalOverride(t *testing.T) {
	extract(t, "testdata/defaults.txtar")
	p, diags := Load(".", LoadOptions{Getenv: testEnv})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%v", diags)
	}
	m := p.Mapping("CUSTOMER")
	if m == nil || m.Origin != "coupler.yaml/../mappings/customer.yaml" && !strings.HasSuffix(m.Origin, "customer.yaml") {
		t.Fatalf("CUSTOMER should come from the local file, got %+v", m)
	}
	if strings.HasPrefix(m.Origin, "defaults:") {
		t.Errorf("local mapping should override the bundled default, got origin %s", m.Origin)
	}
}

// FuzzLoad feeds arbitrary bytes to the loader as a mapping file and as a
// project file: it must never panic, and it must say something about input
// it cannot use.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/diagnostics/*.txtar")
	seeds = append(seeds, "testdata/valid.txtar")
	for _, s := range seeds {
		a, err := txtar.ParseFile(s)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range a.Files {
			f.Add(file.Data)
		}
	}
	f.Add([]byte("name: A\nfields: &a [*a]\n"))
	f.Add([]byte("{{{{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		project := "version: 1\nconnectors:\n  erp: {type: odata, base_url: \"http://x\"}\nmappings: [\"m.yaml\"]\n"
		if err := os.WriteFile(filepath.Join(dir, ProjectFile), []byte(project), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "m.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, diags := Load(dir, LoadOptions{Getenv: testEnv})
		if !diags.HasErrors() && p == nil {
			t.Fatal("no project and no error")
		}
		// Every rejection says what is wrong and where.
		for _, d := range diags {
			if strings.TrimSpace(d.Message) == "" || d.File == "" {
				t.Fatalf("diagnostic without a message or a file: %+v", d)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, ProjectFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, diags = Load(dir, LoadOptions{Getenv: testEnv})
		if !diags.HasErrors() && p == nil {
			t.Fatal("no project and no error")
		}
	})
}
