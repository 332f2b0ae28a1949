package statetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// RunRuns checks the Runs part and where it meets the others: a run's end
// moves the watermark, change token and definition; its results make and
// remove couplings and settle intents; an unfinished run is found again
// with its counts; failures are tracked across runs against the plan's
// operations, skipped and retried.
func RunRuns(t *testing.T, impl Impl) {
	runChecks(t, opener(impl), []check[store]{
		{"failures count across runs and skip", trackFailures},
		{"failures listed, earliest, and whether a run failed", runFailures},
		{"retry", retryFailures},
		{"unchanged records marked synced", markUnchanged},
		{"an unfinished run counts its records", unfinishedCounts},
	})
	runChecks(t, impl.Open, []check[state.Store]{
		{"start and list", startRuns},
		{"a run of a plan applying is not interrupted", runOfApplyingPlan},
		{"finish", finishRun},
		{"finish without watermark, token or definition", finishRunKeeps},
		{"clearing watermarks clears change tokens", clearTokens},
		{"results couple, update, uncouple and settle intents", recordResults},
		{"results of the integration side couple the other way", recordResultsFromIntegration},
		{"a coupling taken meanwhile fails the result", recordResultsTaken},
		{"results naming a record twice are taken in seq order", recordResultsTwice},
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

// recordResultsTwice: of results that name one record twice, each is
// coupled, in seq order, whose records neither the state nor a result
// before it coupled; one left out does not take its records from a later
// one. The results come out of seq order.
func recordResultsTwice(t *testing.T, s state.Store) {
	ctx := t.Context()
	part := savePlan(t, s, "p1")
	must(t, s.Couple(ctx, "CUSTOMER", []state.Coupling{{TableID: "C1", IntegrationID: "A1"}}))
	r := startRun(t, s, part, 0)
	results := []state.RecordResult{
		{Seq: 3, SourceID: "C4", DestID: "A9", Op: "couple", Couple: true, At: aTime},
		{Seq: 1, SourceID: "C6", DestID: "A1", Op: "create", Couple: true, At: aTime},
		{Seq: 2, SourceID: "C6", DestID: "A9", Op: "create", Couple: true, At: aTime},
		{Seq: 4, SourceID: "C1", DestID: "A5", Op: "couple", Couple: true, At: aTime},
	}
	must(t, s.RecordResults(ctx, r.ID, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, results))
	for i, failed := range []bool{true, true, false, true} {
		if (results[i].Err != "") != failed {
			t.Errorf("result of seq %d (%s -> %s): error %q, want one: %v", results[i].Seq, results[i].SourceID, results[i].DestID, results[i].Err, failed)
		}
	}
	wantCouplings(t, s, "CUSTOMER", map[string]string{"C1": "A1", "C6": "A9"})
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

// failedTwice makes two plans of CUSTOMER's table-to-integration part and
// applies them, as the runs of a record that fails again look:
//
//	plan p1: C1 to C5 updated; run 1 fails them all, C3 for a temporary
//	reason;
//	plan p2: C1 to C4 updated, C5 found unchanged, C6 failed in
//	planning; run 2 fails C1 again alike (skipped now), C2 otherwise,
//	C3 for a temporary reason again, and writes C4.
//
// It returns p2's part and run 2.
func failedTwice(t *testing.T, s store) (state.Part, state.Run) {
	t.Helper()
	ctx := t.Context()
	mod := func(i int) time.Time { return aTime.Add(time.Duration(i) * time.Minute) }
	var results []state.RecordResult
	var p1 []plan.Operation
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("C%d", i)
		p1 = append(p1, plan.Operation{Seq: int64(i), Kind: plan.Update, SourceID: id, DestID: "A" + id[1:], SourceModified: mod(i)})
		msg := "the name is too long"
		if i == 3 {
			msg = state.TemporaryPrefix + "503 Service Unavailable"
		}
		results = append(results, state.RecordResult{Seq: int64(i), SourceID: id, DestID: "A" + id[1:], Op: "update", Err: msg, At: aTime})
	}
	s.saveDiff(t, Diff{Part: customerPart("p1"), Operations: p1})
	part1 := savePlan(t, s, "p1")
	r1 := startRun(t, s, part1, 0)
	must(t, s.RecordResults(ctx, r1.ID, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, results))
	must(t, s.TrackFailures(ctx, r1.ID, part1))
	r1.FinishedAt, r1.Failed = aTime.Add(time.Second), 5
	must(t, s.FinishRun(ctx, r1, plan.SideTable, time.Time{}, "", ""))

	show := plan.Display{{Field: "name", Value: json.RawMessage(`"Contoso"`)}}
	s.saveDiff(t, Diff{Part: customerPart("p2"), Operations: []plan.Operation{
		{Seq: 1, Kind: plan.Update, SourceID: "C1", DestID: "A1", SourceModified: mod(11)},
		{Seq: 2, Kind: plan.Update, SourceID: "C2", DestID: "A2", SourceModified: mod(12), SourceDisplay: show},
		{Seq: 3, Kind: plan.Update, SourceID: "C3", DestID: "A3", SourceModified: mod(9)},
		{Seq: 4, Kind: plan.Update, SourceID: "C4", DestID: "A4", SourceModified: mod(14)},
		{Seq: 5, Kind: plan.Fail, SourceID: "C6", Reason: "lookup failed", SourceModified: mod(10)},
	}, Marks: []Unchanged{{SourceID: "C5", DestID: "A5", SourceModified: mod(5)}}})
	part2 := savePlan(t, s, "p2")
	r2 := startRun(t, s, part2, time.Minute)
	at := aTime.Add(time.Hour)
	must(t, s.RecordResults(ctx, r2.ID, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, []state.RecordResult{
		{Seq: 1, SourceID: "C1", DestID: "A1", Op: "update", Err: "the name is too long", At: at},
		{Seq: 2, SourceID: "C2", DestID: "A2", Op: "update", Err: "credit limit exceeded", At: at.Add(time.Second)},
		{Seq: 3, SourceID: "C3", DestID: "A3", Op: "update", Err: state.TemporaryPrefix + "503 Service Unavailable", At: at},
		{Seq: 4, SourceID: "C4", DestID: "A4", Op: "update", At: at},
	}))
	must(t, s.TrackFailures(ctx, r2.ID, part2))
	// A resumed apply tracks the run's failures again: counted once.
	must(t, s.TrackFailures(ctx, r2.ID, part2))
	r2.FinishedAt, r2.Failed, r2.Modified = at.Add(time.Minute), 3, 1
	must(t, s.FinishRun(ctx, r2, plan.SideTable, time.Time{}, "", ""))
	return part2, r2
}

// failures lists a mapping's failures as "source op: message".
func failures(t *testing.T, s state.Store, mapping string) []string {
	t.Helper()
	fs, err := s.Failures(t.Context(), mapping, 100)
	must(t, err)
	var out []string
	for _, f := range fs {
		out = append(out, f.SourceID+" "+f.Op+": "+f.Message)
	}
	slices.Sort(out)
	return out
}

// trackFailures: a record failing twice in a row alike is skipped, once
// per run however often the run's failures are tracked; a temporary
// failure never; a success and an unchanged record clear the failure.
func trackFailures(t *testing.T, s store) {
	failedTwice(t, s)
	want := []string{
		"C1 skipped: skipped after failing 2 runs in a row with: the name is too long; coupler retry CUSTOMER C1 once fixed",
		"C2 update: credit limit exceeded",
		"C3 update: " + state.TemporaryPrefix + "503 Service Unavailable",
	}
	if got := failures(t, s, "CUSTOMER"); !slices.Equal(got, want) {
		t.Errorf("failures:\n got %q\nwant %q", got, want)
	}
	if got := failures(t, s, "VENDOR"); len(got) != 0 {
		t.Errorf("VENDOR's failures: %q, want none", got)
	}
}

// runFailures: the failures of a mapping's latest finished run, newest
// first, with the display values its plan read; the earliest source
// modified-on among a run's records failed and not skipped, planning's
// failures included; whether a run left one.
func runFailures(t *testing.T, s store) {
	ctx := t.Context()
	part, r2 := failedTwice(t, s)
	fs, err := s.Failures(ctx, "", 100)
	must(t, err)
	if len(fs) != 3 || fs[0].SourceID != "C2" || fs[0].RunID != r2.ID || fs[0].DestID != "A2" || fs[0].Direction != "to_integration" ||
		!sameTime(fs[0].At, aTime.Add(time.Hour+time.Second)) || fs[0].SourceDisplay.Text() != "Contoso" {
		t.Errorf("Failures: %+v, want C2's of run %d first, newest, with its display Contoso", fs, r2.ID)
	}
	if fs, err := s.Failures(ctx, "", 1); err != nil || len(fs) != 1 {
		t.Errorf("Failures up to 1: %v, %v", fs, err)
	}
	// C3 at minute 9 failed for a temporary reason, C6 at minute 10 in
	// planning; C1 at minute 11 is skipped.
	if got, err := s.EarliestFailure(ctx, r2.ID, part); err != nil || !sameTime(got, aTime.Add(9*time.Minute)) {
		t.Errorf("EarliestFailure = %v, %v; want %v", got, err, storedTime(aTime.Add(9*time.Minute)))
	}
	if failed, err := s.RunFailed(ctx, r2.ID, part); err != nil || !failed {
		t.Errorf("RunFailed = %v, %v; want true", failed, err)
	}
	s.saveDiff(t, Diff{Part: customerPart("p3"), Operations: []plan.Operation{{Seq: 1, Kind: plan.Update, SourceID: "C2", DestID: "A2"}}})
	clean := savePlan(t, s, "p3")
	r3 := startRun(t, s, clean, 2*time.Hour)
	must(t, s.RecordResults(ctx, r3.ID, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, []state.RecordResult{
		{Seq: 1, SourceID: "C2", DestID: "A2", Op: "update", At: aTime.Add(2 * time.Hour)}}))
	if failed, err := s.RunFailed(ctx, r3.ID, clean); err != nil || failed {
		t.Errorf("RunFailed of a run without failures = %v, %v", failed, err)
	}
	if got, err := s.EarliestFailure(ctx, r3.ID, clean); err != nil || !got.IsZero() {
		t.Errorf("EarliestFailure of a run without failures = %v, %v; want zero", got, err)
	}
}

// retryFailures: retried records are failed no more, skipped or not, and
// the watermark moves back to the earliest of them, in one step.
func retryFailures(t *testing.T, s store) {
	ctx := t.Context()
	failedTwice(t, s)
	later := aTime.Add(24 * time.Hour)
	must(t, s.SetWatermark(ctx, "CUSTOMER", plan.SideTable, later))
	n, earliest, err := s.Retry(ctx, "CUSTOMER", []string{"C1"})
	must(t, err)
	c1 := aTime.Add(11 * time.Minute)
	if n != 1 || len(earliest) != 1 || !sameTime(earliest["to_integration"], c1) {
		t.Errorf("Retry(C1) = %d, %v; want 1 and C1's modified-on %v", n, earliest, storedTime(c1))
	}
	wantWatermark(t, s, "CUSTOMER", plan.SideTable, c1)
	// C1 is the latest run's failure again, skipped no more.
	want := []string{"C1 update: the name is too long", "C2 update: credit limit exceeded", "C3 update: " + state.TemporaryPrefix + "503 Service Unavailable"}
	if got := failures(t, s, "CUSTOMER"); !slices.Equal(got, want) {
		t.Errorf("failures after retrying C1: %q, want %q", got, want)
	}
	n, earliest, err = s.Retry(ctx, "CUSTOMER", nil)
	must(t, err)
	c3 := aTime.Add(9 * time.Minute)
	if n != 2 || !sameTime(earliest["to_integration"], c3) {
		t.Errorf("Retry(all) = %d, %v; want 2 and C3's modified-on %v", n, earliest, storedTime(c3))
	}
	wantWatermark(t, s, "CUSTOMER", plan.SideTable, c3)
	if n, _, err := s.Retry(ctx, "CUSTOMER", nil); err != nil || n != 0 {
		t.Errorf("Retry with nothing failed = %d, %v", n, err)
	}
	wantWatermark(t, s, "CUSTOMER", plan.SideTable, c3)
}

// couplingVersion reads a coupling's source version on the table side,
// as the state's couplings table holds it.
func couplingVersion(t *testing.T, s state.Store, tableID string) string {
	t.Helper()
	_, rows, err := query(t, s, `SELECT coalesce(CAST(table_modified AS VARCHAR), '-') || ' ' || coalesce(table_etag, '-') FROM couplings WHERE table_id = '`+tableID+`'`)
	must(t, err)
	if len(rows) != 1 {
		t.Fatalf("coupling of %s: %v", tableID, rows)
	}
	return rows[0][0].(string)
}

// markUnchanged: the couplings of the records a part found unchanged get
// the source version the plan read, unless the coupling is another pair's
// or a write after the plan was made marked it.
func markUnchanged(t *testing.T, s store) {
	ctx := t.Context()
	must(t, s.Couple(ctx, "CUSTOMER", []state.Coupling{{TableID: "C1", IntegrationID: "A1"}, {TableID: "C2", IntegrationID: "A2"}, {TableID: "C3", IntegrationID: "A3"}}))
	s.saveDiff(t, Diff{Part: customerPart("p1"), Marks: []Unchanged{
		{SourceID: "C1", DestID: "A1", SourceETag: `W/"1"`},
		{SourceID: "C2", DestID: "A2", SourceETag: `W/"2"`},
		{SourceID: "C3", DestID: "A-other", SourceETag: `W/"3"`},
	}})
	part := savePlan(t, s, "p1") // made at aTime
	r := startRun(t, s, part, 0)
	// C2 written since the plan was made, by the other pass.
	must(t, s.RecordResults(ctx, r.ID, state.CouplingSide{Mapping: "CUSTOMER"}, []state.RecordResult{
		{Seq: 1, SourceID: "A2", DestID: "C2", Op: "update", DestETag: `W/"2-written"`, At: aTime.Add(time.Minute)}}))
	must(t, s.MarkUnchangedSynced(ctx, part, true))
	for id, want := range map[string]string{"C1": `- W/"1"`, "C2": `- W/"2-written"`, "C3": "- -"} {
		if got := couplingVersion(t, s, id); got != want {
			t.Errorf("coupling of %s: version %q, want %q", id, got, want)
		}
	}
}

// unfinishedCounts: a run not finished is listed with the counts of the
// records its batches recorded, each success by kind, failures as failed.
func unfinishedCounts(t *testing.T, s store) {
	ctx := t.Context()
	part := savePlan(t, s, "p1")
	must(t, s.SetPlanStatus(ctx, "p1", plan.Applying, plan.Planned))
	r := startRun(t, s, part, 0)
	must(t, s.Couple(ctx, "CUSTOMER", []state.Coupling{{TableID: "C3", IntegrationID: "A3"}}))
	must(t, s.RecordResults(ctx, r.ID, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, []state.RecordResult{
		{Seq: 1, SourceID: "C1", DestID: "A1", Op: "create", Couple: true, At: aTime},
		{Seq: 2, SourceID: "C2", DestID: "A2", Op: "couple", Couple: true, At: aTime},
		{Seq: 3, SourceID: "C3", DestID: "A3", Op: "update", At: aTime},
		{Seq: 4, SourceID: "C4", Op: "create", Err: "refused", At: aTime},
	}))
	r.Inserted, r.Coupled, r.Modified, r.Failed = 1, 1, 1, 1
	wantRun(t, s, r)
}
