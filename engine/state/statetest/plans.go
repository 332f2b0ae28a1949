package statetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// Diff is what a plan's diff makes of one part, which Impl.SaveDiff
// writes into a store.
type Diff struct {
	Part state.Part
	// Fields are the part's destination fields in order (plan_fields);
	// their BindSet is what BindSets returns.
	Fields []state.DestField
	// Operations are the part's operations with their changes.
	Operations []plan.Operation
	// Unchanged counts the records found unchanged and listed in no
	// operation (plan_unchanged).
	Unchanged int64
	// Marks are the unchanged records apply notes something of
	// (plan_unchanged_marks).
	Marks []Unchanged
}

// Unchanged is a record a diff found unchanged whose source version its
// coupling lacks, or whose failure apply clears.
type Unchanged struct {
	SourceID, DestID string
	SourceModified   time.Time
	SourceETag       string
}

// store is a store under test with the suite's means of writing a diff
// and files.
type store struct {
	state.Store
	impl Impl
}

// saveDiff writes d into s.
func (s store) saveDiff(t *testing.T, d Diff) {
	t.Helper()
	s.impl.SaveDiff(t, s.Store, d)
}

// opener opens stores of impl for checks that write diffs.
func opener(impl Impl) func(t *testing.T) store {
	return func(t *testing.T) store { return store{impl.Open(t), impl} }
}

// RunPlans checks the Plans part: a saved plan reads back as saved, with
// its operations paged by seq; its status moves only from what the mover
// expects; staleness, listing, pruning and approval.
func RunPlans(t *testing.T, impl Impl) {
	runChecks(t, opener(impl), []check[store]{
		{"save and load", saveAndLoad},
		{"load limits and kinds", loadLimits},
		{"operations by seq and kind", operationsPaged},
		{"operations in pages", operationsMany},
		{"names", planNames},
		{"discard", discardPlan},
		{"latest", latestPlan},
		{"status moves only from the given ones", planStatus},
		{"two applies cannot both start", planStatusRace},
		{"mark interrupted", markInterrupted},
		{"applied since and after", appliedSinceAfter},
		{"planned couplings", plannedCouplings},
		{"list", listPlans},
		{"prune", prunePlans},
		{"prune while a plan is saved", pruneWhileSaving},
		{"approve", approvePlan},
		{"export", exportOperations},
	})
}

// customerPart and vendorPart are the parts of fullPlan.
func customerPart(id string) state.Part {
	return state.Part{PlanID: id, Mapping: "CUSTOMER", Direction: "to_integration"}
}

func vendorPart(id string) state.Part {
	return state.Part{PlanID: id, Mapping: "VENDOR", Direction: "from_integration"}
}

// fullPlan is a plan of two parts, every field of each set, made at
// created: CUSTOMER from the table side, VENDOR from the integration
// side through change tracking.
func fullPlan(id string, created time.Time) *plan.Plan {
	return &plan.Plan{ID: id, CreatedAt: created, Full: true, Fingerprint: "fp-" + id, Mappings: []*plan.MappingPlan{{
		Name: "CUSTOMER", Direction: "to_integration",
		Source: plan.Endpoint{Side: plan.SideTable, Connector: "erp", Entity: "customers", Key: "number", Modified: "lastModifiedDateTime"},
		Dest:   plan.Endpoint{Side: plan.SideIntegration, Connector: "crm", Entity: "accounts", Key: "accountid", Modified: "modifiedon"},
		Since:  created.Add(-time.Hour), ReadStarted: created.Add(-time.Minute), NewWatermark: created.Add(-2 * time.Minute),
		Read: 17, NotModified: 3, DestRead: 20, Coupled: 12,
		Warnings:      []string{"no watermark yet", "part of the filter cannot be sent"},
		NeedsApproval: []string{"deletes 3 records in accounts"},
		Definition:    "def-customer", DefinitionChanged: true, CreatesIntoExisting: true,
	}, {
		Name: "VENDOR", Direction: "from_integration",
		Source:      plan.Endpoint{Side: plan.SideIntegration, Connector: "crm", Entity: "accounts", Key: "accountid", Modified: "modifiedon"},
		Dest:        plan.Endpoint{Side: plan.SideTable, Connector: "erp", Entity: "vendors", Key: "number"},
		ReadStarted: created, Record: "A-1",
		ChangeTracking: plan.ChangesDelta, BaseChangeToken: "delta-1", NewChangeToken: "delta-2", Removed: 4,
	}}}
}

