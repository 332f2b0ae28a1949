package engine_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// slowRecords is a state whose first recording of a batch's
// results waits until a lost create of the batch after it has been
// settled, or until patience runs out, and says which.
type slowRecords struct {
	state.Store
	patience time.Duration
	settled  chan struct{} // closed when a settle has looked up its candidates
	once     sync.Once
	first    atomic.Bool
	// overlapped is set when the first batch's results waited for the
	// next batch's settle, which was then sent before they were recorded.
	overlapped atomic.Bool
}

func (s *slowRecords) RecordResults(ctx context.Context, runID int64, side state.CouplingSide, results []state.RecordResult) error {
	if len(results) > 0 && s.first.CompareAndSwap(false, true) {
		select {
		case <-s.settled:
			s.overlapped.Store(true)
		case <-time.After(s.patience):
		}
	}
	return s.Store.RecordResults(ctx, runID, side, results)
}

// AlreadyCoupled with the integration side as the source is settling
// asking which of its candidates are coupled: the table side is this
// test's source.
func (s *slowRecords) AlreadyCoupled(ctx context.Context, mapping string, sourceIsTable bool, ids []string) (map[string]string, error) {
	got, err := s.Store.AlreadyCoupled(ctx, mapping, sourceIsTable, ids)
	if !sourceIsTable {
		s.once.Do(func() { close(s.settled) })
	}
	return got, err
}

// TestLostCreateNeverTakesTheBatchBeforesRecord: a batch is sent while
// the results of the batch before it are still being recorded, so a lost
// answer of the later batch is settled while the records the earlier one
// created are not coupled yet. With every record's values alike, settling
// by values must still take none of them for the lost create's own: they
// are claimed by the batch that made them. Before, the batch was sent
// only once the batch before was recorded (the first check below fails).
func TestLostCreateNeverTakesTheBatchBeforesRecord(t *testing.T) {
	t.Parallel()
	erp, crm := fake.NewERP(), fake.NewCRM()
	past := time.Now().Add(-time.Hour)
	erp.SetClock(func() time.Time { return past })
	const customers = 300 // a first batch of 200, then one of 100
	if err := fake.SeedCustomers(erp, customers); err != nil {
		t.Fatal(err)
	}
	erp.SetClock(time.Now)
	// The 250th create, in the second batch, happens; its answer is lost.
	var posts, lost atomic.Int32
	crmHandler := loseCreates(crm, "accounts", &lost)
	dir := bcDataverseProject(t, erp, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && posts.Add(1) == 250 {
			crmHandler.ServeHTTP(w, r)
			return
		}
		crm.ServeHTTP(w, r)
	}), "")
	writeFile(t, filepath.Join(dir, "mappings", "customer.yaml"), `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: to_integration
sync_only_coupled: false
fields:
  - { field: displayName, integration_field: name, to_integration: '"Twin"' }
`)
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	w := &world{t: t, erp: erp, crm: crm, dir: dir, e: e}
	p := w.plan(engine.PlanOptions{})
	var store *slowRecords
	restore := engine.WrapState(e, func(s state.Store) state.Store {
		store = &slowRecords{Store: s, patience: 20 * time.Second, settled: make(chan struct{})}
		return store
	})
	res := w.apply(p.ID)
	restore()
	if !store.overlapped.Load() {
		t.Errorf("the second batch was not sent while the first batch's results were recorded")
	}
	if lost.Load() != 1 {
		t.Fatalf("%d creates lost, want 1", lost.Load())
	}
	if len(res.Failures) != 0 {
		t.Errorf("apply failures: %v; want the lost create settled as the record it made", res.Failures)
	}
	if n := len(crm.All("accounts")); n != customers {
		t.Errorf("%d accounts in the CRM, want %d", n, customers)
	}
	pairs, err := e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	if err != nil {
		t.Fatal(err)
	}
	dests := map[string]bool{}
	for _, d := range pairs {
		dests[d] = true
	}
	if len(pairs) != customers || len(dests) != customers {
		t.Errorf("%d customers coupled to %d accounts, want %d to as many", len(pairs), len(dests), customers)
	}
	if p := w.plan(engine.PlanOptions{}); counts(p)[plan.Create] != 0 {
		t.Errorf("the next plan creates %d records again", counts(p)[plan.Create])
	}
}
