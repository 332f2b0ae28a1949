package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// TestAssignedNumberFlowsBack pins that a value the destination assigns
// when coupler creates a record there, in a field that flows both ways,
// reaches the side the record came from: an account without a number
// becomes a customer that Business Central numbers from its number series,
// and the next plan writes that number to the account, as an update it
// shows, without writing the blank back over the customer's number or
// calling it a conflict; the plan after is empty. The account edited in the
// meantime keeps its edit.
func TestAssignedNumberFlowsBack(t *testing.T) {
	t.Parallel()
	for _, edited := range []bool{false, true} {
		t.Run(fmt.Sprintf("account edited meanwhile %v", edited), func(t *testing.T) {
			w := newBidiWorldWith(t, fmt.Sprintf(bidiMapping, "conflicts: { update: send_to_integration }"),
				connectors.Record{"name": "No number in the CRM", "address1_city": "Oslo"})
			p := w.plan(engine.PlanOptions{})
			if got := part(t, p, "from_integration").Counts[plan.Create]; got != 1 {
				t.Fatalf("from_integration creates = %d, want 1", got)
			}
			w.apply(p.ID)
			cust := recordNamed(t, w.erp.All("customers"), "displayName", "No number in the CRM")
			number, _ := cust["number"].(string)
			if strings.TrimSpace(number) == "" {
				t.Fatalf("the customer made from the account has no number (%v): Business Central assigns one from its number series", cust["number"])
			}
			acc := recordNamed(t, w.crm.All("accounts"), "name", "No number in the CRM")
			if edited {
				if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"name": "Renamed in the CRM"}); err != nil {
					t.Fatal(err)
				}
			}

			next := w.plan(engine.PlanOptions{})
			back := operationOf(t, next, cust["id"].(string))
			if back.Kind != plan.Update || len(back.Changes) != 1 || back.Changes[0].Field != "accountnumber" ||
				string(back.Changes[0].After) != fmt.Sprintf("%q", number) {
				t.Fatalf("next plan, customer %s: %s %s, want an update of accountnumber to %q", cust["id"], back.Kind, changesText(back), number)
			}
			if !strings.Contains(back.Reason, "assigned") {
				t.Errorf("the write-back's reason %q does not say the value was assigned", back.Reason)
			}
			// Unedited, the account is unchanged: plans count such records
			// and list none (schema version 8).
			var from plan.Operation
			if edited {
				from = operationOf(t, next, acc["accountid"].(string))
			} else {
				for _, m := range next.Mappings {
					for _, op := range m.Operations {
						if op.SourceID == acc["accountid"] {
							t.Errorf("the unedited account is listed: %s %s", op.Kind, changesText(op))
						}
					}
				}
			}
			if _, ok := changeOf(from, "number"); ok {
				t.Errorf("the account's blank number is written over the assigned one: %s %s", from.Kind, changesText(from))
			}
			for _, m := range next.Mappings {
				if m.Counts[plan.Conflict]+m.Counts[plan.Settled] > 0 {
					t.Errorf("%s: %v: the write-back is no conflict", m.Direction, m.Counts)
				}
			}
			if edited && (from.Kind != plan.Update || len(from.Changes) != 1) {
				t.Errorf("the account's rename: %s %s, want an update of displayName", from.Kind, changesText(from))
			}
			w.apply(next.ID)

			acc = recordNamed(t, w.crm.All("accounts"), "accountid", acc["accountid"].(string))
			if acc["accountnumber"] != number {
				t.Errorf("account number = %v, want the assigned %s", acc["accountnumber"], number)
			}
			cust, _ = w.erp.Get("customers", cust["id"].(string))
			if cust["number"] != number {
				t.Errorf("customer number = %v after the write-back, want %s", cust["number"], number)
			}
			if edited && cust["displayName"] != "Renamed in the CRM" {
				t.Errorf("customer name = %v, want the account's rename", cust["displayName"])
			}
			if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
				t.Errorf("the plan after the write-back has changes: to %v, from %v",
					part(t, again, "to_integration").Counts, part(t, again, "from_integration").Counts)
			}
		})
	}
}

// recordNamed returns the one record whose field holds value.
func recordNamed(t *testing.T, recs []connectors.Record, field string, value any) connectors.Record {
	t.Helper()
	var out []connectors.Record
	for _, r := range recs {
		if r[field] == value {
			out = append(out, r)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d records with %s = %v, want 1", len(out), field, value)
	}
	return out[0]
}

func changesText(op plan.Operation) string {
	var parts []string
	for _, c := range op.Changes {
		parts = append(parts, fmt.Sprintf("%s %s -> %s", c.Field, c.Before, c.After))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