// ops are the operations of customerPart in fullPlan: of every kind a
// plan lists, with changes, displays and versions.
func ops() []plan.Operation {
	show := func(v string) plan.Display {
		return plan.Display{{Field: "name", Value: json.RawMessage(`"` + v + `"`)}}
	}
	return []plan.Operation{
		{Seq: 1, Kind: plan.Create, SourceID: "C1", SourceETag: `W/"1"`, SourceModified: aTime.Add(time.Second), SourceDisplay: show("Adatum"),
			Changes: []plan.Change{{Field: "accountid", After: json.RawMessage(`"A9"`)}, {Field: "name", After: json.RawMessage(`"Adatum"`)}}},
		{Seq: 2, Kind: plan.Create, SourceID: "C2",
			Changes: []plan.Change{{Field: "name", After: json.RawMessage(`"Contoso"`)}}},
		{Seq: 3, Kind: plan.Update, SourceID: "C3", DestID: "A3", ETag: `W/"30"`, SourceETag: `W/"3"`, SourceModified: aTime,
			SourceDisplay: show("Fabrikam"), DestDisplay: show("Fabrikam Inc"),
			Changes: []plan.Change{{Field: "credit", Before: json.RawMessage(`1.5`), After: json.RawMessage(`null`)},
				{Field: "name", Before: json.RawMessage(`"Fabrikam Inc"`), After: json.RawMessage(`"Fabrikam"`)}}},
		{Seq: 4, Kind: plan.Fail, SourceID: "C4", Reason: "lookup SALESPERSON: no record X", SourceModified: aTime.Add(-time.Hour)},
		{Seq: 5, Kind: plan.Skip, SourceID: "C5", Reason: "left out by filter"},
		{Seq: 6, Kind: plan.Skipped, SourceID: "C6", Reason: "skipped after failing 2 runs"},
		// Listed unchanged, as plans saved before DuckDB schema version 8.
		{Seq: 7, Kind: plan.Unchanged, SourceID: "C7", DestID: "A7"},
	}
}

// saveFull saves fullPlan with the diff of its CUSTOMER part (ops, 10
// more unchanged records, one of them marked) and an empty VENDOR part.
func saveFull(t *testing.T, s store, id string, created time.Time) *plan.Plan {
	t.Helper()
	s.saveDiff(t, Diff{Part: customerPart(id), Operations: ops(), Unchanged: 10,
		Fields: []state.DestField{{Name: "name"}, {Name: "primarycontactid", BindSet: "contacts"}, {Name: "credit"}},
		Marks:  []Unchanged{{SourceID: "C8", DestID: "A8", SourceModified: aTime, SourceETag: `W/"8"`}}})
	s.saveDiff(t, Diff{Part: vendorPart(id)})
	p := fullPlan(id, created)
	must(t, s.SavePlan(t.Context(), p, map[string]time.Time{state.WatermarkKey("CUSTOMER", plan.SideTable): aTime}, false))
	return p
}

// customerCounts are the counts of the CUSTOMER part saveFull saves.
func customerCounts() plan.Counts {
	c := plan.Counts{}
	for _, k := range plan.Kinds {
		c[k] = 0
	}
	c[plan.Create], c[plan.Update], c[plan.Fail], c[plan.Skip], c[plan.Skipped], c[plan.Unchanged] = 2, 1, 1, 1, 1, 11
	return c
}

// stored is an operation as a store gives it back: times in UTC to the
// microsecond.
func stored(o plan.Operation) plan.Operation {
	if !o.SourceModified.IsZero() {
		o.SourceModified = storedTime(o.SourceModified)
	}
	return o
}

// wantOps checks operations against the operations of ops() with the
// given seqs, in that order.
func wantOps(t *testing.T, what string, got []plan.Operation, seqs ...int64) {
	t.Helper()
	var want []plan.Operation
	for _, s := range seqs {
		want = append(want, stored(ops()[s-1]))
	}
	for i := range got {
		if m := got[i].SourceModified; !m.IsZero() && m.Location() != time.UTC {
			t.Errorf("%s: operation %d modified %v, not in UTC", what, got[i].Seq, m)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, opsText(got), opsText(want))
	}
}

// opsText shows operations for messages, their JSON values as text.
func opsText(ops []plan.Operation) string {
	b, _ := json.Marshal(ops)
	return string(b)
}

// header is a part of a loaded plan without what the operations make of
// it, its times as a store gives them back.
func header(m *plan.MappingPlan) plan.MappingPlan {
	h := *m
	h.Operations, h.Counts, h.Omitted = nil, nil, 0
	for _, t := range []*time.Time{&h.Since, &h.ReadStarted, &h.NewWatermark} {
		if !t.IsZero() {
			*t = storedTime(*t)
		}
	}
	return h
}

