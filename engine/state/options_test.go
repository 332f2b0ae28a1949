package state

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOptionsBoundMemory: Options.MemoryLimit and TempDirectory reach
// DuckDB (the project's staging: settings, engine.Open passes them in
// KiB), and a limit DuckDB refuses is an error naming the setting.
func TestOptionsBoundMemory(t *testing.T) {
	dir := t.TempDir()
	spill := filepath.Join(dir, "spill")
	d, err := Open(t.Context(), filepath.Join(dir, "state.duckdb"), Options{MemoryLimit: "102400KiB", TempDirectory: spill})
	if err != nil {
		t.Fatal(err)
	}
	var limit, tmp string
	if err := d.db.QueryRowContext(t.Context(), `SELECT current_setting('memory_limit'), current_setting('temp_directory')`).Scan(&limit, &tmp); err != nil {
		t.Fatal(err)
	}
	if limit != "100.0 MiB" || tmp != spill {
		t.Errorf("memory_limit %q, temp_directory %q; want 100.0 MiB and %q", limit, tmp, spill)
	}
	d.Close()
	_, err = Open(t.Context(), filepath.Join(dir, "state.duckdb"), Options{MemoryLimit: "lots"})
	if err == nil || !strings.Contains(err.Error(), "staging: memory_limit lots") {
		t.Errorf("memory_limit lots: %v, want an error naming the setting", err)
	}
}
