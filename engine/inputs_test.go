package engine_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine"
)

// TestApplyRefusesAPlanMadeFromOtherInputs: apply reads the project again
// (connector settings, client keys, alternate keys) but executes the plan's
// operations, so a plan made from other mapping or connector settings than
// the project's now is refused, naming what changed, and writes nothing.
// An edit that cannot change an operation (a comment, the page size or
// retries of a connector) is no reason to refuse.
func TestApplyRefusesAPlanMadeFromOtherInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(t *testing.T, dir string)
		refused []string // what the error names; nil: applied
	}{
		{"a transform edited", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "mappings", "customer.yaml"),
				"{ field: displayName, integration_field: name, to_integration: trim(value) }",
				"{ field: displayName, integration_field: name, to_integration: upper(trim(value)) }")
		}, []string{"mapping CUSTOMER", "edited", "run coupler plan again"}},
		{"a filter edited", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "mappings", "customer.yaml"), `filter: blocked == " "`, `filter: blocked == " " && city != "Oslo"`)
		}, []string{"mapping CUSTOMER", "run coupler plan again"}},
		{"a connector's writes changed", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "coupler.yaml"), `dataverse: { type: odata,`, `dataverse: { type: odata, client_keys: true,`)
		}, []string{"connector", "dataverse", "run coupler plan again"}},
		{"a comment added", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "mappings", "customer.yaml"), "fields:\n", "# reviewed\nfields:\n")
		}, nil},
		{"transport settings changed", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "coupler.yaml"), "page_size: 40, max_retries: 3 }", "page_size: 20, max_retries: 5 }")
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, 5)
			p := w.plan(engine.PlanOptions{})
			tt.edit(t, w.dir)
			w.reopen()
			_, err := w.e.Apply(t.Context(), p.ID)
			if tt.refused == nil {
				if err != nil {
					t.Fatalf("apply after an edit that changes no operation: %v", err)
				}
				if n := w.crm.Len("accounts"); n != 5 {
					t.Errorf("%d accounts, want 5", n)
				}
				return
			}
			if !errors.Is(err, engine.ErrStalePlan) {
				t.Fatalf("apply of a plan made from other inputs: err = %v, want ErrStalePlan", err)
			}
			for _, s := range tt.refused {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if n := w.crm.Len("accounts"); n != 0 {
				t.Errorf("the refused apply wrote %d accounts", n)
			}
		})
	}
}

// reopen opens the engine on the project files again, as the next command
// does after a user edited them.
func (w *world) reopen() {
	w.t.Helper()
	if err := w.e.Close(); err != nil {
		w.t.Fatal(err)
	}
	e, diags, err := engine.OpenProject(w.t.Context(), w.dir, w.load, engine.Options{})
	if err != nil {
		w.t.Fatalf("open project: %v\n%v", err, diags)
	}
	w.t.Cleanup(func() { e.Close() })
	w.e = e
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}