// saveAndLoad: a plan reads back as saved, part for part, with the
// operations and counts its diff made, its base watermarks and bind sets.
func saveAndLoad(t *testing.T, s store) {
	ctx := t.Context()
	want := saveFull(t, s, "p1", aTime)
	got, err := s.LoadPlan(ctx, "p1", -1)
	must(t, err)
	if got.ID != "p1" || !sameTime(got.CreatedAt, aTime) || !got.Full || got.Fingerprint != "fp-p1" || got.Status != plan.Planned || got.Name != "" || got.Approved != nil {
		t.Errorf("plan: %+v, want p1 made at %v, full, fingerprint fp-p1, planned, no name, not approved", got, storedTime(aTime))
	}
	if len(got.Mappings) != 2 {
		t.Fatalf("%d parts, want 2", len(got.Mappings))
	}
	for i, m := range got.Mappings {
		if g, w := header(m), header(want.Mappings[i]); !reflect.DeepEqual(g, w) {
			t.Errorf("part %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if c := got.Mappings[0].Counts; !maps.Equal(c, customerCounts()) {
		t.Errorf("CUSTOMER's counts %v, want %v", c, customerCounts())
	}
	if c, err := s.Counts(ctx, customerPart("p1")); err != nil || !maps.Equal(c, customerCounts()) {
		t.Errorf("Counts(CUSTOMER) = %v, %v; want %v", c, err, customerCounts())
	}
	// None asked for: the writes, conflicts, failures and skipped records.
	wantOps(t, "CUSTOMER's operations", got.Mappings[0].Operations, 1, 2, 3, 4, 6)
	if got.Mappings[0].Omitted != 0 || len(got.Mappings[1].Operations) != 0 {
		t.Errorf("omitted %d, VENDOR's operations %v; want none", got.Mappings[0].Omitted, got.Mappings[1].Operations)
	}
	empty, err := s.Counts(ctx, vendorPart("p1"))
	must(t, err)
	for k, n := range empty {
		if n != 0 {
			t.Errorf("VENDOR's %s count %d, want 0", k, n)
		}
	}
	if len(empty) != len(plan.Kinds) {
		t.Errorf("VENDOR's counts %v, want every kind", empty)
	}
	base, err := s.PlanBase(ctx, "p1")
	must(t, err)
	if len(base) != 1 || !sameTime(base[state.WatermarkKey("CUSTOMER", plan.SideTable)], aTime) {
		t.Errorf("PlanBase: %v, want CUSTOMER/table at %v only", base, storedTime(aTime))
	}
	sets, err := s.BindSets(ctx, customerPart("p1"))
	must(t, err)
	if !maps.Equal(sets, map[string]string{"primarycontactid": "contacts"}) {
		t.Errorf("BindSets: %v, want primarycontactid into contacts", sets)
	}
	if _, err := s.LoadPlan(ctx, "p2", -1); !errors.Is(err, state.ErrNoPlan) {
		t.Errorf("LoadPlan of a plan never saved: %v, want ErrNoPlan", err)
	}
}

// loadLimits: at most limit operations a part, the rest counted as
// omitted; the kinds asked for only, unchanged records counted only as
// far as listed.
func loadLimits(t *testing.T, s store) {
	ctx := t.Context()
	saveFull(t, s, "p1", aTime)
	for _, tc := range []struct {
		limit   int
		kinds   []plan.Kind
		seqs    []int64
		omitted int64
	}{
		{2, nil, []int64{1, 2}, 3},
		{0, nil, nil, 5},
		{-1, []plan.Kind{plan.Skip, plan.Update}, []int64{3, 5}, 0},
		{-1, []plan.Kind{plan.Unchanged}, []int64{7}, 0},
		{-1, plan.Kinds, []int64{1, 2, 3, 4, 5, 6, 7}, 0},
	} {
		p, err := s.LoadPlan(ctx, "p1", tc.limit, tc.kinds...)
		must(t, err)
		m := p.Mappings[0]
		wantOps(t, fmt.Sprintf("LoadPlan(%d, %v)", tc.limit, tc.kinds), m.Operations, tc.seqs...)
		if m.Omitted != tc.omitted {
			t.Errorf("LoadPlan(%d, %v): %d omitted, want %d", tc.limit, tc.kinds, m.Omitted, tc.omitted)
		}
	}
}

// collect lists what Operations streams.
func collect(t *testing.T, s store, part state.Part, after int64, limit int, kinds ...plan.Kind) []plan.Operation {
	t.Helper()
	var out []plan.Operation
	must(t, s.Operations(t.Context(), part, after, limit, kinds, func(o plan.Operation) error {
		out = append(out, o)
		return nil
	}))
	return out
}

// operationsPaged: after a seq, up to a limit, of the kinds asked for,
// each with its own changes only; fn's error stops the stream.
func operationsPaged(t *testing.T, s store) {
	saveFull(t, s, "p1", aTime)
	part := customerPart("p1")
	wantOps(t, "after 1, 2 of them", collect(t, s, part, 1, 2, plan.Kinds...), 2, 3)
	wantOps(t, "after 3", collect(t, s, part, 3, -1, plan.Kinds...), 4, 5, 6, 7)
	// The changes of seqs 1 and 2 lie in the range, their kind not.
	wantOps(t, "updates and failures", collect(t, s, part, 0, -1, plan.Update, plan.Fail), 3, 4)
	wantOps(t, "none", collect(t, s, part, 0, 0, plan.Kinds...))
	wantOps(t, "another part", collect(t, s, vendorPart("p1"), 0, -1, plan.Kinds...))
	stop := errors.New("enough")
	var n int
	err := s.Operations(t.Context(), part, 0, -1, plan.Kinds, func(plan.Operation) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Operations with fn failing: %v after %d operations, want fn's error after 1", err, n)
	}
}

// operationsMany: a part larger than any page a store reads at once comes
// whole and in seq order, saved in any order.
func operationsMany(t *testing.T, s store) {
	const n = 4500
	var many []plan.Operation
	for i := n; i >= 1; i-- {
		many = append(many, plan.Operation{Seq: int64(i), Kind: plan.Update, SourceID: fmt.Sprintf("C%05d", i), DestID: fmt.Sprintf("A%d", i),
			Changes: []plan.Change{{Field: "name", Before: json.RawMessage(`"a"`), After: json.RawMessage(fmt.Sprintf(`"%d"`, i))}}})
	}
	s.saveDiff(t, Diff{Part: customerPart("p1"), Operations: many})
	must(t, s.SavePlan(t.Context(), fullPlan("p1", aTime), nil, false))
	got := collect(t, s, customerPart("p1"), 0, -1, plan.Update)
	if len(got) != n {
		t.Fatalf("%d operations, want %d", len(got), n)
	}
	for i, o := range got {
		if o.Seq != int64(i+1) || len(o.Changes) != 1 || string(o.Changes[0].After) != fmt.Sprintf(`"%d"`, i+1) {
			t.Fatalf("operation %d: %+v, want seq %d with its change", i, o, i+1)
		}
	}
	if got := collect(t, s, customerPart("p1"), 2999, 1001, plan.Update); len(got) != 1001 || got[0].Seq != 3000 || got[1000].Seq != 4000 {
		t.Errorf("after 2999, 1001 of them: %d operations from %d", len(got), got[0].Seq)
	}
	c, err := s.Counts(t.Context(), customerPart("p1"))
	must(t, err)
	if c[plan.Update] != n {
		t.Errorf("%d updates counted, want %d", c[plan.Update], n)
	}
}

// planNames: a plan is found by its name; another plan named so is
// refused, naming the one that has it, unless it replaces the name.
func planNames(t *testing.T, s store) {
	ctx := t.Context()
	p := fullPlan("p1", aTime)
	p.Name = "friday"
	must(t, s.SavePlan(ctx, p, nil, false))
	if id, ok, err := s.PlanNamed(ctx, "friday"); err != nil || !ok || id != "p1" {
		t.Errorf("PlanNamed(friday) = %q, %v, %v; want p1", id, ok, err)
	}
	if id, ok, err := s.PlanNamed(ctx, "monday"); err != nil || ok {
		t.Errorf("PlanNamed(monday) = %q, %v, %v; want none", id, ok, err)
	}
	if got, err := s.LoadPlan(ctx, "friday", 0); err != nil || got.ID != "p1" || got.Name != "friday" {
		t.Errorf("LoadPlan(friday): %v, %v; want plan p1 named friday", got, err)
	}
	q := fullPlan("p2", aTime.Add(time.Minute))
	q.Name = "friday"
	err := s.SavePlan(ctx, q, nil, false)
	if err == nil || !strings.Contains(err.Error(), "p1") {
		t.Errorf("SavePlan of a second plan named friday: %v, want a refusal naming p1", err)
	}
	if _, err := s.LoadPlan(ctx, "p2", 0); !errors.Is(err, state.ErrNoPlan) {
		t.Errorf("the refused plan: %v, want ErrNoPlan (not saved)", err)
	}
	must(t, s.SavePlan(ctx, q, nil, true))
	if id, ok, err := s.PlanNamed(ctx, "friday"); err != nil || !ok || id != "p2" {
		t.Errorf("PlanNamed(friday) after replacing: %q, %v, %v; want p2", id, ok, err)
	}
	if old, err := s.LoadPlan(ctx, "p1", 0); err != nil || old.Name != "" {
		t.Errorf("the plan that lost the name: %+v, %v; want p1 unnamed", old, err)
	}
}

// discardPlan: a discarded plan and whatever its diff saved are gone;
// other plans stay.
func discardPlan(t *testing.T, s store) {
	ctx := t.Context()
	saveFull(t, s, "p1", aTime)
	saveFull(t, s, "p2", aTime)
	must(t, s.DiscardPlan(ctx, "p1"))
	if _, err := s.LoadPlan(ctx, "p1", 0); !errors.Is(err, state.ErrNoPlan) {
		t.Errorf("LoadPlan of a discarded plan: %v, want ErrNoPlan", err)
	}
	if ops := collect(t, s, customerPart("p1"), 0, -1, plan.Kinds...); len(ops) != 0 {
		t.Errorf("a discarded plan's operations: %v", ops)
	}
	if c, err := s.Counts(ctx, customerPart("p1")); err != nil || c[plan.Unchanged] != 0 {
		t.Errorf("a discarded plan's unchanged records: %v, %v", c, err)
	}
	if sets, err := s.BindSets(ctx, customerPart("p1")); err != nil || len(sets) != 0 {
		t.Errorf("a discarded plan's bind sets: %v, %v", sets, err)
	}
	if c, err := s.Counts(ctx, customerPart("p2")); err != nil || !maps.Equal(c, customerCounts()) {
		t.Errorf("the other plan's counts: %v, %v", c, err)
	}
}

// latestPlan: none at first; then the plan made last, of two made in one
// instant the greater id.
func latestPlan(t *testing.T, s store) {
	ctx := t.Context()
	if _, _, err := s.LatestPlan(ctx); !errors.Is(err, state.ErrNoPlan) {
		t.Errorf("LatestPlan of a new state: %v, want ErrNoPlan", err)
	}
	for _, p := range []*plan.Plan{fullPlan("p3", aTime), fullPlan("p1", aTime.Add(time.Minute)), fullPlan("p2", aTime.Add(time.Minute)), fullPlan("p0", aTime.Add(-time.Minute))} {
		must(t, s.SavePlan(ctx, p, nil, false))
	}
	must(t, s.SetPlanStatus(ctx, "p2", plan.Applying, plan.Planned))
	if id, st, err := s.LatestPlan(ctx); err != nil || id != "p2" || st != plan.Applying {
		t.Errorf("LatestPlan = %s (%s), %v; want p2, applying", id, st, err)
	}
}

// planStatus: a plan moves only from the statuses given, and says what
// it is when it cannot; an unknown plan is ErrNoPlan.
func planStatus(t *testing.T, s store) {
	ctx := t.Context()
	must(t, s.SavePlan(ctx, fullPlan("p1", aTime), nil, false))
	must(t, s.SetPlanStatus(ctx, "p1", plan.Applying, plan.Planned, plan.Interrupted))
	err := s.SetPlanStatus(ctx, "p1", plan.Applying, plan.Planned, plan.Interrupted)
	if err == nil || !strings.Contains(err.Error(), "applying") {
		t.Errorf("a second apply of p1: %v, want a refusal saying it is applying", err)
	}
	must(t, s.SetPlanStatus(ctx, "p1", plan.Applied, plan.Applying))
	if p, err := s.LoadPlan(ctx, "p1", 0); err != nil || p.Status != plan.Applied {
		t.Errorf("p1 after its apply: %v, %v; want applied", p, err)
	}
	if err := s.SetPlanStatus(ctx, "p9", plan.Applying, plan.Planned); !errors.Is(err, state.ErrNoPlan) {
		t.Errorf("SetPlanStatus of an unknown plan: %v, want ErrNoPlan", err)
	}
}

// planStatusRace: of two applies moving one plan to applying at once,
// exactly one proceeds.
func planStatusRace(t *testing.T, s store) {
	must(t, s.SavePlan(t.Context(), fullPlan("p1", aTime), nil, false))
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { errs[i] = s.SetPlanStatus(t.Context(), "p1", plan.Applying, plan.Planned) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: two applies starting at once: %v and %v, want exactly one refused", round, errs[0], errs[1])
		}
		must(t, s.SetPlanStatus(t.Context(), "p1", plan.Planned, plan.Applying))
	}
}

// markInterrupted: every plan applying, and only those, becomes
// interrupted.
func markInterrupted(t *testing.T, s store) {
	ctx := t.Context()
	for _, id := range []string{"p1", "p2", "p3", "p4"} {
		must(t, s.SavePlan(ctx, fullPlan(id, aTime), nil, false))
	}
	for _, id := range []string{"p1", "p2", "p4"} {
		must(t, s.SetPlanStatus(ctx, id, plan.Applying, plan.Planned))
	}
	must(t, s.SetPlanStatus(ctx, "p4", plan.Applied, plan.Applying))
	ids, err := s.MarkInterrupted(ctx)
	must(t, err)
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"p1", "p2"}) {
		t.Errorf("MarkInterrupted = %v, want p1 and p2", ids)
	}
	for id, want := range map[string]plan.Status{"p1": plan.Interrupted, "p2": plan.Interrupted, "p3": plan.Planned, "p4": plan.Applied} {
		if p, err := s.LoadPlan(ctx, id, 0); err != nil || p.Status != want {
			t.Errorf("%s after MarkInterrupted: %v, %v; want %s", id, p, err, want)
		}
	}
	if ids, err := s.MarkInterrupted(ctx); err != nil || len(ids) != 0 {
		t.Errorf("MarkInterrupted again = %v, %v; want none", ids, err)
	}
}

