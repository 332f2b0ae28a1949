package engine_test

import (
	"bytes"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
	"github.com/couplerhq/coupler/schemas"
)

// TestRealPlanJSONMatchesItsSchema validates the JSON of real plans, with
// creates, updates, conflicts and unchanged records in both directions,
// against schemas/plan.schema.json.
func TestRealPlanJSONMatchesItsSchema(t *testing.T) {
	t.Parallel()
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Plan))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(schemas.PlanURL, doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(schemas.PlanURL)
	if err != nil {
		t.Fatal(err)
	}
	w := newBidiWorld(t, "")
	check := func(p *plan.Plan) {
		t.Helper()
		var b bytes.Buffer
		if err := report.PlanJSON(&b, p); err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(&b)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Errorf("plan %s does not match plan.schema.json: %v", p.ID, err)
		}
	}
	first := w.plan(engine.PlanOptions{})
	check(first)
	w.apply(first.ID)
	_, accountID := changeBothSides(t, w)
	if err := w.crm.Patch("accounts", accountID, connectors.Record{"name": "Renamed"}); err != nil {
		t.Fatal(err)
	}
	check(w.plan(engine.PlanOptions{Full: true}))
}
