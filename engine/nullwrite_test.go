package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// TestNullSourceValueIsWrittenOnCreateAsOnUpdate pins that a null source
// value means the same on create as on update: the destination field is
// written null (a create that left it out would leave the service's default
// there, which a later update would replace with null, so one source value
// would end as two destination values depending on history). A not_null
// field is never written null, on create either.
func TestNullSourceValueIsWrittenOnCreateAsOnUpdate(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("testdata/customer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	variant := strings.Replace(string(body), "{ field: website, integration_field: websiteurl }", "{ field: website, integration_field: websiteurl, not_null: true }", 1)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "customer.yaml"), variant)
	w := newWorldFrom(t, 2, filepath.Join(dir, "customer.yaml"))
	c := w.erp.All("customers")[0]
	id := c["id"].(string)
	if err := w.erp.Patch("customers", id, connectors.Record{"city": nil, "website": nil}); err != nil {
		t.Fatal(err)
	}

	p := w.plan(engine.PlanOptions{})
	create := operationOf(t, p, id)
	if create.Kind != plan.Create {
		t.Fatalf("customer %s: %s, want create", id, create.Kind)
	}
	city, ok := changeOf(create, "address1_city")
	if !ok {
		t.Errorf("the create leaves out address1_city, whose source value is null; an update writes it null (changes: %+v)", create.Changes)
	} else if city.After != nil {
		t.Errorf("address1_city after = %s, want null", city.After)
	}
	if web, ok := changeOf(create, "websiteurl"); ok {
		t.Errorf("the create writes not_null websiteurl = %s; a not_null field is never written null", web.After)
	}
	w.apply(p.ID)

	// The update path, for comparison: the account's city set by hand is
	// written back to null, the create's value.
	acc := accountOf(w, c["number"])
	if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"address1_city": "Somewhere"}); err != nil {
		t.Fatal(err)
	}
	full := w.plan(engine.PlanOptions{Full: true})
	update := operationOf(t, full, id)
	if city, ok := changeOf(update, "address1_city"); update.Kind != plan.Update || !ok || city.After != nil {
		t.Errorf("after the account's city is set: %s %+v, want an update of address1_city to null", update.Kind, update.Changes)
	}
}

func operationOf(t *testing.T, p *plan.Plan, sourceID string) plan.Operation {
	t.Helper()
	for _, m := range p.Mappings {
		for _, op := range m.Operations {
			if op.SourceID == sourceID {
				return op
			}
		}
	}
	t.Fatalf("plan %s has no operation for %s", p.ID, sourceID)
	return plan.Operation{}
}

func changeOf(op plan.Operation, field string) (plan.Change, bool) {
	for _, c := range op.Changes {
		if c.Field == field {
			return c, true
		}
	}
	return plan.Change{}, false
}
