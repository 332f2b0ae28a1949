package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// opOf returns the operation of part m on source record id.
func opOf(t *testing.T, m *plan.MappingPlan, id string) plan.Operation {
	t.Helper()
	for _, op := range m.Operations {
		if op.SourceID == id {
			return op
		}
	}
	t.Fatalf("%s part lists no operation on %s: %+v", m.Direction, id, m.Operations)
	return plan.Operation{}
}

// TestSettledConflictNamesWhatIsDropped: a conflict that conflicts.update
// settles is its own kind, not a record "left out", and its reason names
// every value of the losing side that is dropped, next to the value kept:
// the loser's edit to a field the winner did not touch (the CRM's new name
// when the ERP wins) included, since the winner's record is written whole.
func TestSettledConflictNamesWhatIsDropped(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		policy, loser string
		want          []string // in the loser's reason
		city          string   // on both sides after apply
	}{
		{"send_to_integration", "from_integration", []string{
			`the table side (bc) wins, the integration side (dataverse)'s values are dropped`,
			`city "From the ERP" kept, "From the CRM" dropped`,
			`displayName "%s" kept, "Renamed in the CRM" dropped`}, "From the ERP"},
		{"get_from_integration", "to_integration", []string{
			`the integration side (dataverse) wins, the table side (bc)'s values are dropped`,
			`address1_city "From the CRM" kept, "From the ERP" dropped`,
			`name "Renamed in the CRM" kept, "%s" dropped`}, "From the CRM"},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			w := newBidiWorld(t, "conflicts: { update: "+tt.policy+" }")
			customerID, accountID := changeBothSides(t, w)
			if err := w.crm.Patch("accounts", accountID, connectors.Record{"name": "Renamed in the CRM"}); err != nil {
				t.Fatal(err)
			}
			c, _ := w.erp.Get("customers", customerID)
			p := w.plan(engine.PlanOptions{})
			loser := part(t, p, tt.loser)
			if loser.Counts[plan.Settled] != 1 || loser.Counts[plan.Skip] != 0 || loser.Counts[plan.Conflict] != 0 {
				t.Errorf("%s counts %v: want one settled conflict, nothing left out", tt.loser, loser.Counts)
			}
			id := customerID
			if tt.loser == "from_integration" {
				id = accountID
			}
			op := opOf(t, loser, id)
			if op.Kind != plan.Settled || len(op.Changes) != 0 {
				t.Errorf("loser's operation %+v: want settled, writing nothing", op)
			}
			for _, want := range tt.want {
				if strings.Contains(want, "%s") {
					want = fmt.Sprintf(want, c["displayName"])
				}
				if !strings.Contains(op.Reason, want) {
					t.Errorf("reason %q lacks %q", op.Reason, want)
				}
			}
			if !p.HasChanges() || p.InStep() {
				t.Errorf("the winner's update is a change: changes %v, in step %v", p.HasChanges(), p.InStep())
			}
			w.apply(p.ID)
			c, _ = w.erp.Get("customers", customerID)
			a, _ := w.crm.Get("accounts", accountID)
			if c["city"] != tt.city || a["address1_city"] != tt.city || c["displayName"] != a["name"] {
				t.Errorf("after apply: customer %v %v, account %v %v; want the winner's values on both", c["city"], c["displayName"], a["address1_city"], a["name"])
			}
			if again := w.plan(engine.PlanOptions{}); !again.InStep() {
				t.Errorf("plan after settling is not in step: to %v, from %v", part(t, again, "to_integration").Counts, part(t, again, "from_integration").Counts)
			}
		})
	}
}

