package schemas

import (
	"bytes"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CompilePlan compiles the plan schema; tests elsewhere validate real plan
// output with it.
func compilePlan(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Plan))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(PlanURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(PlanURL)
	if err != nil {
		t.Fatalf("plan schema: %v", err)
	}
	return s
}

// TestPlanSchemaAcceptsTheGoldenPlan keeps the schema and the report's
// golden JSON plan in step.
func TestPlanSchemaAcceptsTheGoldenPlan(t *testing.T) {
	s := compilePlan(t)
	data, err := os.ReadFile("../engine/report/testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Errorf("the golden plan does not match the schema: %v", err)
	}
	// And the schema rejects what it should.
	bad, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"format_version": 2}`)))
	if s.Validate(bad) == nil {
		t.Error("a plan of another format version was accepted")
	}
}

// TestPlanSchemaAcceptsEveryKind validates the golden plan with one
// operation of every kind, a lookup known after apply among them: the JSON
// plan shows that lookup in the schema's documented form, never the
// engine's internal placeholder.
func TestPlanSchemaAcceptsEveryKind(t *testing.T) {
	s := compilePlan(t)
	data, err := os.ReadFile("../engine/report/testdata/every-kind.json")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(`\u0000`)) {
		t.Error("the JSON plan holds a NUL character: an internal placeholder leaked")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Errorf("the every-kind plan does not match the schema: %v", err)
	}
	if !bytes.Contains(data, []byte(`"known_after_apply"`)) {
		t.Error("the every-kind plan does not show its lookup as known_after_apply")
	}
	// An object claiming to be known after apply must say what it waits for.
	bad := []byte(`{"format_version": 1, "id": "x", "created_at": "2026-01-01T00:00:00Z", "full": false, "fingerprint": "f", "status": "planned",
		"changes": true, "totals": {}, "mappings": [{"mapping": "M", "direction": "to_integration",
		"source": {"side": "table", "connector": "a", "entity": "e", "key": "id"},
		"destination": {"side": "integration", "connector": "b", "entity": "f", "key": "id"},
		"read_started": "2026-01-01T00:00:00Z", "read": 1, "not_modified": 0, "destination_read": 0, "coupled": 0, "counts": {},
		"operations": [{"seq": 1, "op": "create", "source_id": "1", "changes": [{"field": "x", "before": null, "after": {"known_after_apply": {}}}]}]}]}`)
	badDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	if s.Validate(badDoc) == nil {
		t.Error("a known_after_apply value without its mapping, side and id was accepted")
	}
}
