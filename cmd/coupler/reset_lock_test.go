package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/lock"
	"github.com/couplerhq/coupler/engine/state"
)

// TestResetRefusesWhileAnotherCouplerRuns: reset clears watermarks in the
// state database, so it takes coupler's lock as every other command that
// opens it does; while another coupler (serve, an apply) holds it, reset
// writes nothing, neither the mapping files nor the state.
func TestResetRefusesWhileAnotherCouplerRuns(t *testing.T) {
	t.Parallel()
	proj := filepath.Join(t.TempDir(), "proj")
	var out, errb bytes.Buffer
	if code := run([]string{"init", proj, "--defaults", "bc-dataverse"}, &out, &errb); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb.String())
	}
	customer := filepath.Join(proj, "mappings", "customer.yaml")
	custom, err := os.ReadFile(customer)
	if err != nil {
		t.Fatal(err)
	}
	custom = append(custom, "# a customization reset would undo\n"...)
	if err := os.WriteFile(customer, custom, 0o644); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(proj, ".coupler", "state.duckdb")
	db, err := state.Open(t.Context(), statePath, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	held, err := lock.Acquire(statePath, "coupler serve")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()

	out.Reset()
	errb.Reset()
	code := run([]string{"-C", proj, "reset", "--yes", "--mapping", "CUSTOMER"}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "in use by another coupler") {
		t.Fatalf("reset while the lock is held: exit %d, stderr %q; want a refusal naming the other coupler", code, errb.String())
	}
	if got, _ := os.ReadFile(customer); !bytes.Equal(got, custom) {
		t.Errorf("reset rewrote %s while refusing", customer)
	}
}
