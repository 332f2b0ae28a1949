package state

import (
	"path/filepath"
	"strconv"
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

// TestOptionsMemoryLimitFollowsThreads: without a MemoryLimit,
// MemoryLimitFor gets the threads DuckDB runs on and its limit is set;
// MemoryLimit, when given, wins.
func TestOptionsMemoryLimitFollowsThreads(t *testing.T) {
	perThread := func(threads int) string { return strconv.Itoa(threads*64) + "MiB" }
	for _, tt := range []struct {
		name      string
		opts      Options
		wantLimit string // DuckDB's current_setting
		wantOwn   string // (*DB).MemoryLimit
	}{
		{"one thread", Options{Threads: 1, MemoryLimitFor: perThread}, "64.0 MiB", "64MiB"},
		{"three threads", Options{Threads: 3, MemoryLimitFor: perThread}, "192.0 MiB", "192MiB"},
		{"a limit given", Options{Threads: 3, MemoryLimit: "100MiB", MemoryLimitFor: perThread}, "100.0 MiB", "100MiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(t.Context(), filepath.Join(t.TempDir(), "state.duckdb"), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var limit string
			if err := d.db.QueryRowContext(t.Context(), `SELECT current_setting('memory_limit')`).Scan(&limit); err != nil {
				t.Fatal(err)
			}
			if limit != tt.wantLimit || d.MemoryLimit() != tt.wantOwn {
				t.Errorf("memory_limit %q, MemoryLimit() %q; want %q and %q", limit, d.MemoryLimit(), tt.wantLimit, tt.wantOwn)
			}
		})
	}
}
