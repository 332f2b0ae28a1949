package engine_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// editMapping rewrites the world's mapping file and opens the engine on
// it again, as a user does after editing a mapping.
func (w *world) editMapping(mapping string) {
	w.t.Helper()
	writeFile(w.t, filepath.Join(w.dir, "mappings", "customer.yaml"), mapping)
	if err := w.e.Close(); err != nil {
		w.t.Fatal(err)
	}
	e, diags, err := engine.OpenProject(w.t.Context(), w.dir, w.load, engine.Options{})
	if err != nil {
		w.t.Fatalf("open project: %v\n%v", err, diags)
	}
	w.t.Cleanup(func() { e.Close() })
	w.e = e
}

// TestMappingEditReachesEveryCoupledRecord: a change to a bidirectional
// mapping's transform is a change to the data. The next plain plan reads
// both sides in full and compares every coupled record, says why, apply
// converges, and the plan after is empty. A field removed is left alone.
func TestMappingEditReachesEveryCoupledRecord(t *testing.T) {
	t.Parallel()
	w := newBidiWorld(t, "")
	w.apply(w.plan(engine.PlanOptions{}).ID)
	if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
		t.Fatalf("second plan has changes")
	}

	edited := strings.Replace(bidiMapping, "  - { field: displayName, integration_field: name }",
		`  - { field: displayName, integration_field: name, to_integration: "upper(trim(value))" }`, 1)
	edited = strings.Replace(edited, "  - { field: city, integration_field: address1_city }\n", "", 1)
	w.editMapping(strings.Replace(edited, "%s\n", "", 1))

	p := w.plan(engine.PlanOptions{})
	to := part(t, p, "to_integration")
	if !to.DefinitionChanged {
		t.Errorf("to_integration: DefinitionChanged false after the transform changed")
	}
	if got := to.Counts[plan.Update]; got != 7 {
		t.Errorf("to_integration: %d updates, want all 7 coupled records (counts %v)", got, to.Counts)
	}
	if !slicesContain(to.Warnings, "changed since the last apply") {
		t.Errorf("to_integration warnings %q do not say the mapping changed", to.Warnings)
	}
	for _, op := range to.Operations {
		for _, c := range op.Changes {
			if c.Field != "name" {
				t.Errorf("record %s: change to %s; only name's transform changed (a removed field is left alone)", op.SourceID, c.Field)
			}
		}
	}
	if from := part(t, p, "from_integration"); from.Counts[plan.Update] != 0 {
		t.Errorf("from_integration: %d updates; the CRM's names still equal the ERP's (only the way to the CRM changed)", from.Counts[plan.Update])
	}
	w.apply(p.ID)
	for _, a := range w.crm.All("accounts") {
		if name, _ := a["name"].(string); name != strings.ToUpper(strings.TrimSpace(name)) {
			t.Errorf("account %v: name %q not upper-cased", a["accountid"], name)
		}
	}
	after := w.plan(engine.PlanOptions{})
	if after.HasChanges() {
		t.Errorf("plan after apply has changes: %v / %v", part(t, after, "to_integration").Counts, part(t, after, "from_integration").Counts)
	}
	if part(t, after, "to_integration").DefinitionChanged {
		t.Errorf("the definition is still changed after apply")
	}
}

