package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/pgstate"
	"github.com/couplerhq/coupler/engine/state/pgtest"
)

// postgresOptions opens a PostgreSQL state in a new database of the test
// binary's server, for an engine's Options.Store; the engine closes it.
// The plan workspace goes in tmp.
func postgresOptions(t *testing.T, tmp string) engine.Options {
	t.Helper()
	store, err := pgstate.Open(t.Context(), pgtest.Database(t), pgstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := engine.Options{Store: store}
	opts.State.TempDirectory = tmp
	return opts
}

// newBidiPostgresWorld is newBidiWorld on PostgreSQL state, its plan
// workspace in tmp.
func newBidiPostgresWorld(t *testing.T, tmp string) *world {
	t.Helper()
	return newBidiWorldOpts(t, postgresOptions(t, tmp), fmt.Sprintf(bidiMapping, ""), bidiAccounts...)
}

// bidiAccounts are newBidiWorld's accounts, only in the CRM.
var bidiAccounts = []connectors.Record{
	{"accountnumber": "A-1", "name": "Only in the CRM", "address1_city": "Oslo"},
	{"accountnumber": "A-2", "name": "Also only in the CRM", "address1_city": "Lyon"},
}

// syncEnd is what a sync leaves, without the ids the fakes make up: each
// side's records, the couplings by record number and the runs' counts.
type syncEnd struct {
	customers, accounts, couplings, runs []string
}

// bidiSync syncs a bidirectional world: the first sync creates and
// couples both ways, a second plan finds nothing to do, an edit on each
// side flows to the other, and then nothing is left to do.
func bidiSync(t *testing.T, w *world) syncEnd {
	t.Helper()
	p := w.plan(engine.PlanOptions{})
	if got := part(t, p, "to_integration").Counts[plan.Create]; got != 5 {
		t.Errorf("to_integration creates = %d, want 5", got)
	}
	if got := part(t, p, "from_integration").Counts[plan.Create]; got != 2 {
		t.Errorf("from_integration creates = %d, want 2", got)
	}
	w.apply(p.ID)
	if n, m := w.erp.Len("customers"), w.crm.Len("accounts"); n != 7 || m != 7 {
		t.Fatalf("after the first sync: %d customers, %d accounts; want 7 and 7", n, m)
	}
	if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
		t.Errorf("second plan has changes: to %v, from %v", part(t, again, "to_integration").Counts, part(t, again, "from_integration").Counts)
	}
	w.apply("")

	cust := byField(t, w.erp.All("customers"), "number", "C00010")
	if err := w.erp.Patch("customers", cust["id"].(string), connectors.Record{"city": "Bergen"}); err != nil {
		t.Fatal(err)
	}
	acc := byField(t, w.crm.All("accounts"), "accountnumber", "A-1")
	if err := w.crm.Patch("accounts", acc["accountid"].(string), connectors.Record{"name": "Renamed in the CRM"}); err != nil {
		t.Fatal(err)
	}
	p = w.plan(engine.PlanOptions{})
	if got := part(t, p, "to_integration").Counts[plan.Update]; got != 1 {
		t.Errorf("to_integration updates after an edit in the ERP = %d, want 1 (%v)", got, part(t, p, "to_integration").Counts)
	}
	if got := part(t, p, "from_integration").Counts[plan.Update]; got != 1 {
		t.Errorf("from_integration updates after an edit in the CRM = %d, want 1 (%v)", got, part(t, p, "from_integration").Counts)
	}
	w.apply(p.ID)
	if got := byField(t, w.crm.All("accounts"), "accountnumber", "C00010")["address1_city"]; got != "Bergen" {
		t.Errorf("the ERP's edit reached the CRM as %v, want Bergen", got)
	}
	if got := byField(t, w.erp.All("customers"), "number", "A-1")["displayName"]; got != "Renamed in the CRM" {
		t.Errorf("the CRM's edit reached the ERP as %v, want Renamed in the CRM", got)
	}
	if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
		t.Errorf("plan after the edits flowed has changes: to %v, from %v", part(t, again, "to_integration").Counts, part(t, again, "from_integration").Counts)
	}
	return endOf(t, w)
}

// byField returns the one record whose field is value.
func byField(t *testing.T, recs []connectors.Record, field string, value any) connectors.Record {
	t.Helper()
	for _, r := range recs {
		if r[field] == value {
			return r
		}
	}
	t.Fatalf("no record has %s %v", field, value)
	return nil
}