// onePart saves a plan of mapping's CUSTOMER-like part alone, made at
// created.
func onePart(t *testing.T, s state.Store, id, mapping string, created time.Time) {
	t.Helper()
	p := fullPlan(id, created)
	p.Mappings = p.Mappings[:1]
	p.Mappings[0].Name = mapping
	must(t, s.SavePlan(t.Context(), p, nil, false))
}

// appliedSinceAfter: a plan is stale once another over one of its
// mappings began applying after it was made; a resumed plan, once another
// began applying after it did. Moving on from applying keeps the time its
// apply began.
func appliedSinceAfter(t *testing.T, s store) {
	ctx := t.Context()
	now := time.Now()
	onePart(t, s, "old", "CUSTOMER", now.Add(-time.Hour))
	onePart(t, s, "other", "VENDOR", now.Add(-time.Hour))
	onePart(t, s, "new", "CUSTOMER", now.Add(-time.Minute))
	onePart(t, s, "future", "CUSTOMER", now.Add(time.Hour))
	since := func(id, wantOther, wantMapping string) {
		t.Helper()
		other, mapping, err := s.AppliedSince(ctx, id)
		must(t, err)
		if other != wantOther || mapping != wantMapping {
			t.Errorf("AppliedSince(%s) = %q, %q; want %q, %q", id, other, mapping, wantOther, wantMapping)
		}
	}
	after := func(id, want string) {
		t.Helper()
		other, err := s.AppliedAfter(ctx, id)
		must(t, err)
		if other != want {
			t.Errorf("AppliedAfter(%s) = %q, want %q", id, other, want)
		}
	}
	since("old", "", "")
	must(t, s.SetPlanStatus(ctx, "other", plan.Applying, plan.Planned))
	since("old", "", "") // another mapping's
	must(t, s.SetPlanStatus(ctx, "old", plan.Applying, plan.Planned))
	since("new", "old", "CUSTOMER")
	since("future", "", "") // made after old's apply began
	after("old", "")
	must(t, s.SetPlanStatus(ctx, "new", plan.Applying, plan.Planned))
	after("old", "new")
	after("new", "")
	must(t, s.SetPlanStatus(ctx, "old", plan.Interrupted, plan.Applying))
	must(t, s.SetPlanStatus(ctx, "new", plan.Applied, plan.Applying))
	after("old", "new")
}