// TestSettledConflictStillWritesOneWayFields: the losing side of a settled
// conflict still writes its one-way fields, and the plan shows them.
func TestSettledConflictStillWritesOneWayFields(t *testing.T) {
	t.Parallel()
	w := newBidiWorldWith(t, `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: bidirectional
sync_only_coupled: false
conflicts: { update: get_from_integration }
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
  - { field: city, integration_field: address1_city }
  - { field: phoneNumber, integration_field: telephone1, direction: to_integration }
`)
	customerID, accountID := changeBothSides(t, w)
	if err := w.erp.Patch("customers", customerID, connectors.Record{"phoneNumber": "+47 555 0100"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	op := opOf(t, part(t, p, "to_integration"), customerID)
	if op.Kind != plan.Settled || len(op.Changes) != 1 || op.Changes[0].Field != "telephone1" ||
		!strings.Contains(op.Reason, `address1_city "From the CRM" kept, "From the ERP" dropped`) {
		t.Fatalf("the ERP's operation %+v: want settled, writing telephone1 only", op)
	}
	res := w.apply(p.ID)
	if res.Runs[0].Modified != 1 {
		t.Errorf("to_integration run %+v: want the one-way write counted as modified", res.Runs[0])
	}
	a, _ := w.crm.Get("accounts", accountID)
	c, _ := w.erp.Get("customers", customerID)
	if a["telephone1"] != "+47 555 0100" || a["address1_city"] != "From the CRM" || c["city"] != "From the CRM" {
		t.Errorf("after apply: account %v %v, customer city %v", a["telephone1"], a["address1_city"], c["city"])
	}
	if again := w.plan(engine.PlanOptions{}); !again.InStep() {
		t.Errorf("plan after settling is not in step: to %v, from %v", part(t, again, "to_integration").Counts, part(t, again, "from_integration").Counts)
	}
}

// TestSkippedRecordsStayInSight: a record skipped after failing twice is
// counted and listed by every later plan, though the watermark moves on
// past it and the plan does not read it; coupler errors lists it, the run
// log counts it as skipped, and the plan is never in step.
func TestSkippedRecordsStayInSight(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 5, `  - { field: city, integration_field: description, to_integration: 'value == "Boom" ? int("x") : value' }`)
	bad := w.erp.All("customers")[2]
	badID := bad["id"].(string)
	if err := w.erp.Patch("customers", badID, map[string]any{"city": "Boom"}); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		p := w.plan(engine.PlanOptions{})
		if round == 2 && (p.HasChanges() || p.InStep()) {
			t.Errorf("a plan whose only record failed: changes %v, in step %v; want neither", p.HasChanges(), p.InStep())
		}
		w.e.Apply(t.Context(), p.ID)
	}
	for round := 1; round <= 3; round++ {
		p := w.plan(engine.PlanOptions{})
		m := p.Mappings[0]
		if m.Counts[plan.Skipped] != 1 || m.Counts[plan.Skip] != 0 {
			t.Fatalf("plan %d after the skip: counts %v; want the record counted as skipped", round, m.Counts)
		}
		if m.Counts[plan.Unchanged]+m.NotModified != 4 {
			t.Errorf("plan %d: %d unchanged and %d not modified; want the 4 others, the skipped record not counted twice", round, m.Counts[plan.Unchanged], m.NotModified)
		}
		if op := opOf(t, m, badID); op.Kind != plan.Skipped || !strings.Contains(op.Reason, "skipped: failed 2 runs in a row") {
			t.Errorf("plan %d: %+v; want the record listed as skipped", round, op)
		}
		if p.InStep() {
			t.Errorf("plan %d is in step with a skipped record", round)
		}
		res := w.apply(p.ID)
		if res.Runs[0].Skipped != 1 {
			t.Errorf("run %d: %+v; want the record counted as skipped", round, res.Runs[0])
		}
	}
	fs, err := w.e.State().Failures(t.Context(), "CUSTOMER", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].SourceID != badID || fs[0].Op != "skipped" || !strings.Contains(fs[0].Message, "skipped after failing 2 runs in a row") {
		t.Errorf("coupler errors lists %+v; want the skipped record", fs)
	}
	if _, err := w.e.Retry(t.Context(), "CUSTOMER", []string{badID}); err != nil {
		t.Fatal(err)
	}
	if c := counts(w.plan(engine.PlanOptions{})); c[plan.Fail] != 1 || c[plan.Skipped] != 0 {
		t.Errorf("after retry: counts %v; want the record read and failed again", c)
	}
}
