package statetest

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// RunRuns checks the Runs part and where it meets the others: a run's end
// moves the watermark, change token and definition; its results make and
// remove couplings and settle intents; an unfinished run is found again
// with its counts.
func RunRuns(t *testing.T, open func(t *testing.T) state.Store) {
	runChecks(t, open, []check[state.Store]{
		{"start and list", startRuns},
		{"a run of a plan applying is not interrupted", runOfApplyingPlan},
		{"finish", finishRun},
		{"finish without watermark, token or definition", finishRunKeeps},
		{"clearing watermarks clears change tokens", clearTokens},
		{"results couple, update, uncouple and settle intents", recordResults},
		{"results of the integration side couple the other way", recordResultsFromIntegration},
		{"a coupling taken meanwhile fails the result", recordResultsTaken},
		{"the latest unfinished run", latestUnfinished},
	})
}

// savePlan saves a plan of one part, mapping CUSTOMER from the table side
// to the integration side, and returns that part.
func savePlan(t *testing.T, s state.Store, id string) state.Part {
	t.Helper()
	p := &plan.Plan{ID: id, CreatedAt: aTime, Fingerprint: "fp", Mappings: []*plan.MappingPlan{{
		Name: "CUSTOMER", Direction: "to_integration", ReadStarted: aTime,
		Source: plan.Endpoint{Side: plan.SideTable, Connector: "erp", Entity: "customers", Key: "number", Modified: "lastModifiedDateTime"},
		Dest:   plan.Endpoint{Side: plan.SideIntegration, Connector: "crm", Entity: "accounts", Key: "accountid", Modified: "modifiedon"},
	}}}
	must(t, s.SavePlan(t.Context(), p, nil, false))
	return state.Part{PlanID: id, Mapping: "CUSTOMER", Direction: "to_integration"}
}

// startRun starts a run of part at aTime plus offset.
func startRun(t *testing.T, s state.Store, part state.Part, offset time.Duration) state.Run {
	t.Helper()
	r := state.Run{PlanID: part.PlanID, Mapping: part.Mapping, Direction: part.Direction, StartedAt: aTime.Add(offset)}
	var err error
	r.ID, err = s.StartRun(t.Context(), part.PlanID, part.Mapping, part.Direction, r.StartedAt)
	must(t, err)
	return r
}

// wantRun checks the run log's entry for want.ID.
func wantRun(t *testing.T, s state.Store, want state.Run) {
	t.Helper()
	runs, err := s.Runs(t.Context(), 100)
	must(t, err)
	for _, got := range runs {
		if got.ID != want.ID {
			continue
		}
		same := sameTime(got.StartedAt, want.StartedAt) &&
			(want.FinishedAt.IsZero() && got.FinishedAt.IsZero() || sameTime(got.FinishedAt, want.FinishedAt))
		g, w := got, want
		g.StartedAt, g.FinishedAt, w.StartedAt, w.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !same || g != w {
			t.Errorf("run %d: %+v, want %+v", want.ID, got, want)
		}
		return
	}
	t.Errorf("run %d not in the run log", want.ID)
}

// startRuns: ids grow; the log lists the newest first, up to its limit;
// a run with no end whose plan is not applying (here: no plan at all) is
// interrupted.
func startRuns(t *testing.T, s state.Store) {
	var started []state.Run
	for i, m := range []string{"CUSTOMER", "VENDOR", "CONTACT"} {
		r := startRun(t, s, state.Part{PlanID: "p1", Mapping: m, Direction: "to_integration"}, time.Duration(i)*time.Minute)
		if len(started) > 0 && r.ID <= started[len(started)-1].ID {
			t.Errorf("run id %d after %d", r.ID, started[len(started)-1].ID)
		}
		started = append(started, r)
	}
	runs, err := s.Runs(t.Context(), 2)
	must(t, err)
	if len(runs) != 2 || runs[0].ID != started[2].ID || runs[1].ID != started[1].ID {
		t.Errorf("Runs(2): %+v, want runs %d and %d", runs, started[2].ID, started[1].ID)
	}
	for _, r := range started {
		r.Interrupted = true
		wantRun(t, s, r)
	}
	if runs[0].Duration() != 0 {
		t.Errorf("a run without an end lasted %s", runs[0].Duration())
	}
}

func runOfApplyingPlan(t *testing.T, s state.Store) {
	ctx := t.Context()
	part := savePlan(t, s, "p1")
	must(t, s.SetPlanStatus(ctx, "p1", plan.Applying, plan.Planned))
	r := startRun(t, s, part, 0)
	wantRun(t, s, r)
	must(t, s.SetPlanStatus(ctx, "p1", plan.Interrupted, plan.Applying))
	r.Interrupted = true
	wantRun(t, s, r)
}