// plannedCouplings: the ids of one side a plan will have coupled, from
// either pass: created, coupled or restored records of the pass from that
// side, the other pass's matches, and the keys its creates write there.
func plannedCouplings(t *testing.T, s store) {
	ctx := t.Context()
	p := fullPlan("p1", aTime)
	p.Mappings[1].Name = "CUSTOMER"
	s.saveDiff(t, Diff{Part: customerPart("p1"), Operations: []plan.Operation{
		{Seq: 1, Kind: plan.Create, SourceID: "C1", Changes: []plan.Change{{Field: "accountid", After: json.RawMessage(`"A9"`)}}},
		{Seq: 2, Kind: plan.Couple, SourceID: "C2", DestID: "A2"},
		{Seq: 3, Kind: plan.Restore, SourceID: "C3", DestID: "A3-gone"},
		{Seq: 4, Kind: plan.Update, SourceID: "C4", DestID: "A4"},
		{Seq: 5, Kind: plan.Fail, SourceID: "C5"},
	}})
	s.saveDiff(t, Diff{Part: state.Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "from_integration"}, Operations: []plan.Operation{
		{Seq: 1, Kind: plan.Couple, SourceID: "A5", DestID: "C5"},
		{Seq: 2, Kind: plan.Create, SourceID: "A6", Changes: []plan.Change{{Field: "number", After: json.RawMessage(`"C6"`)}}},
		// A key that is not text cannot be a lookup's id.
		{Seq: 3, Kind: plan.Create, SourceID: "A7", Changes: []plan.Change{{Field: "number", After: json.RawMessage(`7`)}, {Field: "name", After: json.RawMessage(`"C-name"`)}}},
		{Seq: 4, Kind: plan.Update, SourceID: "A8", DestID: "C8"},
	}})
	must(t, s.SavePlan(ctx, p, nil, false))
	for _, tc := range []struct {
		table bool
		want  []string
	}{
		{true, []string{"C1", "C2", "C3", "C5", "C6"}},
		{false, []string{"A2", "A5", "A6", "A7", "A9"}},
	} {
		got, err := s.PlannedCouplings(ctx, "p1", "CUSTOMER", tc.table)
		must(t, err)
		if ids := slices.Sorted(maps.Keys(got)); !slices.Equal(ids, tc.want) {
			t.Errorf("PlannedCouplings(table side %v) = %v, want %v", tc.table, ids, tc.want)
		}
	}
	if got, err := s.PlannedCouplings(ctx, "p1", "VENDOR", true); err != nil || len(got) != 0 {
		t.Errorf("PlannedCouplings of another mapping: %v, %v", got, err)
	}
}

