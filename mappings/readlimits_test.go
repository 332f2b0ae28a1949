package mappings

import (
	"os"
	"strings"
	"testing"
)

// TestReadLimitSettings: max_pages and max_read_bytes are read into the
// connector's settings (a size with a unit, or bytes), and a bad value is
// reported at its file:line:col.
func TestReadLimitSettings(t *testing.T) {
	tests := []struct {
		settings  string
		wantPages int
		wantBytes int64
		wantDiag  string
	}{
		{"max_pages: 500, max_read_bytes: 2GiB", 500, 2 << 30, ""},
		{"max_read_bytes: 1048576", 0, 1 << 20, ""},
		{"max_read_bytes: 512 MiB", 0, 512 << 20, ""},
		{"max_pages: 0", 0, 0, "coupler.yaml:7:16: connector crm: max_pages must be between 1 and 2147483647"},
		{"max_read_bytes: 2GB", 0, 0,
			"coupler.yaml:7:21: connector crm: max_read_bytes must be a number of bytes between 1024 and 1125899906842624, or one with a unit (B, KiB, MiB, GiB, TiB), e.g. 512MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			extract(t, "testdata/valid.txtar")
			y, err := os.ReadFile("coupler.yaml")
			if err != nil {
				t.Fatal(err)
			}
			y = []byte(strings.Replace(string(y), "    type: odata\n", "    type: odata\n    "+strings.ReplaceAll(tt.settings, ", ", "\n    ")+"\n", 1))
			if err := os.WriteFile("coupler.yaml", y, 0o644); err != nil {
				t.Fatal(err)
			}
			p, diags := Load(".", LoadOptions{Getenv: testEnv})
			if tt.wantDiag != "" {
				if len(diags) != 1 || diags[0].String() != tt.wantDiag {
					t.Errorf("diagnostics %v, want %s", diags, tt.wantDiag)
				}
				return
			}
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %v", diags)
			}
			l := odataSettings(t, p.Connector("crm")).Limits
			if l.MaxPages != tt.wantPages || l.MaxBytes != tt.wantBytes {
				t.Errorf("limits %+v, want %d pages, %d bytes", l, tt.wantPages, tt.wantBytes)
			}
		})
	}
}
