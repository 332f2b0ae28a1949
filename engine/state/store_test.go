package state_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/statetest"
)

func TestMain(m *testing.M) {
	statetest.OneThread()
	os.Exit(m.Run())
}

// TestStore holds the DuckDB state to the state conformance suite, which
// the PostgreSQL state passes too.
func TestStore(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store {
		db, err := state.Open(t.Context(), filepath.Join(t.TempDir(), "state.duckdb"), state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