// nonZero is counts without the kinds counted zero.
func nonZero(c plan.Counts) plan.Counts {
	out := plan.Counts{}
	for k, n := range c {
		if n != 0 {
			out[k] = n
		}
	}
	return out
}

// listPlans: newest first (of two made in one instant, the greater id),
// up to the limit, each with its name, mappings, counts over its parts,
// whether it needs approval and who gave it.
func listPlans(t *testing.T, s store) {
	ctx := t.Context()
	saveFull(t, s, "p1", aTime)
	onePart(t, s, "p2", "VENDOR", aTime.Add(time.Minute))
	q := fullPlan("p3", aTime.Add(time.Minute))
	q.Name, q.Mappings = "friday", q.Mappings[1:]
	must(t, s.SavePlan(ctx, q, nil, false))
	must(t, s.SetPlanStatus(ctx, "p3", plan.Applying, plan.Planned))
	at := aTime.Add(time.Hour)
	_, err := s.Approve(ctx, "p1", "ana", at)
	must(t, err)
	list, err := s.Plans(ctx, 10)
	must(t, err)
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(ids, []string{"p3", "p2", "p1"}) {
		t.Fatalf("Plans: %v, want p3, p2, p1", ids)
	}
	p3, p1 := list[0], list[2]
	if p3.Name != "friday" || p3.Status != plan.Applying || !sameTime(p3.CreatedAt, aTime.Add(time.Minute)) || !slices.Equal(p3.Mappings, []string{"VENDOR"}) ||
		p3.NeedsApproval || p3.Approved != nil || len(nonZero(p3.Counts)) != 0 {
		t.Errorf("p3: %+v", p3)
	}
	if p1.Name != "" || p1.Status != plan.Planned || !slices.Equal(p1.Mappings, []string{"CUSTOMER", "VENDOR"}) || !p1.NeedsApproval ||
		p1.Approved == nil || p1.Approved.By != "ana" || !sameTime(p1.Approved.At, at) {
		t.Errorf("p1: %+v, approved %+v", p1, p1.Approved)
	}
	if got, want := nonZero(p1.Counts), nonZero(customerCounts()); !maps.Equal(got, want) {
		t.Errorf("p1's counts %v, want %v", got, want)
	}
	var notModified int64
	for _, m := range fullPlan("p1", aTime).Mappings {
		notModified += m.NotModified
	}
	if notModified == 0 || p1.NotModified != notModified {
		t.Errorf("p1's not modified: %d, want its parts' %d", p1.NotModified, notModified)
	}
	if list, err := s.Plans(ctx, 2); err != nil || len(list) != 2 || list[1].ID != "p2" {
		t.Errorf("Plans(2): %v, %v; want p3 and p2", list, err)
	}
}

