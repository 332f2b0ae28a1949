package engine_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

// soakFaults are the fault rates of the soak: about one request in
// sixteen goes wrong in some way.
var soakFaults = fake.Faults{
	Throttle: 0.005, RetryAfter: time.Second,
	ServerError: 0.02,
	Reset:       0.01,
	Slow:        0.003, SlowDelay: 1500 * time.Millisecond, // beyond the 1 s timeout
	Lost:      0.01,
	Truncate:  0.005,
	Malformed: 0.005,
}

// soakWorld is a bidirectional project on a fake ERP and CRM, optionally
// behind fault injectors.
type soakWorld struct {
	erp, crm     *fake.Server
	erpF, crmF   *fake.FaultInjector
	e            *engine.Engine
	attempts     int
	failedPlans  int
	failedApplys int
}

func newSoakWorld(t *testing.T, faults bool, seed uint64, customers, accounts int) *soakWorld {
	t.Helper()
	w := &soakWorld{erp: fake.NewERP(), crm: fake.NewCRM()}
	past := time.Now().Add(-time.Hour)
	w.erp.SetClock(func() time.Time { return past })
	w.crm.SetClock(func() time.Time { return past })
	if err := fake.SeedCustomers(w.erp, customers); err != nil {
		t.Fatal(err)
	}
	for i := range accounts {
		if _, err := w.crm.Put("accounts", connectors.Record{"accountnumber": fmt.Sprintf("A-%05d", i), "name": fmt.Sprintf("CRM account %d", i), "address1_city": "Oslo"}); err != nil {
			t.Fatal(err)
		}
	}
	w.erp.SetClock(time.Now)
	w.crm.SetClock(time.Now)
	var erpH, crmH http.Handler = http.StripPrefix("/api/v2.0", w.erp), http.StripPrefix("/api/data/v9.2", w.crm)
	if faults {
		f := soakFaults
		f.Seed = seed
		// Timeouts only on the CRM: a create that times out may still land
		// later, which only a client key can tell apart (see below), and the
		// ERP has none. Its timeout is long, so that a busy machine does not
		// time out ordinary requests.
		f.Slow = 0
		w.erpF = fake.WithFaults(erpH, f)
		f.Seed = seed + 1
		// Only the CRM, whose creates carry client keys, gets writes that
		// land after coupler gave up on them: without a key of its own no
		// client can tell such a create from none (docs/reliability.md).
		f.Slow = soakFaults.Slow
		f.Late, f.LateDelay = 0.003, 1500*time.Millisecond
		w.crmF = fake.WithFaults(crmH, f)
		erpH, crmH = w.erpF, w.crmF
	}
	erpSrv := httptest.NewServer(erpH)
	crmSrv := httptest.NewServer(crmH)
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "coupler.yaml"), fmt.Sprintf(`version: 1
connectors:
  bc: { type: odata, base_url: %q, page_size: 500, max_retries: 10, timeout: 30s }
  dataverse: { type: odata, base_url: %q, page_size: 500, max_retries: 10, timeout: 1s, client_keys: true }
mappings: ["mappings/*.yaml"]
`, fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), crmSrv.URL+"/api/data/v9.2"))
	writeFile(t, filepath.Join(dir, "mappings", "customer.yaml"), fmt.Sprintf(bidiMapping, "conflicts: { update: send_to_integration }"))
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	acknowledgeFirstSync(t, e)
	w.e = e
	return w
}

// syncToRest plans and applies until a plan finds nothing to do, at most
// maxAttempts plans; a failed plan or apply is logged and tried again, as
// an operator (or a scheduler) would.
func (w *soakWorld) syncToRest(t *testing.T, maxAttempts int) {
	t.Helper()
	ctx := t.Context()
	for range maxAttempts {
		w.attempts++
		p, err := w.e.Plan(ctx, engine.PlanOptions{})
		if err != nil {
			w.failedPlans++
			t.Logf("plan failed (tried again): %v", err)
			continue
		}
		if !p.HasChanges() {
			return
		}
		if _, err := w.e.Apply(ctx, p.ID); err != nil {
			w.failedApplys++
			t.Logf("apply failed (tried again): %v", err)
		}
	}
	t.Fatalf("no rest after %d plans", maxAttempts)
}

