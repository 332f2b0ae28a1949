package engine_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// newRequestsWorld serves n customers and no accounts, and a bidirectional
// CUSTOMER mapping whose integration side is keyed by key; crmExtra is
// added to the dataverse connector's settings.
func newRequestsWorld(t *testing.T, n int, key, crmExtra string) *world {
	t.Helper()
	return newRequestsWorldWrapped(t, n, key, crmExtra, func(h http.Handler) http.Handler { return h })
}

// newRequestsWorldWrapped is newRequestsWorld with the CRM's handler
// wrapped in wrap.
func newRequestsWorldWrapped(t *testing.T, n int, key, crmExtra string, wrap func(http.Handler) http.Handler) *world {
	t.Helper()
	w := &world{t: t, erp: fake.NewERP(), crm: fake.NewCRM(), dir: t.TempDir()}
	past := time.Now().Add(-time.Hour)
	w.erp.SetClock(func() time.Time { return past })
	if err := fake.SeedCustomers(w.erp, n); err != nil {
		t.Fatal(err)
	}
	w.erp.SetClock(time.Now)
	if err := w.crm.SetAlternateKeys("accounts", []string{"accountnumber"}); err != nil {
		t.Fatal(err)
	}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", w.erp))
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", wrap(bare204(w.crm))))
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	writeFile(t, filepath.Join(w.dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "`+fake.BCCompanyURL(erpSrv.URL+"/api/v2.0")+`" }
  dataverse: { type: odata, base_url: "`+crmSrv.URL+`/api/data/v9.2"`+crmExtra+` }
mappings: ["mappings/*.yaml"]
`)
	writeFile(t, filepath.Join(w.dir, "mappings", "customer.yaml"), fmt.Sprintf(`name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: %s, modified: modifiedon }
direction: bidirectional
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber, direction: to_integration }
  - { field: displayName, integration_field: name }
  - { field: city, integration_field: address1_city, to_integration: upper(value) }