// finishRun: the end, the counts, and in the same step the source
// watermark, change token and the pass's definition.
func finishRun(t *testing.T, s state.Store) {
	ctx := t.Context()
	part := savePlan(t, s, "p1")
	must(t, s.SetPlanStatus(ctx, "p1", plan.Applying, plan.Planned))
	r := startRun(t, s, part, 0)
	if parts, err := s.FinishedParts(ctx, "p1"); err != nil || len(parts) != 0 {
		t.Errorf("FinishedParts before the run finished: %v, %v", parts, err)
	}
	r.FinishedAt = aTime.Add(90 * time.Second)
	r.Inserted, r.Modified, r.Unchanged, r.Skipped, r.Failed, r.Coupled, r.Deleted, r.Uncoupled = 1, 2, 3, 4, 5, 6, 7, 8
	wm := aTime.Add(-time.Minute)
	must(t, s.FinishRun(ctx, r, plan.SideTable, wm, "delta-2", "def-1"))
	wantRun(t, s, r)
	if d := (state.Run{StartedAt: aTime, FinishedAt: r.FinishedAt}).Duration(); d != 90*time.Second {
		t.Errorf("duration %s", d)
	}
	wantWatermark(t, s, "CUSTOMER", plan.SideTable, wm)
	wantWatermark(t, s, "CUSTOMER", plan.SideIntegration, time.Time{})
	if tok, ok, err := s.ChangeToken(ctx, "CUSTOMER", plan.SideTable); err != nil || !ok || tok != "delta-2" {
		t.Errorf("change token after the run: %q (%v), %v; want delta-2", tok, ok, err)
	}
	if fp, ok, err := s.Definition(ctx, "CUSTOMER", "to_integration"); err != nil || !ok || fp != "def-1" {
		t.Errorf("definition after the run: %q (%v), %v; want def-1", fp, ok, err)
	}
	parts, err := s.FinishedParts(ctx, "p1")
	must(t, err)
	if !maps.Equal(parts, map[state.Part]bool{part: true}) {
		t.Errorf("FinishedParts: %v, want %v", parts, part)
	}
	if _, _, ok, err := s.UnfinishedRun(ctx, part); err != nil || ok {
		t.Errorf("UnfinishedRun after the run finished: %v, %v", ok, err)
	}
}

// finishRunKeeps: a run that moves nothing (it failed a record, or read
// nothing new) leaves the watermark, token and definition where they were.
func finishRunKeeps(t *testing.T, s state.Store) {
	ctx := t.Context()
	part := savePlan(t, s, "p1")
	must(t, s.SetWatermark(ctx, "CUSTOMER", plan.SideTable, aTime))
	r := startRun(t, s, part, 0)
	r.FinishedAt = aTime.Add(time.Second)
	must(t, s.FinishRun(ctx, r, plan.SideTable, time.Time{}, "", ""))
	wantWatermark(t, s, "CUSTOMER", plan.SideTable, aTime)
	if tok, ok, err := s.ChangeToken(ctx, "CUSTOMER", plan.SideTable); err != nil || ok {
		t.Errorf("change token after a run that stored none: %q (%v), %v", tok, ok, err)
	}
	if fp, ok, err := s.Definition(ctx, "CUSTOMER", "to_integration"); err != nil || ok {
		t.Errorf("definition after a run that kept none: %q (%v), %v", fp, ok, err)
	}
}

// clearTokens: resetting a mapping's watermarks starts its change tracking
// afresh too; clearing the tokens alone leaves the watermarks.
func clearTokens(t *testing.T, s state.Store) {
	ctx := t.Context()
	part := savePlan(t, s, "p1")
	for _, m := range []string{"CUSTOMER", "VENDOR"} {
		part.Mapping = m
		r := startRun(t, s, part, 0)
		r.FinishedAt = aTime
		must(t, s.FinishRun(ctx, r, plan.SideTable, aTime, "delta-"+m, ""))
	}
	n, err := s.ClearChangeTokens(ctx, "VENDOR")
	must(t, err)
	if n != 1 {
		t.Errorf("ClearChangeTokens(VENDOR) = %d, want 1", n)
	}
	wantWatermark(t, s, "VENDOR", plan.SideTable, aTime)
	n, err = s.ClearWatermarks(ctx, []string{"CUSTOMER"})
	must(t, err)
	if n != 1 {
		t.Errorf("ClearWatermarks(CUSTOMER) = %d, want 1", n)
	}
	for _, m := range []string{"CUSTOMER", "VENDOR"} {
		if tok, ok, err := s.ChangeToken(ctx, m, plan.SideTable); err != nil || ok {
			t.Errorf("change token of %s after clearing: %q (%v), %v", m, tok, ok, err)
		}
	}
}

