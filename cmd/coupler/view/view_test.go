package view

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestGolden pins every listing in both formats: the JSON shapes are an
// interface scripts rely on (docs/cli-json.md), and text shows times with
// their offset. go test ./cmd/coupler/view -update rewrites the files.
func TestGolden(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	started := time.Date(2026, 11, 24, 8, 34, 14, 0, time.UTC)
	runs := []state.Run{
		{ID: 3, PlanID: "20261124-083414-6f80fe", Mapping: "CUSTOMER", Direction: "to_integration", StartedAt: started},
		{ID: 2, PlanID: "20261124-083000-aaaaaa", Mapping: "CUSTOMER", Direction: "to_table", StartedAt: started.Add(-time.Hour), Interrupted: true, Inserted: 1},
		{ID: 1, PlanID: "20261124-073000-bbbbbb", Mapping: "CUSTOMER", Direction: "to_integration", StartedAt: started.Add(-2 * time.Hour),
			FinishedAt: started.Add(-2*time.Hour + 1500*time.Millisecond), Inserted: 50, Coupled: 2, Modified: 3, Deleted: 4, Uncoupled: 5, Unchanged: 6, Skipped: 7, Failed: 8},
	}
	plans := []state.PlanSummary{
		{ID: "20261124-083414-6f80fe", Name: "first-load", CreatedAt: started, Status: plan.Planned, Mappings: []string{"CONTACT", "CUSTOMER"},
			Counts: plan.Counts{plan.Create: 50, plan.Update: 1, plan.Skip: 1, plan.Unchanged: 3}, NotModified: 196, NeedsApproval: true},
		{ID: "20261124-080000-cccccc", CreatedAt: started.Add(-30 * time.Minute), Status: plan.Applied, Mappings: []string{"CUSTOMER"},
			Counts: plan.Counts{plan.Delete: 2}, NeedsApproval: true, Approved: &plan.Approval{By: "ana", At: started.Add(-20 * time.Minute)}},
		{ID: "20261124-073000-bbbbbb", CreatedAt: started.Add(-time.Hour), Status: plan.Applied, Counts: plan.Counts{}},
	}
	failures := []state.Failure{
		{RunID: 1, Mapping: "CUSTOMER", Direction: "to_integration", SourceID: "c-1", Op: "create", At: started, Message: "400 Bad Request: token s3cret"},
		{RunID: 1, Mapping: "CUSTOMER", Direction: "to_integration", SourceID: "c-2", DestID: "a-2", Op: "skipped", At: started, Message: "412"},
	}
	intents := []state.Intent{
		{RunID: 4, Seq: 2, PlanID: "20261124-083414-6f80fe", Mapping: "CUSTOMER", Direction: "to_integration", Op: "create", SourceID: "c-1",
			ClientKey: "0d6d6c0c-1f5a-4f0e-8a57-2b8c6a1f4e02", CreatedAt: started, Fields: `{"name":"x"}`},
	}
	pos := mappings.Pos{File: "coupler.yaml", Line: 3, Col: 32}
	valid := Validation{File: "coupler.yaml", Connectors: 2, Mappings: 1, Fields: 14,
		Diagnostics: mappings.Diagnostics{{Severity: mappings.Warning, Pos: pos, Message: "mapping CUSTOMER: something to know"}},
		UnsetEnv:    mappings.Diagnostics{{Severity: mappings.Error, Pos: pos, Message: "connector bc: environment variable BC_TOKEN is not set"}}}
	invalid := Validation{File: "coupler.yaml",
		Diagnostics: mappings.Diagnostics{{Severity: mappings.Error, Pos: mappings.Pos{File: "mappings/customer.yaml", Line: 7, Col: 3}, Message: `unknown key "fieldz"`}}}
	redact := func(s string) string { return strings.ReplaceAll(s, "s3cret", "[redacted]") }

	cases := map[string]func(p *Printer) error{
		"runs":          func(p *Printer) error { return p.Runs(runs) },
		"runs_empty":    func(p *Printer) error { return p.Runs(nil) },
		"plans":         func(p *Printer) error { return p.Plans(plans) },
		"plans_empty":   func(p *Printer) error { return p.Plans(nil) },
		"errors":        func(p *Printer) error { return p.Failures(failures) },
		"errors_empty":  func(p *Printer) error { return p.Failures(nil) },
		"intents":       func(p *Printer) error { return p.Intents(intents) },
		"intents_empty": func(p *Printer) error { return p.Intents(nil) },
		"migration": func(p *Printer) error {
			return p.Migration(Migration{From: "/srv/sync/.coupler/state.duckdb", To: "postgres://coupler@db.internal:5432/coupler (schema acme)",
				Tables: []state.TableCopy{{Table: "couplings", Rows: 100000, Checksum: "0f3c2a9d5be1c7a4e2d90b6f13a8c5d7"},
					{Table: "write_intents", Rows: 0, Checksum: "00000000000000000000000000000000"}},
				LastRunID: 42, Replaced: []state.TableCopy{{Table: "couplings", Rows: 3}}})
		},
		"validate":         func(p *Printer) error { return p.Validation(valid) },
		"validate_invalid": func(p *Printer) error { return p.Validation(invalid) },
		"approve": func(p *Printer) error {
			at := started
			return p.Approval(Approval{Plan: "20261124-083414-6f80fe", ApprovedBy: "ana", ApprovedAt: &at,
				Reasons: []string{"CUSTOMER (to_integration): first sync into a destination that holds records"}})
		},
		"approve_serve": func(p *Printer) error {
			at := started
			return p.Approval(Approval{Plan: "20261124-083414-6f80fe", ApprovedBy: "ana", ApprovedAt: &at, Serve: "approved; applying it now"})
		},
	}
	for name, print := range cases {
		for _, f := range []Format{Text, JSON} {
			t.Run(name+"."+string(f), func(t *testing.T) {
				var buf bytes.Buffer
				if err := print(&Printer{W: &buf, Format: f, Loc: zone, Redact: redact}); err != nil {
					t.Fatal(err)
				}
				file := filepath.Join("testdata", name+"."+string(f)+".golden")
				if *update {
					if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run go test -update to write it)", err)
				}
				if got := buf.String(); got != string(want) {
					t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", file, got, want)
				}
			})
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"text", "json"} {
		if f, err := ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil || !strings.Contains(err.Error(), "must be text or json") {
		t.Errorf("ParseFormat(yaml): %v", err)
	}
}
