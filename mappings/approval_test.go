package mappings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApproval checks approval: in the project file: the defaults, each
// form of a share, and each mistake reported at its file:line:col.
func TestApproval(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       Approval
		wantErr    string // "line:col: message part"
	}{
		{"default", "", DefaultApproval, ""},
		{"percent", "approval: { changed_share: 25% }\n", Approval{ChangedShare: 0.25, MinRecords: 100, Deletes: true}, ""},
		{"fraction", "approval: { changed_share: 0.1, min_records: 0, deletes: false }\n", Approval{ChangedShare: 0.1, Deletes: false}, ""},
		{"off", "approval:\n  changed_share: 100%\n", Approval{ChangedShare: 1, MinRecords: 100, Deletes: true}, ""},
		{"decimal percent", "approval: { changed_share: 12.5 % }\n", Approval{ChangedShare: 0.125, MinRecords: 100, Deletes: true}, ""},
		{"over 100%", "approval:\n  changed_share: 150%\n", Approval{}, "7:18: approval: changed_share must be a percentage from 0% to 100% such as 50%, or a number from 0 to 1, not \"150%\""},
		{"whole number", "approval:\n  changed_share: 50\n", Approval{}, "7:18: approval: changed_share must be a percentage"},
		{"typo", "approval:\n  delete: true\n", Approval{}, "7:3: "},
		{"negative min", "approval:\n  min_records: -1\n", Approval{}, "7:16: approval: min_records must be between 0 and"},
		{"not bool", "approval:\n  deletes: sometimes\n", Approval{}, "7:12: approval: deletes must be true or false"},
		{"not an object", "approval: 50%\n", Approval{}, "6:11: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			project := "version: 1\nconnectors:\n  erp: { type: odata, base_url: \"http://erp\" }\n  crm: { type: odata, base_url: \"http://crm\" }\nmappings: [m.yaml]\n" + tt.yaml
			mapping := "name: CUSTOMER\ntable: { connector: erp, entity: e, key: id }\nintegration: { connector: crm, entity: e, key: id }\nfields: [{ field: a, integration_field: a }]\n"
			if err := os.WriteFile(filepath.Join(dir, ProjectFile), []byte(project), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(mapping), 0o644); err != nil {
				t.Fatal(err)
			}
			p, diags := Load(dir, LoadOptions{Getenv: testEnv})
			if tt.wantErr != "" {
				pos, msg, _ := strings.Cut(tt.wantErr, ": ")
				for _, d := range diags {
					if d.Severity == Error && strings.HasSuffix(d.Pos.String(), ProjectFile+":"+pos) && strings.Contains(d.Message, msg) {
						return
					}
				}
				t.Fatalf("want an error at %s:%s with %q; got\n%v", ProjectFile, pos, msg, diags)
			}
			if diags.HasErrors() {
				t.Fatalf("unexpected diagnostics:\n%v", diags)
			}
			got := p.Approval
			got.Pos = Pos{}
			if got != tt.want {
				t.Errorf("Approval = %+v, want %+v", got, tt.want)
			}
		})
	}
}