`, key))
	e, diags, err := engine.OpenProject(t.Context(), w.dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	acknowledgeFirstSync(t, e)
	w.e = e
	return w
}

// TestApplyUpdatesRequests counts the CRM requests of an apply of n
// updates, and checks that the next plan needs no read of the written
// records to know they are coupler's own writes: the update's response
// (Prefer: return=representation) carries the new ETag and modifiedon.
// The city goes to the CRM in upper case, so that the CRM's record differs
// from what the reverse pass would write: only the stored version of
// coupler's own write keeps the next plan from taking it for a user's
// change and writing it back to the ERP.
func TestApplyUpdatesRequests(t *testing.T) {
	t.Parallel()
	const n = 20
	tests := []struct {
		name, key, extra string
		wantRequests     int
	}{
		{"one request per update", "accountid", "", n},
		{"batch_size 10", "accountid", ", batch_size: 10", n / 10},
		{"batch_size 10, atomicity batch", "accountid", ", batch_size: 10, atomicity: batch", n / 10},
		{"alternate key", "accountnumber", `, entities: { accounts: { alternate_key: [accountnumber] } }`, n},
		{"alternate key, batch_size 10", "accountnumber", `, batch_size: 10, entities: { accounts: { alternate_key: accountnumber } }`, n / 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRequestsWorld(t, n, tt.key, tt.extra)
			p := w.plan(engine.PlanOptions{})
			if got := part(t, p, "to_integration").Counts[plan.Create]; got != n {
				t.Fatalf("creates = %d, want %d", got, n)
			}
			w.apply(p.ID)
			if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
				t.Fatalf("plan after the creates has changes: %v", part(t, again, "to_integration").Counts)
			}
			w.apply("")
			for _, c := range w.erp.All("customers") {
				if err := w.erp.Patch("customers", c["id"].(string), connectors.Record{"displayName": c["displayName"].(string) + " (renamed)"}); err != nil {
					t.Fatal(err)
				}
			}
			p = w.plan(engine.PlanOptions{})
			if got := part(t, p, "to_integration").Counts[plan.Update]; got != n {
				t.Fatalf("updates = %d, want %d", got, n)
			}
			w.crm.ResetStats()
			w.apply(p.ID)
			st := w.crm.Stats()
			t.Logf("apply of %d updates: %d CRM requests %v", n, st.Requests, st.ByMethod)
			if st.Requests != tt.wantRequests || st.ByMethod["GET"] != 0 {
				t.Errorf("apply of %d updates: %d requests %v, want %d and no GET", n, st.Requests, st.ByMethod, tt.wantRequests)
			}
			renamed := 0
			for _, a := range w.crm.All("accounts") {
				if s, _ := a["name"].(string); len(s) > 10 && s[len(s)-10:] == " (renamed)" {
					renamed++
				}
			}
			if renamed != n {
				t.Errorf("%d accounts renamed, want %d", renamed, n)
			}
			w.crm.ResetStats()
			if again := w.plan(engine.PlanOptions{}); again.HasChanges() {
				t.Errorf("plan after the updates has changes (its own writes taken for changes): to %v, from %v",
					part(t, again, "to_integration").Counts, part(t, again, "from_integration").Counts)
			}
			st = w.crm.Stats()
			t.Logf("next plan: %d CRM requests %v", st.Requests, st.ByMethod)
		})
	}
}

// bare204 drops the ETag header of a 204 answer to a PATCH, as Dataverse
// answers an update without Prefer: return=representation: the client then
// learns nothing of the record's new version from the answer.
func bare204(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			w = &noETag204{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	})
}

type noETag204 struct{ http.ResponseWriter }

func (w *noETag204) WriteHeader(status int) {
	if status == http.StatusNoContent {
		w.Header().Del("ETag")
	}
	w.ResponseWriter.WriteHeader(status)
}

// TestApplyCreatesRequests counts the $batch requests of a first sync of
// more creates than one apply batch holds: whatever batch_size is, apply
// sends ceil(creates / batch_size) of them, none half empty between two
// apply batches (as with the old fixed batches of 200 operations, which
// sent 3 requests for 450 creates with batch_size 1000, and 66 where 65
// would do with batch_size 7).
func TestApplyCreatesRequests(t *testing.T) {
	t.Parallel()
	const n = 450
	for _, size := range []int{7, 100, 1000} {
		t.Run(fmt.Sprintf("batch_size %d", size), func(t *testing.T) {
			t.Parallel()
			w := newRequestsWorld(t, n, "accountid", fmt.Sprintf(", batch_size: %d", size))
			p := w.plan(engine.PlanOptions{})
			if got := part(t, p, "to_integration").Counts[plan.Create]; got != n {
				t.Fatalf("creates = %d, want %d", got, n)
			}
			w.crm.ResetStats()
			w.apply(p.ID)
			st := w.crm.Stats()
			want := (n + size - 1) / size
			if st.Requests != want || st.ByMethod["POST"] != want {
				t.Errorf("apply of %d creates with batch_size %d: %d requests %v, want %d $batch POSTs", n, size, st.Requests, st.ByMethod, want)
			}
			if got := w.crm.Len("accounts"); got != n {
				t.Errorf("%d accounts created, want %d", got, n)
			}
		})
	}
}

// TestApplyBatchRequestsInFlight: the $batch requests of one round go out
// together, up to max_concurrency (or as many as there are).
func TestApplyBatchRequestsInFlight(t *testing.T) {
	t.Parallel()
	const n = 450
	tests := []struct {
		name, extra string
		inFlight    int
	}{
		{"batch_size 7", ", batch_size: 7", 4},
		{"batch_size 100, max_concurrency 2", ", batch_size: 100, max_concurrency: 2", 2},
		{"batch_size 200", ", batch_size: 200", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gate := &batchGate{want: tt.inFlight}
			w := newRequestsWorldWrapped(t, n, "accountid", tt.extra, gate.wrap)
			w.apply(w.plan(engine.PlanOptions{}).ID)
			if got := w.crm.Len("accounts"); got != n {
				t.Errorf("%d accounts, want %d", got, n)
			}
			if gate.max() != tt.inFlight {
				t.Errorf("at most %d $batch requests in flight, want %d", gate.max(), tt.inFlight)
			}
		})
	}
}

// batchGate holds the first $batch requests until want of them are in
// flight, so that requests the client sends together are seen together,
// and records the most in flight at once. A client that sends them one
// at a time opens the gate only when the first wait runs out, and is
// caught by the count.
type batchGate struct {
	want     int
	mu       sync.Mutex
	inFlight int
	most     int
	open     chan struct{}
	once     sync.Once
}

func (g *batchGate) max() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

func (g *batchGate) wrap(h http.Handler) http.Handler {
	g.open = make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/$batch") {
			h.ServeHTTP(w, r)
			return
		}
		g.mu.Lock()
		g.inFlight++
		g.most = max(g.most, g.inFlight)
		if g.inFlight >= g.want {
			g.once.Do(func() { close(g.open) })
		}
		g.mu.Unlock()
		select {
		case <-g.open:
		case <-time.After(5 * time.Second):
			g.once.Do(func() { close(g.open) }) // one wait is enough to tell
		}
		h.ServeHTTP(w, r)
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	})
}
