package statetest

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// RunCouplings checks the Couplings part: one-to-one links per mapping,
// refused when either record is coupled already, found and removed by
// either side's id.
func RunCouplings(t *testing.T, open func(t *testing.T) state.Couplings) {
	runChecks(t, open, []check[state.Couplings]{
		{"couple in bulk", coupleInBulk},
		{"couple refuses a coupled table record", coupleRefuses(state.Coupling{TableID: "T1", IntegrationID: "I-new"})},
		{"couple refuses a coupled integration record", coupleRefuses(state.Coupling{TableID: "T-new", IntegrationID: "I1"})},
		{"couple refuses a batch coupling one record twice", coupleRefusesTwice},
		{"mappings are apart", mappingsApart},
		{"ids are compared exactly", idsExact},
		{"couple one", coupleOne},
		{"uncouple", uncouple},
		{"already coupled", alreadyCoupled},
		{"search couplings", searchCouplings},
	})
}

// couple couples pairs "T<i>" <-> "I<i>" for i in 1..n in mapping.
func couple(t *testing.T, s state.Couplings, mapping string, n int) map[string]string {
	t.Helper()
	var pairs []state.Coupling
	want := map[string]string{}
	for i := 1; i <= n; i++ {
		p := state.Coupling{TableID: fmt.Sprintf("T%d", i), IntegrationID: fmt.Sprintf("I%d", i)}
		pairs = append(pairs, p)
		want[p.TableID] = p.IntegrationID
	}
	must(t, s.Couple(t.Context(), mapping, pairs))
	return want
}

// wantCouplings checks a mapping's couplings, table id to integration id,
// through every way to read them.
func wantCouplings(t *testing.T, s state.Couplings, mapping string, want map[string]string) {
	t.Helper()
	ctx := t.Context()
	n, err := s.CouplingCount(ctx, mapping)
	must(t, err)
	if n != int64(len(want)) {
		t.Errorf("mapping %s: %d couplings, want %d", mapping, n, len(want))
	}
	fromTable, err := s.CouplingMap(ctx, mapping, true)
	must(t, err)
	if !maps.Equal(fromTable, want) {
		t.Errorf("mapping %s: couplings from the table side %v, want %v", mapping, fromTable, want)
	}
	reverse := map[string]string{}
	for k, v := range want {
		reverse[v] = k
	}
	fromIntegration, err := s.CouplingMap(ctx, mapping, false)
	must(t, err)
	if !maps.Equal(fromIntegration, reverse) {
		t.Errorf("mapping %s: couplings from the integration side %v, want %v", mapping, fromIntegration, reverse)
	}
}

func coupleInBulk(t *testing.T, s state.Couplings) {
	want := couple(t, s, "CUSTOMER", 3)
	wantCouplings(t, s, "CUSTOMER", want)
	must(t, s.Couple(t.Context(), "CUSTOMER", nil))
	wantCouplings(t, s, "CUSTOMER", want)
	wantCouplings(t, s, "VENDOR", map[string]string{})
}

// coupleRefuses: a batch with one pair whose record is coupled already is
// refused whole; nothing of it is saved.
func coupleRefuses(taken state.Coupling) func(t *testing.T, s state.Couplings) {
	return func(t *testing.T, s state.Couplings) {
		want := couple(t, s, "CUSTOMER", 2)
		err := s.Couple(t.Context(), "CUSTOMER", []state.Coupling{{TableID: "T9", IntegrationID: "I9"}, taken})
		if err == nil {
			t.Errorf("coupling %s <-> %s once T1 <-> I1 is coupled: no error", taken.TableID, taken.IntegrationID)
		}
		wantCouplings(t, s, "CUSTOMER", want)
	}
}

func coupleRefusesTwice(t *testing.T, s state.Couplings) {
	err := s.Couple(t.Context(), "CUSTOMER", []state.Coupling{{TableID: "T1", IntegrationID: "I1"}, {TableID: "T1", IntegrationID: "I2"}})
	if err == nil {
		t.Error("a batch coupling T1 twice: no error")
	}
	wantCouplings(t, s, "CUSTOMER", map[string]string{})
}

