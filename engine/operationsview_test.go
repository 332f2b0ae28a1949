package engine_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// operationsViewV4 is the operations view as schema version 4 defined it,
// to fabricate a state file of that version.
const operationsViewV4 = `CREATE OR REPLACE VIEW operations AS
	SELECT o.plan_id, o.mapping, o.direction, o.seq, o.op, o.source_id, o.dest_id, o.reason,
		c.field, c.before, c.after
	FROM plan_operations o
	LEFT JOIN plan_changes c ON c.plan_id = o.plan_id AND c.mapping = o.mapping AND c.direction = o.direction AND c.seq = o.seq`

// TestOperationsViewShowsKnownAfterApply pins that the operations view,
// the documented interface of coupler query and show --format parquet,
// shows a lookup known only after apply as the JSON plan does
// ({"known_after_apply": {...}}, schemas/plan.schema.json), never as the
// placeholder plans save internally, in a new state file and in one
// upgraded from schema version 4.
func TestOperationsViewShowsKnownAfterApply(t *testing.T) {
	t.Parallel()
	// An id with a quote and a backslash: the object must stay valid JSON.
	k := plan.KnownAfterApply{Mapping: "CURRENCY", Side: plan.SideTable, ID: `EU"R\`}
	placeholder, err := json.Marshal(k.Placeholder())
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal([]byte(`{"known_after_apply": {"mapping": "CURRENCY", "side": "table", "id": "EU\"R\\"}}`), &want); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v4   bool
	}{{"new file", false}, {"file of schema version 4", true}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.duckdb")
			openState(t, path).Close()
			if tc.v4 {
				rawExec(t, path, append(asVersion8, operationsViewV4, `DROP MACRO known_after_apply_json`, `DROP TABLE assigned_values`,
					`UPDATE meta SET value = '4' WHERE key = 'schema_version'`)...)
			}
			// Version 9 keeps a plan's changes under its part's number.
			changes, part := "plan_changes", "'p1', 'CUSTOMER', 'to_integration'"
			if !tc.v4 {
				changes, part = "plan_change_values", "1"
				rawExec(t, path, `INSERT INTO plan_change_parts VALUES (1, 'p1', 'CUSTOMER', 'to_integration')`)
			}
			rawExec(t, path,
				`INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id) VALUES ('p1', 'CUSTOMER', 'to_integration', 1, 'create', 'c1')`,
				`INSERT INTO `+changes+` VALUES (`+part+`, 1, 'transactioncurrencyid', NULL, '`+string(placeholder)+`')`,
				`INSERT INTO `+changes+` VALUES (`+part+`, 1, 'name', NULL, '"Contoso"')`)
			// Opening migrates the version 4 file.
			openState(t, path).Close()

			got := rawQuery(t, path, `SELECT after FROM operations WHERE field = 'transactioncurrencyid'`)
			var v any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatalf("after = %q, not JSON: %v", got, err)
			}
			if !reflect.DeepEqual(v, want) {
				t.Errorf("after = %s, want the JSON plan's known_after_apply object", got)
			}
			if got := rawQuery(t, path, `SELECT after FROM operations WHERE field = 'name'`); got != `"Contoso"` {
				t.Errorf("a plain value reads %s, want \"Contoso\"", got)
			}
			if got := rawQuery(t, path, `SELECT count(*) FROM operations WHERE contains(after, 'known after apply')`); got != "0" {
				t.Errorf("%s rows still show the internal placeholder", got)
			}
			// Version 5 also added assigned_values.
			if got := rawQuery(t, path, `SELECT count(*) FROM assigned_values`); got != "0" {
				t.Errorf("assigned_values: %s", got)
			}
		})
	}
}
