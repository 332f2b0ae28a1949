package view

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/mappings/scaffold"
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
	// Two runs of one mapping, one per direction; CUSTOMER failed more
	// often than apply lists.
	apply := Apply{PlanID: "20261124-083414-6f80fe", Runs: []state.Run{
		{ID: 5, PlanID: "20261124-083414-6f80fe", Mapping: "CUSTOMER", Direction: "to_integration", StartedAt: started,
			FinishedAt: started.Add(2 * time.Second), Inserted: 3, Coupled: 1, Modified: 2, Unchanged: 30, Failed: 12},
		{ID: 6, PlanID: "20261124-083414-6f80fe", Mapping: "CUSTOMER", Direction: "from_integration", StartedAt: started.Add(2 * time.Second),
			FinishedAt: started.Add(3 * time.Second), Modified: 1, Deleted: 1, Uncoupled: 1, Skipped: 1},
	}}
	for i := range 11 {
		apply.Failures = append(apply.Failures, report.ApplyFailure{Mapping: "CUSTOMER", SourceID: fmt.Sprintf("c-%d", i), Message: "400 Bad Request: token s3cret"})
	}
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
		"couple": func(p *Printer) error {
			return p.Coupling(Coupling{Mapping: "CUSTOMER", TableID: "c-1", IntegrationID: "a-1"})
		},
		"uncouple": func(p *Printer) error { return p.Uncoupling(Uncoupling{Mapping: "CUSTOMER", Removed: 49}) },
		"retry":    func(p *Printer) error { return p.Retry(Retry{Mapping: "CUSTOMER", Released: 2}) },
		"acknowledge": func(p *Printer) error {
			return p.Acknowledgement(Acknowledgement{Acknowledged: []string{"CONTACT", "CUSTOMER"}})
		},
		"prune": func(p *Printer) error { return p.Prune(state.PruneResult{Plans: 3}) },
		"prune_orphans": func(p *Printer) error {
			return p.Prune(state.PruneResult{Plans: 0, Orphans: 120})
		},
		"backup": func(p *Printer) error {
			return p.Backup(Backup{From: "/srv/sync/.coupler/state.duckdb", To: "/srv/sync/.coupler/state-20261124-083414.backup.duckdb"})
		},
		"forget_intent": func(p *Printer) error {
			return p.ForgetIntents(ForgetIntents{RunID: 4, Forgotten: true, Intents: intents})
		},
		"forget_intent_dry": func(p *Printer) error {
			return p.ForgetIntents(ForgetIntents{RunID: 4, Intents: intents})
		},
		"test": func(p *Printer) error {
			return p.TestRun(TestRun{Files: 1, Cases: []TestCase{
				{File: "mappings/customer.test.yaml", Line: 4, Direction: "to_integration", Name: "a plain customer", Passed: true},
				{File: "mappings/customer.test.yaml", Line: 9, Direction: "to_integration", Name: "wrong name",
					Problems: []string{`name: want "Adatum Corp", got "Adatum"`}},
			}})
		},
		"test_none": func(p *Printer) error { return p.TestRun(TestRun{}) },
		"init": func(p *Printer) error {
			return p.Init(Init{Dir: "my-sync", Defaults: "bc-dataverse", ProjectFile: "my-sync/coupler.yaml",
				Files:    []InitFile{{File: "my-sync/mappings/customer.yaml", Label: "CUSTOMER"}, {File: "my-sync/mappings/customer.test.yaml", Label: "CUSTOMER tests"}},
				LockFile: "my-sync/coupler.lock", BaseDir: "my-sync/.coupler-base/bc-dataverse", SchemasDir: "my-sync/.coupler-schemas",
				Gitignore: "my-sync/.gitignore", GitignoreDone: "wrote", Env: []string{"BC_URL", "BC_TOKEN", "DATAVERSE_URL", "DATAVERSE_TOKEN"}})
		},
		"reset": func(p *Printer) error {
			return p.Reset(Reset{Plan: &scaffold.Reset{Set: "bc-dataverse", KeepCustomizations: true, NotSelected: []string{"VENDOR"}, Files: []*scaffold.FileReset{
				{File: "mappings/customer.yaml", Label: "CUSTOMER", Mapping: "CUSTOMER", Status: scaffold.Conflicted,
					Conflicts: []scaffold.Conflict{{File: "mappings/customer.yaml", Path: "filter", Yours: `blocked == ""`, Bundled: `blocked == " "`, Base: `true`}}},
				{File: "mappings/contact.yaml", Label: "CONTACT", Mapping: "CONTACT", Status: scaffold.Merged, Diff: "@@ -1 +1 @@\n-a\n+b\n", Content: []byte("b\n")},
			}}, DryRun: true})
		},
		"reset_applied": func(p *Printer) error {
			return p.Reset(Reset{Plan: &scaffold.Reset{Set: "bc-dataverse", Files: []*scaffold.FileReset{
				{File: "mappings/customer.yaml", Label: "CUSTOMER", Mapping: "CUSTOMER", Status: scaffold.Replace, Diff: "@@ -1 +1 @@\n-a\n+b\n", Content: []byte("b\n")},
			}}, Applied: true, Cleared: []WatermarksCleared{{Mapping: "CUSTOMER", CouplingsKept: 50}}})
		},
		// apply's text is report.ApplyText's, pinned by engine/report.
		"apply": func(p *Printer) error { return p.Apply(apply) },
		"apply_partial": func(p *Printer) error {
			a := apply
			a.Runs, a.Failures, a.Err = runs[2:], nil, errors.New("write accounts: 503 Service Unavailable (token s3cret)")
			return p.Apply(a)
		},
		"sync": func(p *Printer) error {
			return p.PlanApply([]byte(`{"format_version": 1, "id": "20261124-083414-6f80fe"}`), &apply)
		},
		"sync_in_step": func(p *Printer) error {
			return p.PlanApply([]byte(`{"format_version": 1, "id": "20261124-083414-6f80fe", "in_step": true}`), nil)
		},
	}
	// What only JSON prints: apply's text is engine/report's, the plan of
	// sync comes as text from report, then apply's, and reset prints its
	// text as it goes.
	jsonOnly := map[string]bool{"reset": true, "reset_applied": true, "apply": true, "apply_partial": true, "sync": true, "sync_in_step": true}
	for name, print := range cases {
		for _, f := range []Format{Text, JSON} {
			if f == Text && jsonOnly[name] {
				continue
			}
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