// mappingsApart: the same records may be coupled in two mappings, and
// what happens to one mapping's couplings leaves the other's.
func mappingsApart(t *testing.T, s state.Couplings) {
	ctx := t.Context()
	want := couple(t, s, "CUSTOMER", 2)
	couple(t, s, "VENDOR", 2)
	must(t, s.CoupleOne(ctx, "CONTACT", "T1", "I1"))
	if all, err := s.AllCouplings(ctx); err != nil || all != 5 {
		t.Errorf("AllCouplings over three mappings: %d, %v; want 5", all, err)
	}
	n, err := s.Uncouple(ctx, "VENDOR", nil, true)
	must(t, err)
	if n != 2 {
		t.Errorf("uncouple all of VENDOR: %d, want 2", n)
	}
	wantCouplings(t, s, "VENDOR", map[string]string{})
	wantCouplings(t, s, "CUSTOMER", want)
	if c, err := s.FindCoupling(ctx, "VENDOR", "T1"); err != nil || c != nil {
		t.Errorf("FindCoupling in VENDOR after uncoupling all: %v, %v; want none", c, err)
	}
}

// idsExact: ids are compared as they are written, case included: two
// records whose ids differ in case only are two records.
func idsExact(t *testing.T, s state.Couplings) {
	ctx := t.Context()
	must(t, s.CoupleOne(ctx, "CUSTOMER", "abc", "X1"))
	must(t, s.CoupleOne(ctx, "CUSTOMER", "ABC", "x1"))
	c, err := s.FindCoupling(ctx, "CUSTOMER", "ABC")
	must(t, err)
	if c == nil || *c != (state.Coupling{TableID: "ABC", IntegrationID: "x1"}) {
		t.Errorf("FindCoupling(ABC) = %+v, want ABC <-> x1", c)
	}
	if c, err := s.FindCoupling(ctx, "CUSTOMER", "Abc"); err != nil || c != nil {
		t.Errorf("FindCoupling(Abc) = %+v, %v; want none", c, err)
	}
}

func coupleOne(t *testing.T, s state.Couplings) {
	ctx := t.Context()
	must(t, s.CoupleOne(ctx, "CUSTOMER", "T1", "I1"))
	for _, id := range []string{"T1", "I1"} {
		c, err := s.FindCoupling(ctx, "CUSTOMER", id)
		must(t, err)
		if c == nil || *c != (state.Coupling{TableID: "T1", IntegrationID: "I1"}) {
			t.Errorf("FindCoupling(%s) = %+v, want T1 <-> I1", id, c)
		}
	}
	if c, err := s.FindCoupling(ctx, "CUSTOMER", "T2"); err != nil || c != nil {
		t.Errorf("FindCoupling of an uncoupled record: %+v, %v; want none", c, err)
	}
	// The refusal names the coupling in the way, so that a person can
	// uncouple it.
	for _, p := range []state.Coupling{{TableID: "T1", IntegrationID: "I2"}, {TableID: "T2", IntegrationID: "I1"}} {
		err := s.CoupleOne(ctx, "CUSTOMER", p.TableID, p.IntegrationID)
		if err == nil || !strings.Contains(err.Error(), "T1") || !strings.Contains(err.Error(), "I1") {
			t.Errorf("CoupleOne(%s, %s) with T1 <-> I1 coupled: %v, want an error naming T1 and I1", p.TableID, p.IntegrationID, err)
		}
	}
	wantCouplings(t, s, "CUSTOMER", map[string]string{"T1": "I1"})
}

func uncouple(t *testing.T, s state.Couplings) {
	ctx := t.Context()
	couple(t, s, "CUSTOMER", 4)
	for _, tc := range []struct {
		ids  []string
		all  bool
		n    int64
		left map[string]string
	}{
		// By either side's id, in one call.
		{[]string{"T1", "I2"}, false, 2, map[string]string{"T3": "I3", "T4": "I4"}},
		{[]string{"T1", "nobody"}, false, 0, map[string]string{"T3": "I3", "T4": "I4"}},
		// No ids and not all: nothing, rather than everything.
		{nil, false, 0, map[string]string{"T3": "I3", "T4": "I4"}},
		{nil, true, 2, map[string]string{}},
	} {
		n, err := s.Uncouple(ctx, "CUSTOMER", tc.ids, tc.all)
		must(t, err)
		if n != tc.n {
			t.Errorf("Uncouple(%v, all %v) = %d, want %d", tc.ids, tc.all, n, tc.n)
		}
		wantCouplings(t, s, "CUSTOMER", tc.left)
	}
	// An uncoupled record can be coupled again, to another.
	must(t, s.CoupleOne(ctx, "CUSTOMER", "T1", "I2"))
	wantCouplings(t, s, "CUSTOMER", map[string]string{"T1": "I2"})
}