// endOf reads what a sync left in w.
func endOf(t *testing.T, w *world) syncEnd {
	t.Helper()
	var end syncEnd
	numbers := map[string]any{}
	for _, c := range w.erp.All("customers") {
		end.customers = append(end.customers, fmt.Sprint(c["number"], "|", c["displayName"], "|", c["city"]))
		numbers[c["id"].(string)] = c["number"]
	}
	for _, a := range w.crm.All("accounts") {
		end.accounts = append(end.accounts, fmt.Sprint(a["accountnumber"], "|", a["name"], "|", a["address1_city"]))
		numbers[a["accountid"].(string)] = a["accountnumber"]
	}
	couplings, err := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	if err != nil {
		t.Fatal(err)
	}
	for table, integration := range couplings {
		end.couplings = append(end.couplings, fmt.Sprint(numbers[table], " = ", numbers[integration]))
	}
	runs, err := w.e.State().Runs(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.FinishedAt.IsZero() {
			t.Errorf("run %d of %s (%s) did not finish", r.ID, r.Mapping, r.Direction)
		}
		end.runs = append(end.runs, fmt.Sprintf("%s %s: %d inserted, %d modified, %d unchanged, %d skipped, %d failed, %d coupled",
			r.Mapping, r.Direction, r.Inserted, r.Modified, r.Unchanged, r.Skipped, r.Failed, r.Coupled))
	}
	slices.Reverse(end.runs)
	for _, s := range [][]string{end.customers, end.accounts, end.couplings} {
		slices.Sort(s)
	}
	return end
}

// TestPostgresBidirectionalSync runs a bidirectional sync with its state in
// PostgreSQL, planned in a DuckDB workspace of the engine's own, and
// checks that it ends as the same sync does on DuckDB state: records,
// couplings and runs. The workspace lives under staging's temp_directory
// and is removed when the engine closes.
func TestPostgresBidirectionalSync(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	pg := newBidiPostgresWorld(t, tmp)
	got := bidiSync(t, pg)
	if dirs, _ := filepath.Glob(filepath.Join(tmp, "coupler-workspace-*")); len(dirs) != 1 {
		t.Errorf("plan workspaces under the temp directory while the engine is open: %v, want one", dirs)
	}
	if err := pg.e.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmp, "coupler-workspace-*")); len(dirs) != 0 {
		t.Errorf("plan workspaces left after Close: %v", dirs)
	}

	want := bidiSync(t, newBidiWorld(t, ""))
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"customers", got.customers, want.customers},
		{"accounts", got.accounts, want.accounts},
		{"couplings", got.couplings, want.couplings},
		{"runs", got.runs, want.runs},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s on PostgreSQL state:\n\t%s\non DuckDB state:\n\t%s", c.what, join(c.got), join(c.want))
		}
	}
	if len(want.couplings) != 7 {
		t.Errorf("%d couplings after the sync, want 7: %v", len(want.couplings), want.couplings)
	}
}

func join(s []string) string { return fmt.Sprint(len(s), " ", s) }

// TestPostgresOutageAtEveryRequest: the PostgreSQL state goes away (every
// connection dropped, new ones refused at once, as when the server stops
// or the network fails) at every request of a bidirectional apply, before
// or after the service handles it, while coupler goes on running. The
// apply stops with an error that names the state database, and once the
// database is back a restarted coupler, resuming the plan or planning
// again, ends where the uninterrupted run does: every write that happened
// settled from its intent, none made twice, none lost.
func TestPostgresOutageAtEveryRequest(t *testing.T) {
	t.Parallel()
	i := slices.IndexFunc(crashScenarios, func(sc crashScenario) bool { return sc.name == "bidirectional_postgres" })
	sc := crashScenarios[i]
	start := startCrash(t, sc)
	eachRequest(t, start.requests, "the database goes away", func(t *testing.T, at int, after bool, point string) {
		w := start.base.fork(t, start.hub, sc)
		proxy := pgtest.NewProxy(t, w.stateURL)
		w.stateURL = proxy.URL()
		w.open(t)
		w.ks.arm(at, after, proxy.Cut)
		w.ks.mu.Lock()
		w.ks.outage = true
		w.ks.mu.Unlock()
		_, err := w.e.Apply(t.Context(), start.plan.ID)
		w.ks.arm(0, false, nil)
		if err == nil {
			t.Fatalf("%s: the apply succeeded", point)
		}
		if !errors.Is(err, state.ErrUnavailable) || !strings.Contains(err.Error(), "the state database is unavailable (postgres://") {
			t.Errorf("%s: the apply's error does not say the state database is unavailable, nor which: %v", point, err)
		}
		proxy.Restore()
		w.close(t)
		w.open(t)
		if at%2 == 1 {
			_, err = w.e.Apply(t.Context(), start.plan.ID)
		} else {
			p, perr := w.e.Plan(t.Context(), engine.PlanOptions{})
			if err = perr; err == nil {
				_, err = w.e.Apply(t.Context(), p.ID)
			}
		}
		if err != nil {
			t.Fatalf("%s: after the database came back: %v", point, err)
		}
		if got := w.endState(t); got.String() != start.want.String() {
			t.Errorf("%s: end state\n%s\nwant (uninterrupted)\n%s", point, got, start.want)
		}
		w.checkAtRest(t, point, start.plan, at%2 == 1)
		w.close(t)
	})
}

