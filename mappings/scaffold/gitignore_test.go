package scaffold

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteGitignore(t *testing.T) {
	for _, tc := range []struct {
		name, old string
		exists    bool
		want, did string
	}{
		{name: "none", want: "# coupler: the state database, its backups and lock are per machine.\n/.coupler/\n", did: "wrote"},
		{name: "others", exists: true, old: "node_modules/\n*.log", did: "updated",
			want: "node_modules/\n*.log\n\n# coupler: the state database, its backups and lock are per machine.\n/.coupler/\n"},
		{name: "has it", exists: true, old: "dist\n.coupler/\n", want: "dist\n.coupler/\n"},
		{name: "has it bare", exists: true, old: ".coupler\n", want: ".coupler\n"},
		{name: "only the schemas", exists: true, old: ".coupler-schemas/\n", did: "updated",
			want: ".coupler-schemas/\n\n# coupler: the state database, its backups and lock are per machine.\n/.coupler/\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, GitignoreFile)
			if tc.exists {
				if err := os.WriteFile(name, []byte(tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			did, err := WriteGitignore(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || did != tc.did {
				t.Errorf("got %q (%q), want %q (%q)", got, did, tc.want, tc.did)
			}
			// Running again changes nothing.
			if did, err := WriteGitignore(dir); err != nil || did != "" {
				t.Errorf("second run: %q, %v", did, err)
			}
		})
	}
}

func TestInitWritesGitignore(t *testing.T) {
	dir := t.TempDir()
	res, err := Init(dir, InitOptions{Set: "bc-dataverse"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, GitignoreFile))
	if err != nil || res.Gitignore != "wrote" {
		t.Fatalf("%q, %v", res.Gitignore, err)
	}
	for _, committed := range []string{SchemasDir, BaseDir} {
		if strings.Contains(string(got), committed) {
			t.Errorf(".gitignore names %s, which is meant to be committed:\n%s", committed, got)
		}
	}
}