func alreadyCoupled(t *testing.T, s state.Couplings) {
	ctx := t.Context()
	couple(t, s, "CUSTOMER", 2)
	for _, tc := range []struct {
		name          string
		sourceIsTable bool
		ids           []string
		want          map[string]string
	}{
		{"table sources", true, []string{"T1", "T3", "I2"}, map[string]string{"T1": "I1"}},
		{"integration sources", false, []string{"I2", "T1", "I9"}, map[string]string{"I2": "T2"}},
		{"none asked", true, nil, map[string]string{}},
	} {
		got, err := s.AlreadyCoupled(ctx, "CUSTOMER", tc.sourceIsTable, tc.ids)
		must(t, err)
		if got == nil || !maps.Equal(got, tc.want) {
			t.Errorf("AlreadyCoupled, %s: %v, want %v", tc.name, got, tc.want)
		}
		// The destination side of the same pass is the other side.
		got, err = s.CoupledDestinations(ctx, "CUSTOMER", !tc.sourceIsTable, tc.ids)
		must(t, err)
		if got == nil || !maps.Equal(got, tc.want) {
			t.Errorf("CoupledDestinations, %s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func searchCouplings(t *testing.T, s state.Couplings) {
	ctx := t.Context()
	before := time.Now()
	must(t, s.Couple(ctx, "CUSTOMER", []state.Coupling{
		{TableID: "C-003", IntegrationID: "acct-zeta"},
		{TableID: "C-001", IntegrationID: "acct-ALPHA"},
		{TableID: "C-005", IntegrationID: "acct-beta"},
		{TableID: "C-002", IntegrationID: "acct-gamma"},
		{TableID: "C-004", IntegrationID: "acct-alphabet"},
	}))
	after := time.Now()
	couple(t, s, "VENDOR", 2)
	ids := func(p state.CouplingPage) []string {
		var out []string
		for _, r := range p.Rows {
			out = append(out, r.TableID+"="+r.IntegrationID)
		}
		return out
	}
	for _, tc := range []struct {
		q             string
		offset, limit int
		want          []string
		total         int64
	}{
		// Ordered by table id, a page at a time, with the count of all.
		{"", 0, 2, []string{"C-001=acct-ALPHA", "C-002=acct-gamma"}, 5},
		{"", 2, 2, []string{"C-003=acct-zeta", "C-004=acct-alphabet"}, 5},
		{"", 4, 2, []string{"C-005=acct-beta"}, 5},
		// Past the last page: nothing, but still the count, for the pager.
		{"", 10, 2, nil, 5},
		// Either id, case folded.
		{"alpha", 0, 10, []string{"C-001=acct-ALPHA", "C-004=acct-alphabet"}, 2},
		{"c-00", 0, 1, []string{"C-001=acct-ALPHA"}, 5},
		{"nothing like it", 0, 10, nil, 0},
	} {
		page, err := s.SearchCouplings(ctx, "CUSTOMER", tc.q, tc.offset, tc.limit)
		must(t, err)
		if got := ids(page); strings.Join(got, " ") != strings.Join(tc.want, " ") || page.Total != tc.total {
			t.Errorf("SearchCouplings(%q, %d, %d) = %v of %d, want %v of %d", tc.q, tc.offset, tc.limit, got, page.Total, tc.want, tc.total)
		}
	}
	page, err := s.SearchCouplings(ctx, "CUSTOMER", "C-001", 0, 1)
	must(t, err)
	if len(page.Rows) != 1 {
		t.Fatalf("SearchCouplings(C-001): %d rows", len(page.Rows))
	}
	// Coupled, never synced since; no plan read the records.
	r := page.Rows[0]
	if r.CoupledAt.Before(before.Truncate(time.Microsecond)) || r.CoupledAt.After(after) || r.CoupledAt.Location() != time.UTC {
		t.Errorf("coupled at %v, want between %v and %v, in UTC", r.CoupledAt, before, after)
	}
	if !r.LastSynced.IsZero() || r.LastResult != "" || r.TableDisplay != nil || r.IntegrationDisplay != nil {
		t.Errorf("a coupling never synced: %+v, want no last sync, result or display", r)
	}
}
