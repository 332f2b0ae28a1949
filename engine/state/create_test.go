package state

import (
	"os"
	"path/filepath"
	"testing"
)

// A state file that does not exist, or exists empty (as a user's touch,
// or a crash before DuckDB wrote its header, leaves it), opens as a new
// state made with BlockSize blocks.
func TestOpenCreatesWithBlockSize(t *testing.T) {
	for name, prepare := range map[string]func(path string) error{
		"missing": func(string) error { return nil },
		"empty":   func(path string) error { return os.WriteFile(path, nil, 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.duckdb")
			if err := prepare(path); err != nil {
				t.Fatal(err)
			}
			db, err := Open(t.Context(), path, Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var size int64
			if err := db.db.QueryRowContext(t.Context(), `SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()`).Scan(&size); err != nil {
				t.Fatal(err)
			}
			if size != BlockSize {
				t.Errorf("block size %d, want %d", size, BlockSize)
			}
		})
	}
}