// lockLoser is a PostgreSQL state whose write lock is reported lost from
// its failAt-th check on, as when the database ends the session that held
// it.
type lockLoser struct {
	*pgstate.DB
	checks, failAt atomic.Int32
}

func (l *lockLoser) CheckWriteLock(ctx context.Context) error {
	if l.checks.Add(1) >= l.failAt.Load() {
		return fmt.Errorf("%w: the write lock went with the session that held it", state.ErrUnavailable)
	}
	return l.DB.CheckWriteLock(ctx)
}

// applyLosingLock applies the plan of a two-way world on a PostgreSQL
// state whose write lock is reported lost from its second check on: the
// first part's batch goes, the second part's does not.
func applyLosingLock(t *testing.T) (*world, *lockLoser, *plan.Plan, error) {
	t.Helper()
	opts := postgresOptions(t, t.TempDir())
	loser := &lockLoser{DB: opts.Store.(*pgstate.DB)}
	loser.failAt.Store(2)
	opts.Store = loser
	w := newBidiWorldOpts(t, opts, fmt.Sprintf(bidiMapping, ""), bidiAccounts...)
	p := w.plan(engine.PlanOptions{})
	_, err := w.e.Apply(t.Context(), p.ID)
	return w, loser, p, err
}

// TestPostgresApplyStopsWhenTheWriteLockIsLost: an apply whose write lock
// is lost (its PostgreSQL session ended: another process may be applying
// and settling its writes) sends no further batch and says why; resumed,
// it finishes the plan.
func TestPostgresApplyStopsWhenTheWriteLockIsLost(t *testing.T) {
	t.Parallel()
	w, loser, p, err := applyLosingLock(t)
	if err == nil || !errors.Is(err, state.ErrUnavailable) || !strings.Contains(err.Error(), "stopped before the next batch of writes") {
		t.Fatalf("apply with its write lock lost: %v; want it stopped before the next batch", err)
	}
	if n, m := w.erp.Len("customers"), w.crm.Len("accounts"); n == 7 && m == 7 {
		t.Errorf("both parts were written although the lock was lost before the second's batch")
	}
	loser.failAt.Store(1 << 30)
	if _, err := w.e.Apply(t.Context(), p.ID); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if n, m := w.erp.Len("customers"), w.crm.Len("accounts"); n != 7 || m != 7 {
		t.Errorf("after the resume: %d customers, %d accounts; want 7 and 7", n, m)
	}
}

// TestPostgresLostWriteLockLeavesNoIntentsOfABatchNeverSent: the batch
// prepared when the write lock is found lost was never sent, so its
// intents are dropped at once (docs/reliability.md: "the prepared batch's
// intents are dropped at once"), as when serve drains. Left behind, the
// next plan or apply reads back writes that never happened, and a create
// of an entity without a modified field or client keys cannot be told at
// all: it stops every apply until coupled by hand.
func TestPostgresLostWriteLockLeavesNoIntentsOfABatchNeverSent(t *testing.T) {
	t.Parallel()
	w, _, _, err := applyLosingLock(t)
	if !errors.Is(err, state.ErrUnavailable) {
		t.Fatalf("apply with its write lock lost: %v; want it stopped", err)
	}
	left, err := w.e.State().PendingIntents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d intents left of a batch never sent (first: %s %s of %s); want none", len(left), left[0].Op, left[0].SourceID, left[0].Direction)
	}
}
