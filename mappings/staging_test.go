package mappings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStagingSettings: staging's memory_limit and temp_directory are read
// from the project file (a relative directory from the project's), both
// have defaults, and a bad value is reported at its file:line:col.
func TestStagingSettings(t *testing.T) {
	tests := []struct {
		name      string
		staging   string
		wantLimit int64
		wantTemp  string // relative to the project directory
		wantDiag  string
	}{
		{"defaults", "", 0, "state/db.duckdb.tmp", ""},
		{"both", "staging: { memory_limit: 1GiB, temp_directory: spill }", 1 << 30, "spill", ""},
		{"bytes", "staging: { memory_limit: 134217728 }", 128 << 20, "state/db.duckdb.tmp", ""},
		{"decimal unit", "staging: { memory_limit: 512MB }", 0, "",
			"coupler.yaml:2:26: staging: memory_limit must be a number of bytes between 67108864 and 1125899906842624, or one with a unit (B, KiB, MiB, GiB, TiB), e.g. 512MiB"},
		{"too little", "staging: { memory_limit: 512KiB }", 0, "",
			"coupler.yaml:2:26: staging: memory_limit must be a number of bytes between 67108864 and 1125899906842624, or one with a unit (B, KiB, MiB, GiB, TiB), e.g. 512MiB"},
		{"unknown key", "staging: { memory: 1GiB }", 0, "", "coupler.yaml:2:12: staging: unknown key \"memory\""},
		{"empty directory", "staging: { temp_directory: \"\" }", 0, "", "coupler.yaml:2:28: staging: temp_directory must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extract(t, "testdata/valid.txtar")
			y, err := os.ReadFile("coupler.yaml")
			if err != nil {
				t.Fatal(err)
			}
			y = []byte(strings.Replace(string(y), "version: 1\n", "version: 1\n"+tt.staging+"\n", 1))
			if err := os.WriteFile("coupler.yaml", y, 0o644); err != nil {
				t.Fatal(err)
			}
			p, diags := Load(".", LoadOptions{Getenv: testEnv})
			if tt.wantDiag != "" {
				if len(diags) == 0 || !strings.HasPrefix(diags[0].String(), tt.wantDiag) {
					t.Errorf("diagnostics %v, want %s", diags, tt.wantDiag)
				}
				return
			}
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %v", diags)
			}
			dir, err := filepath.Abs(".")
			if err != nil {
				t.Fatal(err)
			}
			want := Staging{MemoryLimit: tt.wantLimit, TempDirectory: filepath.Join(dir, tt.wantTemp)}
			if got := p.Staging; got.MemoryLimit != want.MemoryLimit || got.TempDirectory != want.TempDirectory {
				t.Errorf("staging %+v, want %+v", got, want)
			}
		})
	}
}

// TestDefaultStagingMemoryLimit: 128MiB on one or two DuckDB threads, where
// a million-record plan stays under 512 MiB resident, and past two 128MiB
// for each thread past the first, which the diff of a million records needs.
func TestDefaultStagingMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		threads int
		want    int64
	}{{0, 128 << 20}, {1, 128 << 20}, {2, 128 << 20}, {4, 384 << 20}, {8, 896 << 20}} {
		if got := DefaultStagingMemoryLimit(tt.threads); got != tt.want {
			t.Errorf("DefaultStagingMemoryLimit(%d) = %d MiB, want %d MiB", tt.threads, got>>20, tt.want>>20)
		}
	}
}
