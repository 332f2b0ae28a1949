package mappings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/state/location"
)

// TestLoadState: state: takes a DuckDB file or a PostgreSQL URL, written
// out or through ${NAME}, and state_schema: the URL's schema; mistakes
// are reported where they are, without the URL's password.
func TestLoadState(t *testing.T) {
	const url = "postgres://coupler:s3cret@db.internal:5432/coupler?sslmode=disable"
	env := func(name string) (string, bool) {
		switch name {
		case "COUPLER_STATE_URL":
			return url, true
		case "EMPTY":
			return "", true
		}
		return "", false
	}
	tests := []struct {
		name, lines string
		// state and schema are what the project holds; state "" is
		// the file named by file under the project directory.
		state, schema, file string
		postgres            bool
		err                 string // a diagnostic, "file:line:col: message"
		// override is LoadOptions.State (coupler --state).
		override location.Location
	}{
		{name: "default", file: DefaultStatePath},
		{name: "file", lines: "state: var/state.duckdb\n", file: "var/state.duckdb"},
		{name: "url", lines: "state: " + url + "\n", state: url, schema: "public", postgres: true},
		{name: "url from the environment with a schema", lines: "state: ${COUPLER_STATE_URL}\nstate_schema: tenant_a\n",
			state: url, schema: "tenant_a", postgres: true},
		{name: "postgresql scheme", lines: "state: postgresql://db/coupler\n", state: "postgresql://db/coupler", schema: "public", postgres: true},
		{name: "unset variable", lines: "state: ${NO_SUCH}\n", err: "coupler.yaml:2:8: environment variable NO_SUCH is not set"},
		{name: "empty variable", lines: "state: ${EMPTY}\n", err: "coupler.yaml:2:8: state: the state's location is empty"},
		{name: "other database", lines: "state: mysql://u:s3cret@db/x\n", err: "coupler.yaml:2:8: state: a state in mysql:// is not supported"},
		{name: "no database", lines: "state: postgres://u:s3cret@db/\n", err: "coupler.yaml:2:8: state: the PostgreSQL URL names no database"},
		{name: "schema on a file", lines: "state: s.duckdb\nstate_schema: a\n", err: "coupler.yaml:3:15: state_schema applies to a PostgreSQL state"},
		{name: "schema with the default file", lines: "state_schema: a\n", err: "coupler.yaml:2:15: state_schema applies to a PostgreSQL state"},
		{name: "bad schema", lines: "state: ${COUPLER_STATE_URL}\nstate_schema: pg_catalog\n", err: "coupler.yaml:3:15: state_schema: schema \"pg_catalog\": names starting with pg_ are PostgreSQL's own"},
		{name: "--state, a URL, over a file", lines: "state: var/state.duckdb\n", override: location.Location{URL: url, Schema: "tenant_b"},
			state: url, schema: "tenant_b", postgres: true},
		{name: "--state, a file, over a URL", lines: "state: ${COUPLER_STATE_URL}\nstate_schema: tenant_a\n", override: location.Location{Path: "/srv/other.duckdb"},
			state: "/srv/other.duckdb"},
		{name: "empty schema", lines: "state: ${COUPLER_STATE_URL}\nstate_schema: ''\n", err: "coupler.yaml:3:15: state_schema must not be empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			project := "version: 1\n" + tc.lines + "connectors:\n  erp: { type: odata, base_url: \"http://erp\" }\n  crm: { type: odata, base_url: \"http://crm\" }\nmappings: [m.yaml]\n"
			mapping := "name: CUSTOMER\ntable: { connector: erp, entity: customers, key: id }\nintegration: { connector: crm, entity: accounts, key: accountid }\nfields:\n  - { field: number, integration_field: accountnumber }\n"
			for name, body := range map[string]string{ProjectFile: project, "m.yaml": mapping} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, diags := Load(dir, LoadOptions{Getenv: env, State: tc.override})
			if tc.err != "" {
				var got []string
				for _, d := range diags {
					s := strings.TrimPrefix(d.String(), filepath.Join(dir, "")+string(filepath.Separator))
					got = append(got, s)
					if strings.Contains(s, "s3cret") {
						t.Errorf("a diagnostic quotes the password: %s", s)
					}
				}
				if len(got) != 1 || !strings.HasPrefix(got[0], tc.err) {
					t.Fatalf("diagnostics %q; want one starting %q", got, tc.err)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("unexpected diagnostics:\n%v", diags)
			}
			want := tc.state
			if tc.file != "" {
				want = filepath.Join(p.Dir, tc.file)
			}
			if p.State != want || p.StateSchema != tc.schema {
				t.Errorf("state %q, schema %q; want %q, %q", p.State, p.StateSchema, want, tc.schema)
			}
			loc := p.StateLocation()
			if loc.Postgres() != tc.postgres || (tc.postgres && (loc.URL != tc.state || loc.Schema != tc.schema)) || (!tc.postgres && loc.Path != want) {
				t.Errorf("StateLocation() = %+v", loc)
			}
			if tc.postgres && strings.Contains(loc.String(), "s3cret") {
				t.Errorf("StateLocation().String() = %q shows the password", loc.String())
			}
			// A PostgreSQL state's plans stage in a DuckDB of their
			// own: no spill directory beside a URL.
			wantTemp := want + ".tmp"
			if tc.postgres {
				wantTemp = ""
			}
			if p.Staging.TempDirectory != wantTemp {
				t.Errorf("staging temp directory %q; want %q", p.Staging.TempDirectory, wantTemp)
			}
		})
	}
}
