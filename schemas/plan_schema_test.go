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
