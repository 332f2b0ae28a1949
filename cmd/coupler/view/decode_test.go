package view

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// TestDecodeRoundTrip: a listing printed as JSON (what coupler serve's API
// answers), read back and printed again, prints as the original does in
// both formats, so that a command reading through serve prints what it
// prints from the state database.
func TestDecodeRoundTrip(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 24, 8, 34, 14, 123456789, time.UTC)
	runs := []state.Run{
		{ID: 3, PlanID: "p3", Mapping: "CUSTOMER", Direction: "to_integration", StartedAt: at},
		{ID: 2, PlanID: "p2", Mapping: "CUSTOMER", Direction: "to_table", StartedAt: at.Add(-time.Hour), Interrupted: true, Inserted: 1},
		{ID: 1, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", StartedAt: at.Add(-2 * time.Hour),
			FinishedAt: at.Add(-2*time.Hour + 1500*time.Millisecond), Inserted: 50, Coupled: 2, Modified: 3, Deleted: 4, Uncoupled: 5, Unchanged: 6, Skipped: 7, Failed: 8},
	}
	plans := []state.PlanSummary{
		{ID: "p3", Name: "first-load", CreatedAt: at, Status: plan.Planned, Mappings: []string{"CONTACT", "CUSTOMER"}, Counts: plan.Counts{plan.Create: 50, plan.Update: 1}},
		{ID: "p1", CreatedAt: at.Add(-time.Hour), Status: plan.Applied, Counts: plan.Counts{}},
	}
	failures := []state.Failure{
		{RunID: 1, Mapping: "CUSTOMER", Direction: "to_integration", SourceID: "c-1", Op: "create", At: at, Message: "400 Bad Request",
			SourceDisplay: plan.Display{{Field: "number", Value: json.RawMessage(`"C00010"`)}, {Field: "name", Value: json.RawMessage(`"Contoso"`)}}},
		{RunID: 1, Mapping: "CUSTOMER", Direction: "to_integration", SourceID: "c-2", DestID: "a-2", Op: "skipped", At: at, Message: "412",
			DestDisplay: plan.Display{{Field: "accountnumber", Value: json.RawMessage(`"C00020"`)}}},
	}
	intents := []state.Intent{
		{RunID: 4, Seq: 2, PlanID: "p3", Mapping: "CUSTOMER", Direction: "to_integration", Op: "create", SourceID: "c-1", ClientKey: "k-1", CreatedAt: at},
		{RunID: 4, Seq: 3, PlanID: "p3", Mapping: "CUSTOMER", Direction: "to_integration", Op: "update", SourceID: "c-2", DestID: "a-2", CreatedAt: at},
	}
	back := func(t *testing.T, print func(*Printer) error) Listings {
		t.Helper()
		var b bytes.Buffer
		if err := print(&Printer{W: &b, Format: JSON}); err != nil {
			t.Fatal(err)
		}
		var l Listings
		if err := json.Unmarshal(b.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	for name, tc := range map[string]struct {
		original, decoded func(*Printer) error
	}{
		"runs": {func(p *Printer) error { return p.Runs(runs) }, func(p *Printer) error {
			var out []state.Run
			for _, j := range back(t, func(p *Printer) error { return p.Runs(runs) }).Runs {
				out = append(out, j.Decode())
			}
			return p.Runs(out)
		}},
		"plans": {func(p *Printer) error { return p.Plans(plans) }, func(p *Printer) error {
			var out []state.PlanSummary
			for _, j := range back(t, func(p *Printer) error { return p.Plans(plans) }).Plans {
				out = append(out, j.Decode())
			}
			return p.Plans(out)
		}},
		"failures": {func(p *Printer) error { return p.Failures(failures) }, func(p *Printer) error {
			var out []state.Failure
			for _, j := range back(t, func(p *Printer) error { return p.Failures(failures) }).Failures {
				out = append(out, j.Decode())
			}
			return p.Failures(out)
		}},
		"intents": {func(p *Printer) error { return p.Intents(intents) }, func(p *Printer) error {
			var out []state.Intent
			for _, j := range back(t, func(p *Printer) error { return p.Intents(intents) }).Intents {
				out = append(out, j.Decode())
			}
			return p.Intents(out)
		}},
	} {
		for _, f := range []Format{Text, JSON} {
			t.Run(name+"/"+string(f), func(t *testing.T) {
				var want, got bytes.Buffer
				if err := tc.original(&Printer{W: &want, Format: f, Loc: zone}); err != nil {
					t.Fatal(err)
				}
				if err := tc.decoded(&Printer{W: &got, Format: f, Loc: zone}); err != nil {
					t.Fatal(err)
				}
				if got.String() != want.String() {
					t.Errorf("read back, printed:\n%s\nwant:\n%s", got.String(), want.String())
				}
			})
		}
	}
}