// prunePlans: plans made before the cut go, but the newest kept, those
// with writes in flight and those apply can still resume; so do the rows
// of plans never saved.
func prunePlans(t *testing.T, s store) {
	ctx := t.Context()
	plans := []struct {
		id, mapping string
		at          time.Duration
	}{
		{"old", "CUSTOMER", 0},
		{"applied", "CUSTOMER", time.Minute},
		{"in-flight", "CUSTOMER", 2 * time.Minute},
		{"resumable", "VENDOR", 3 * time.Minute},
		{"stale", "CUSTOMER", 4 * time.Minute},
		{"recent", "CUSTOMER", 5 * time.Minute},
		{"newest", "CUSTOMER", 6 * time.Minute},
	}
	for _, p := range plans {
		s.saveDiff(t, Diff{Part: state.Part{PlanID: p.id, Mapping: p.mapping, Direction: "to_integration"}, Operations: ops()[:2], Unchanged: 1})
		onePart(t, s, p.id, p.mapping, aTime.Add(p.at))
	}
	s.saveDiff(t, Diff{Part: customerPart("never-saved"), Operations: ops()})
	status := func(id string, to plan.Status, from plan.Status) {
		t.Helper()
		must(t, s.SetPlanStatus(ctx, id, to, from))
	}
	status("applied", plan.Applying, plan.Planned)
	status("applied", plan.Applied, plan.Applying)
	status("in-flight", plan.Applying, plan.Planned)
	in := intent(1, 1)
	in.PlanID = "in-flight"
	must(t, s.RecordIntents(ctx, []state.Intent{in}))
	status("in-flight", plan.Interrupted, plan.Applying)
	status("resumable", plan.Applying, plan.Planned)
	status("resumable", plan.Interrupted, plan.Applying)
	status("stale", plan.Applying, plan.Planned)
	status("stale", plan.Interrupted, plan.Applying)
	// Applied over stale's (and in-flight's) mapping after they began.
	status("recent", plan.Applying, plan.Planned)
	status("recent", plan.Applied, plan.Applying)

	res, err := s.PrunePlans(ctx, aTime.Add(5*time.Minute-time.Second), 1)
	must(t, err)
	// A store apart from the workspace writes a diff with its plan only
	// (pruneWhileSaving): a plan never saved leaves nothing to prune.
	orphans := int64(len(ops()))
	if _, ok := s.Store.(state.DiffSaver); ok {
		orphans = 0
	}
	if res.Plans != 3 || res.Orphans != orphans {
		t.Errorf("PrunePlans = %+v, want 3 plans and %d orphaned operations", res, orphans)
	}
	list, err := s.Plans(ctx, 100)
	must(t, err)
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	if want := []string{"newest", "recent", "resumable", "in-flight"}; !slices.Equal(ids, want) {
		t.Errorf("plans after pruning: %v, want %v", ids, want)
	}
	for _, id := range []string{"old", "applied", "stale", "never-saved"} {
		if _, err := s.LoadPlan(ctx, id, 0); id != "never-saved" && !errors.Is(err, state.ErrNoPlan) {
			t.Errorf("pruned plan %s: %v, want ErrNoPlan", id, err)
		}
		part := customerPart(id)
		if got := collect(t, s, part, 0, -1, plan.Kinds...); len(got) != 0 {
			t.Errorf("pruned plan %s: %d operations left", id, len(got))
		}
		if c, err := s.Counts(ctx, part); err != nil || c[plan.Unchanged] != 0 {
			t.Errorf("pruned plan %s: counts %v, %v", id, c, err)
		}
	}
	if got := collect(t, s, state.Part{PlanID: "resumable", Mapping: "VENDOR", Direction: "to_integration"}, 0, -1, plan.Kinds...); len(got) != 2 {
		t.Errorf("a kept plan's operations: %d, want 2", len(got))
	}
}

// approvePlan: the first approval stands, whoever approves after.
func approvePlan(t *testing.T, s store) {
	ctx := t.Context()
	must(t, s.SavePlan(ctx, fullPlan("p1", aTime), nil, false))
	first := aTime.Add(time.Minute)
	for _, tc := range []struct {
		by string
		at time.Time
	}{{"ana", first}, {"bo", first.Add(time.Minute)}} {
		a, err := s.Approve(ctx, "p1", tc.by, tc.at)
		must(t, err)
		if a == nil || a.By != "ana" || !sameTime(a.At, first) {
			t.Errorf("Approve by %s = %+v, want ana's at %v", tc.by, a, storedTime(first))
		}
	}
	p, err := s.LoadPlan(ctx, "p1", 0)
	must(t, err)
	if p.Approved == nil || p.Approved.By != "ana" || !sameTime(p.Approved.At, first) {
		t.Errorf("the loaded plan's approval: %+v, want ana's", p.Approved)
	}
}

