package engine

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// A create rolled back with its change set (atomicity: batch) is known not
// to have happened: the server said so. settleFailed must not read it back,
// let alone keep its intent as "cannot tell", which stops every later plan.
func TestRolledBackCreateIsNotSettled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		modified string
		recs     []connectors.Record
	}{
		{name: "no modified field", modified: ""},
		{name: "a look-alike record exists", modified: "modifiedon",
			recs: []connectors.Record{{"accountid": "11111111-1111-4111-8111-111111111111", "name": "Acme", "modifiedon": "2030-01-01T00:00:00Z"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db, err := state.Open(ctx, filepath.Join(t.TempDir(), "state.duckdb"), state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			e := &Engine{store: db, work: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now, prog: &Program{Project: &mappings.Project{
				Connectors: []*mappings.Connector{{Config: connectors.Config{Name: "dataverse", Type: "odata"}}}}}}
			entity := connectors.Entity{Name: "accounts", Key: "accountid", Modified: tc.modified}
			target := writeTarget{planID: "p1", part: state.Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"},
				side: state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, runID: 1, key: "accountid", connector: "dataverse"}
			intents := []state.Intent{{RunID: 1, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: 1, Op: "create",
				SourceID: "c1", Fields: `{"name":"Acme"}`, CreatedAt: time.Now()}}
			out := []connectors.WriteResult{{Err: fmt.Errorf("create accounts: %w: record c2 failed: 400", connectors.ErrRolledBack)}}
			settled, unsettled, err := e.settleFailed(ctx, &recordsConn{recs: tc.recs}, entity, target, intents, out, nil)
			if err != nil || len(unsettled) > 0 {
				t.Errorf("rolled-back create left unsettled (intent kept, apply and every later plan stop): %v", err)
			}
			if len(settled) > 0 {
				t.Errorf("rolled-back create settled as happened, coupled to %q", settled[0].Key)
			}
		})
	}
}