// edit makes the same outside changes in any world holding the same
// records: some customers edited in the ERP, other accounts in the CRM,
// and new records on both sides.
func (w *soakWorld) edit(t *testing.T, r *rand.Rand, round int) {
	t.Helper()
	customers := sortedBy(w.erp.All("customers"), "number")
	accounts := map[string]connectors.Record{}
	for _, a := range w.crm.All("accounts") {
		accounts[fmt.Sprint(a["accountnumber"])] = a
	}
	for i, c := range customers {
		x := r.IntN(40)
		switch {
		case x == 0 && i%2 == 0:
			if err := w.erp.Patch("customers", c["id"].(string), connectors.Record{"city": fmt.Sprintf("ERP city r%d-%d", round, i)}); err != nil {
				t.Fatal(err)
			}
		case x == 1 && i%2 == 1:
			a := accounts[fmt.Sprint(c["number"])]
			if a == nil {
				t.Fatalf("customer %v has no account", c["number"])
			}
			if err := w.crm.Patch("accounts", a["accountid"].(string), connectors.Record{"name": fmt.Sprintf("CRM name r%d-%d", round, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 20 {
		if _, err := w.erp.Put("customers", connectors.Record{"number": fmt.Sprintf("N-%d-%02d", round, i), "displayName": "New in the ERP", "city": "Bergen"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.crm.Put("accounts", connectors.Record{"accountnumber": fmt.Sprintf("M-%d-%02d", round, i), "name": "New in the CRM", "address1_city": "Turku"}); err != nil {
			t.Fatal(err)
		}
	}
}

// state is the world's end state as crash tests compare it.
func (w *soakWorld) state(t *testing.T) endState {
	cw := &crashWorld{erp: w.erp, crm: w.crm, e: w.e}
	return cw.endState(t)
}

// TestFaultSoak syncs a few thousand records under injected faults (429,
// 5xx, resets, timeouts, lost answers, truncated and malformed bodies), in
// rounds of outside edits, and requires the same end state as the same
// rounds without faults: no record twice, none missing, no edit lost.
func TestFaultSoak(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a few thousand records under faults")
	}
	const customers, accounts, rounds = 2000, 300, 3
	seed := scenarioSeed(t)
	clean := newSoakWorld(t, false, seed, customers, accounts)
	faulty := newSoakWorld(t, true, seed, customers, accounts)
	for round := range rounds {
		if round > 0 {
			clean.edit(t, rand.New(rand.NewPCG(seed, uint64(round))), round)
			faulty.edit(t, rand.New(rand.NewPCG(seed, uint64(round))), round)
		}
		clean.syncToRest(t, 2)
		faulty.syncToRest(t, 40)
		want, got := clean.state(t), faulty.state(t)
		if len(want.customers) != customers+accounts+round*20*2 {
			t.Fatalf("round %d: the clean run has %d customers", round, len(want.customers))
		}
		if got.String() != want.String() {
			t.Fatalf("round %d: under faults: %d customers, %d accounts, %d couplings; without: %d, %d, %d\n%s",
				round, len(got.customers), len(got.accounts), got.couplings, len(want.customers), len(want.accounts), want.couplings,
				firstDifference(got, want))
		}
	}
	fc := faulty.erpF.Counts()
	for k, n := range faulty.crmF.Counts() {
		fc[k] += n
	}
	total := 0
	kinds := make([]string, 0, len(fc))
	for k, n := range fc {
		total += n
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(kinds)
	t.Logf("%d faults injected (%v); %d plans, %d failed, %d applies failed", total, kinds, faulty.attempts, faulty.failedPlans, faulty.failedApplys)
	if total < 100 {
		t.Errorf("only %d faults injected", total)
	}
}

func firstDifference(got, want endState) string {
	diff := func(what string, a, b []string) string {
		for i := 0; i < len(a) || i < len(b); i++ {
			var x, y string
			if i < len(a) {
				x = a[i]
			}
			if i < len(b) {
				y = b[i]
			}
			if x != y {
				return fmt.Sprintf("%s #%d: got %q, want %q", what, i, x, y)
			}
		}
		return ""
	}
	return diff("customers", got.customers, want.customers) + "\n" + diff("accounts", got.accounts, want.accounts)
}
