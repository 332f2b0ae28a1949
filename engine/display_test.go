package engine_test

import (
	"encoding/json"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

const displayMapping = `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime, display: [number, displayName] }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon, display: [accountnumber, name] }
direction: bidirectional
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber }
  - { field: city, integration_field: address1_city }
`

// displayOf renders display values as "field=value" pairs, for comparing.
func displayOf(d plan.Display) map[string]string {
	if d == nil {
		return nil
	}
	out := map[string]string{}
	for _, v := range d {
		var s string
		if json.Unmarshal(v.Value, &s) != nil {
			s = string(v.Value)
		}
		out[v.Field] = s
	}
	return out
}

// TestPlanCapturesDisplayValues: a side's display fields are read (even one
// the mapping does not map, displayName here) and captured with each
// operation from the staged rows: the source's always, the destination's
// where the record exists there; they survive the state database and a
// later change to the records.
func TestPlanCapturesDisplayValues(t *testing.T) {
	w := newBidiWorldWith(t, displayMapping,
		connectors.Record{"accountnumber": "A-1", "name": "Only in the CRM", "address1_city": "Oslo"})
	first := w.plan(engine.PlanOptions{})
	to := part(t, first, "to_integration")
	c0 := fake.Customer(0)
	var found bool
	for _, op := range to.Operations {
		if op.SourceID != fake.CustomerID(0) {
			continue
		}
		found = true
		if op.Kind != plan.Create {
			t.Fatalf("customer 0: op %s, want create", op.Kind)
		}
		got := displayOf(op.SourceDisplay)
		if got["number"] != string(c0["number"].(string)) || got["displayName"] != c0["displayName"].(string) || len(op.SourceDisplay) != 2 || op.SourceDisplay[0].Field != "number" {
			t.Errorf("customer 0 source display = %v, want number %v and displayName %v in that order", op.SourceDisplay, c0["number"], c0["displayName"])
		}
		if op.DestDisplay != nil {
			t.Errorf("a create's destination display = %v, want none: the record does not exist yet", op.DestDisplay)
		}
	}
	if !found {
		t.Fatal("no operation for customer 0")
	}
	from := part(t, first, "from_integration")
	if len(from.Operations) != 1 || displayOf(from.Operations[0].SourceDisplay)["name"] != "Only in the CRM" {
		t.Fatalf("from_integration operations = %+v, want the account with its name", from.Operations)
	}
	w.apply(first.ID)

	// An update shows both sides as they were read.
	if err := w.erp.Patch("customers", fake.CustomerID(0), connectors.Record{"city": "Elsewhere"}); err != nil {
		t.Fatal(err)
	}
	second := w.plan(engine.PlanOptions{})
	to = part(t, second, "to_integration")
	var upd *plan.Operation
	for i := range to.Operations {
		if to.Operations[i].Kind == plan.Update {
			upd = &to.Operations[i]
		}
	}
	if upd == nil {
		t.Fatalf("no update in %+v", to.Operations)
	}
	if got := displayOf(upd.DestDisplay); got["accountnumber"] != c0["number"].(string) || len(got) != 1 {
		t.Errorf("update destination display = %v, want the account's number alone (its name is null: not mapped)", got)
	}
	if got := displayOf(upd.SourceDisplay); got["number"] != c0["number"].(string) {
		t.Errorf("update source display = %v", got)
	}

	// The update fails (the account was edited since the plan): coupler
	// errors shows the record by its display fields too, from the plan its
	// run applied.
	if err := w.crm.Patch("accounts", upd.DestID, connectors.Record{"address1_city": "From the CRM"}); err != nil {
		t.Fatal(err)
	}
	w.apply(second.ID)
	fs, err := w.e.State().Failures(t.Context(), "CUSTOMER", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || displayOf(fs[0].SourceDisplay)["displayName"] != c0["displayName"].(string) || displayOf(fs[0].DestDisplay)["accountnumber"] != c0["number"].(string) {
		t.Errorf("failures = %+v, want the failed update with both sides' display values", fs)
	}
}