// exportOperations: a plan's operations, one row per changed field, to
// JSON lines or parquet, of the mappings and kinds asked for; a lookup
// known only after apply is shown as such.
func exportOperations(t *testing.T, s store) {
	ctx := t.Context()
	dir := s.impl.Files(t, s.Store)
	withLookup := ops()
	withLookup[1].Changes = append(withLookup[1].Changes, plan.Change{Field: "primarycontactid",
		After: json.RawMessage(`"` + strings.ReplaceAll(plan.KnownAfterApply{Mapping: "CONTACT", Side: plan.SideTable, ID: "K1"}.Placeholder(), "\x00", `\u0000`) + `"`)})
	s.saveDiff(t, Diff{Part: customerPart("p1"), Operations: withLookup})
	s.saveDiff(t, Diff{Part: vendorPart("p1"), Operations: []plan.Operation{{Seq: 1, Kind: plan.Delete, SourceID: "A1", DestID: "V1"}}})
	must(t, s.SavePlan(ctx, fullPlan("p1", aTime), nil, false))

	path := dir + "/ops.jsonl"
	n, err := s.ExportOperations(ctx, "p1", "jsonl", path, nil, nil)
	must(t, err)
	rows := readJSONLines(t, path)
	// C1 and C3 two changes each, C2 two, one row each for the other four
	// operations of CUSTOMER and VENDOR's delete.
	if n != 11 || len(rows) != 11 {
		t.Fatalf("exported %d rows, file has %d; want 11", n, len(rows))
	}
	first := map[string]any{"plan_id": "p1", "mapping": "CUSTOMER", "direction": "to_integration", "seq": float64(1), "op": "create",
		"source_id": "C1", "dest_id": nil, "reason": nil, "field": "accountid", "before": nil, "after": `"A9"`}
	if !maps.Equal(rows[0], first) {
		t.Errorf("first row %v, want %v", rows[0], first)
	}
	var order []string
	for _, r := range rows {
		order = append(order, fmt.Sprintf("%v/%v/%v", r["mapping"], r["seq"], r["field"]))
	}
	want := []string{"CUSTOMER/1/accountid", "CUSTOMER/1/name", "CUSTOMER/2/name", "CUSTOMER/2/primarycontactid", "CUSTOMER/3/credit", "CUSTOMER/3/name",
		"CUSTOMER/4/<nil>", "CUSTOMER/5/<nil>", "CUSTOMER/6/<nil>", "CUSTOMER/7/<nil>", "VENDOR/1/<nil>"}
	if !slices.Equal(order, want) {
		t.Errorf("rows by mapping/seq/field: %v, want %v", order, want)
	}
	if after := rows[3]["after"]; after != `{"known_after_apply":{"mapping":"CONTACT","side":"table","id":"K1"}}` {
		t.Errorf("a lookup known after apply exported as %v", after)
	}
	n, err = s.ExportOperations(ctx, "p1", "jsonl", dir+"/some.jsonl", []string{"CUSTOMER"}, []plan.Kind{plan.Update, plan.Fail})
	must(t, err)
	if rows := readJSONLines(t, dir+"/some.jsonl"); n != 3 || len(rows) != 3 || rows[2]["op"] != "fail" {
		t.Errorf("CUSTOMER's updates and failures: %d rows, %v; want 3, the failure last", n, rows)
	}
	n, err = s.ExportOperations(ctx, "p1", "parquet", dir+"/ops.parquet", []string{"VENDOR"}, nil)
	must(t, err)
	if got := parquetRows(t, dir+"/ops.parquet"); n != 1 || got != 1 {
		t.Errorf("VENDOR to parquet: %d rows exported, %d in the file; want 1", n, got)
	}
	if _, err := s.ExportOperations(ctx, "p1", "csv", dir+"/ops.csv", nil, nil); err == nil || !strings.Contains(err.Error(), "parquet or jsonl") {
		t.Errorf("export to csv: %v, want a refusal naming parquet and jsonl", err)
	}
}

// pruneWhileSaving: with a store apart from the workspace (a DiffSaver,
// shared by several processes), a prune that runs between a plan's diff
// and its save, another worker's between two runs, leaves the plan whole:
// once saved it has every operation. A DuckDB state is the workspace
// itself, which one process holds: its diff is written before the plan,
// and only that process prunes, between plans.
func pruneWhileSaving(t *testing.T, s store) {
	if _, ok := s.Store.(state.DiffSaver); !ok {
		t.Skip("the diff is written in the state itself, which one process holds")
	}
	ctx := t.Context()
	s.saveDiff(t, Diff{Part: customerPart("p1"), Operations: ops(), Unchanged: 10})
	s.saveDiff(t, Diff{Part: vendorPart("p1")})
	_, err := s.PrunePlans(ctx, aTime.Add(24*time.Hour), 0)
	must(t, err)
	must(t, s.SavePlan(ctx, fullPlan("p1", aTime), nil, false))
	if got := collect(t, s, customerPart("p1"), 0, -1, plan.Kinds...); len(got) != len(ops()) {
		t.Errorf("the plan saved after a prune has %d operations, want %d", len(got), len(ops()))
	}
	// A plan discarded after its diff leaves nothing behind.
	s.saveDiff(t, Diff{Part: customerPart("p2"), Operations: ops()})
	must(t, s.DiscardPlan(ctx, "p2"))
	if got := collect(t, s, customerPart("p2"), 0, -1, plan.Kinds...); len(got) != 0 {
		t.Errorf("a discarded plan left %d operations", len(got))
	}
}