// recordResults: one batch's outcomes in one step: a create couples, an
// update marks its coupling synced, a delete uncouples, a failure changes
// no coupling; each settles its intent; an unfinished run's counts are
// rebuilt from them.
func recordResults(t *testing.T, s state.Store) {
	ctx := t.Context()
	part := savePlan(t, s, "p1")
	must(t, s.Couple(ctx, "CUSTOMER", []state.Coupling{{TableID: "C3", IntegrationID: "A3"}, {TableID: "C4", IntegrationID: "A4"}}))
	r := startRun(t, s, part, 0)
	var intents []state.Intent
	for seq := int64(1); seq <= 4; seq++ {
		in := intent(r.ID, seq)
		in.PlanID = "p1"
		intents = append(intents, in)
	}
	other := intent(r.ID+1000, 1) // another run's, left alone
	must(t, s.RecordIntents(ctx, append(intents, other)))
	at := aTime.Add(time.Minute)
	results := []state.RecordResult{
		{Seq: 1, SourceID: "C1", DestID: "A1", Op: "create", Couple: true, At: at},
		{Seq: 2, SourceID: "C2", Op: "create", Err: "the name is too long", At: at},
		{Seq: 3, SourceID: "C3", DestID: "A3", Op: "update", At: at},
		{Seq: 4, SourceID: "C4", DestID: "A4", Op: "delete", Uncouple: true, At: at},
	}
	must(t, s.RecordResults(ctx, r.ID, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, results))
	for _, res := range results {
		if res.Seq != 2 && res.Err != "" {
			t.Errorf("result %d failed on record: %s", res.Seq, res.Err)
		}
	}
	wantCouplings(t, s, "CUSTOMER", map[string]string{"C1": "A1", "C3": "A3"})
	wantIntents(t, s, other)
	page, err := s.SearchCouplings(ctx, "CUSTOMER", "C3", 0, 1)
	must(t, err)
	if len(page.Rows) != 1 || page.Rows[0].LastResult != "success" || !sameTime(page.Rows[0].LastSynced, at) {
		t.Errorf("the updated record's coupling: %+v, want synced at %v with success", page.Rows, storedTime(at))
	}
	got, done, ok, err := s.UnfinishedRun(ctx, part)
	must(t, err)
	r.Inserted, r.Failed, r.Modified, r.Deleted, r.Uncoupled = 1, 1, 1, 1, 1
	got.StartedAt, r.StartedAt = got.StartedAt.UTC(), storedTime(r.StartedAt)
	if !ok || got != r {
		t.Errorf("UnfinishedRun: %+v (%v), want %+v", got, ok, r)
	}
	if !maps.Equal(done, map[int64]bool{1: true, 2: true, 3: true, 4: true}) {
		t.Errorf("UnfinishedRun's recorded seqs: %v, want 1 to 4", done)
	}
}

// recordResultsFromIntegration: when the source is the integration side,
// a create couples the source as the integration record.
func recordResultsFromIntegration(t *testing.T, s state.Store) {
	ctx := t.Context()
	r := startRun(t, s, state.Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "from_integration"}, 0)
	must(t, s.RecordResults(ctx, r.ID, state.CouplingSide{Mapping: "CUSTOMER"}, []state.RecordResult{
		{Seq: 1, SourceID: "A1", DestID: "C1", Op: "create", Couple: true, At: aTime},
	}))
	wantCouplings(t, s, "CUSTOMER", map[string]string{"C1": "A1"})
}

// recordResultsTaken: a create or match whose source or destination
// another plan coupled meanwhile keeps the coupling there is, and the
// result becomes a failure that says so (apply reads Err after
// RecordResults), counted as failed.
func recordResultsTaken(t *testing.T, s state.Store) {
	ctx := t.Context()
	part := savePlan(t, s, "p1")
	must(t, s.Couple(ctx, "CUSTOMER", []state.Coupling{{TableID: "C1", IntegrationID: "A-old"}, {TableID: "C-other", IntegrationID: "A2"}}))
	r := startRun(t, s, part, 0)
	results := []state.RecordResult{
		{Seq: 1, SourceID: "C1", DestID: "A-new", Op: "create", Couple: true, At: aTime},
		{Seq: 2, SourceID: "C2", DestID: "A2", Op: "couple", Couple: true, At: aTime},
	}
	must(t, s.RecordResults(ctx, r.ID, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, results))
	for i, want := range []string{"A-old", "C-other"} {
		if !strings.Contains(results[i].Err, want) {
			t.Errorf("result %d: error %q, want one naming %s", results[i].Seq, results[i].Err, want)
		}
	}
	wantCouplings(t, s, "CUSTOMER", map[string]string{"C1": "A-old", "C-other": "A2"})
	got, _, ok, err := s.UnfinishedRun(ctx, part)
	must(t, err)
	if !ok || got.Failed != 2 || got.Inserted != 0 || got.Coupled != 0 {
		t.Errorf("UnfinishedRun: %+v (%v), want 2 failed and nothing inserted or coupled", got, ok)
	}
}

// latestUnfinished: of a part's runs without an end, the latest is the
// one an apply resumes.
func latestUnfinished(t *testing.T, s state.Store) {
	part := savePlan(t, s, "p1")
	startRun(t, s, part, 0)
	latest := startRun(t, s, part, time.Minute)
	got, done, ok, err := s.UnfinishedRun(t.Context(), part)
	must(t, err)
	if !ok || got.ID != latest.ID || len(done) != 0 {
		t.Errorf("UnfinishedRun: run %d (%v) with %v done, want run %d with none", got.ID, ok, done, latest.ID)
	}
}