func slicesContain(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestOneWayMappingEditReachesEveryRecord: a field added to a one-way
// mapping reaches the records synced before, on a plain (incremental) plan.
func TestOneWayMappingEditReachesEveryRecord(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 6)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	mapping, err := os.ReadFile(filepath.Join(w.dir, "mappings", "customer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.editMapping(string(mapping) + "  - { integration_field: description, constant: \"synced by coupler\" }\n")
	p := w.plan(engine.PlanOptions{})
	if m := p.Mappings[0]; !m.DefinitionChanged || m.Counts[plan.Update] != 6 {
		t.Fatalf("after adding a constant field: changed %v, %v; want every record updated", m.DefinitionChanged, m.Counts)
	}
	w.apply(p.ID)
	if again := w.plan(engine.PlanOptions{}); again.HasChanges() || again.Mappings[0].DefinitionChanged {
		t.Errorf("plan after apply: %v, changed %v", again.Mappings[0].Counts, again.Mappings[0].DefinitionChanged)
	}
}

// TestCreateOnlyFieldIsNeverUpdated: a create_only field is written when
// the record is created, and a later difference in it is no change.
func TestCreateOnlyFieldIsNeverUpdated(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	mapping, err := os.ReadFile(filepath.Join(w.dir, "mappings", "customer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.editMapping(strings.Replace(string(mapping), "to_integration: trim(value) }", "to_integration: trim(value), create_only: true }", 1))
	w.apply(w.plan(engine.PlanOptions{}).ID)
	for _, a := range w.crm.All("accounts") {
		if a["name"] == nil || a["name"] == "" {
			t.Fatalf("account %v created without its create_only name", a["accountid"])
		}
	}
	id := w.erp.All("customers")[0]["id"].(string)
	if err := w.erp.Patch("customers", id, map[string]any{"displayName": "Renamed"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	if got := counts(p)[plan.Update]; got != 0 {
		t.Errorf("%d updates after a create_only field changed; want none", got)
	}
}

// TestFullPlanRepairsOneWayDrift: in a bidirectional mapping, a field that
// flows one way is the source's to keep. An edit of it on the destination
// is drift, which an incremental plan does not see (the source did not
// change) and plan --full repairs, leaving the fields that flow both ways
// to their own rules.
func TestFullPlanRepairsOneWayDrift(t *testing.T) {
	t.Parallel()
	mapping := strings.Replace(bidiMapping, "%s\n", "", 1) + "  - { field: creditLimit, integration_field: creditlimit, direction: to_integration }\n"
	w := newBidiWorldWith(t, mapping)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	acc := w.crm.All("accounts")[0]
	id := acc["accountid"].(string)
	if err := w.crm.Patch("accounts", id, map[string]any{"creditlimit": 999}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{Full: true})
	to := part(t, p, "to_integration")
	if to.Counts[plan.Update] != 1 {
		t.Fatalf("plan --full: %v to_integration; want the drifted creditlimit repaired", to.Counts)
	}
	for _, c := range to.Operations[0].Changes {
		if c.Field != "creditlimit" {
			t.Errorf("repair also writes %s; only the one-way field drifted", c.Field)
		}
	}
	w.apply(p.ID)
	if got, _ := w.crm.Get("accounts", id); fmt.Sprint(got["creditlimit"]) == "999" {
		t.Errorf("creditlimit still 999 after apply")
	}
	if again := w.plan(engine.PlanOptions{Full: true}); again.HasChanges() {
		t.Errorf("plan --full after the repair: %v / %v", part(t, again, "to_integration").Counts, part(t, again, "from_integration").Counts)
	}
}

// TestFirstSyncIntoExistingRecordsWaitsForReview: the first sync of a
// mapping without match fields into a destination that already holds
// records says so in the plan, and apply writes nothing until the user has
// acknowledged the creates; a mapping with match fields pairs them instead.
func TestFirstSyncIntoExistingRecordsWaitsForReview(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 4)
	for _, n := range []string{"Existing One", "Existing Two"} {
		if _, err := w.crm.Put("accounts", map[string]any{"name": n, "statecode": 0, "customertypecode": 3}); err != nil {
			t.Fatal(err)
		}
	}
	p := w.plan(engine.PlanOptions{})
	m := p.Mappings[0]
	if !m.CreatesIntoExisting || !slicesContain(m.Warnings, "coupler acknowledge CUSTOMER") {
		t.Fatalf("first plan: CreatesIntoExisting %v, warnings %q", m.CreatesIntoExisting, m.Warnings)
	}
	if _, err := w.e.Apply(t.Context(), p.ID); !errors.Is(err, engine.ErrNeedsReview) {
		t.Fatalf("apply: %v; want it refused, waiting for approval", err)
	}
	if got := w.crm.Len("accounts"); got != 2 {
		t.Fatalf("the refused apply wrote: %d accounts", got)
	}
	if err := w.e.Acknowledge(t.Context(), []string{"CUSTOMER"}); err != nil {
		t.Fatal(err)
	}
	w.apply(p.ID)
	if got := w.crm.Len("accounts"); got != 6 {
		t.Errorf("after acknowledging: %d accounts, want 2 + 4 created", got)
	}
	if next := w.plan(engine.PlanOptions{Full: true}); next.Mappings[0].CreatesIntoExisting || next.HasChanges() {
		t.Errorf("the plan after the first sync: flagged %v, changes %v", next.Mappings[0].CreatesIntoExisting, next.Mappings[0].Counts)
	}
}

// TestFirstSyncScenarioWithOverlappingData: both systems already hold some
// of the same customers. The first plan shows the review and apply
// refuses; the user declares match fields and couples by them
// (coupler couple --match), which creates only the customers without a
// counterpart: no record on either side is duplicated.
func TestFirstSyncScenarioWithOverlappingData(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 6)
	for _, c := range w.erp.All("customers")[:3] {
		if _, err := w.crm.Put("accounts", map[string]any{"accountnumber": c["number"], "name": c["displayName"], "statecode": 0, "customertypecode": 3}); err != nil {
			t.Fatal(err)
		}
	}
	first := w.plan(engine.PlanOptions{})
	if !first.FirstSync() || !first.Mappings[0].CreatesIntoExisting {
		t.Fatalf("first plan: review %v, flagged %v", first.FirstSync(), first.Mappings[0].CreatesIntoExisting)
	}
	if _, err := w.e.Apply(t.Context(), first.ID); !errors.Is(err, engine.ErrNeedsReview) {
		t.Fatalf("apply without a choice: %v; want it refused", err)
	}

	mapping, err := os.ReadFile(filepath.Join(w.dir, "mappings", "customer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.editMapping(strings.Replace(string(mapping), "sync_only_coupled: false\n",
		"sync_only_coupled: false\nmatch:\n  fields:\n    - { field: number, integration_field: accountnumber }\n  create_if_no_match: true\n", 1))
	// coupler couple --match: the 3 customers both sides hold are coupled,
	// and, with create_if_no_match, only the 3 others are created.
	couple := w.plan(engine.PlanOptions{MatchOnly: true})
	if c := counts(couple); c[plan.Couple] != 3 || c[plan.Create] != 3 || couple.Mappings[0].CreatesIntoExisting {
		t.Fatalf("couple --match: %v, flagged %v; want 3 coupled and 3 created", c, couple.Mappings[0].CreatesIntoExisting)
	}
	w.apply(couple.ID)
	if next := w.plan(engine.PlanOptions{}); counts(next)[plan.Create] != 0 {
		t.Fatalf("plan after coupling: %v; want nothing created again", counts(next))
	} else {
		w.apply(next.ID)
	}
	seen := map[any]bool{}
	for _, a := range w.crm.All("accounts") {
		if seen[a["accountnumber"]] {
			t.Errorf("account %v is in the CRM twice", a["accountnumber"])
		}
		seen[a["accountnumber"]] = true
	}
	if len(seen) != 6 || w.erp.Len("customers") != 6 {
		t.Errorf("%d accounts, %d customers; want 6 and 6", len(seen), w.erp.Len("customers"))
	}
}
