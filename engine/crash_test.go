package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state/pgstate"
	"github.com/couplerhq/coupler/engine/state/pgtest"
	"github.com/couplerhq/coupler/mappings"
)

// The crash tests run an apply in a child process (this test binary, run
// as TestCrashChild) against fake servers that live in this process, kill
// it with SIGKILL at the N-th HTTP request of the apply, for every N, once
// before the server handles that request and once after it handled it but
// before the answer leaves, then restart (sometimes killing the restart
// too) and compare the end state with that of an apply that was not
// interrupted. Each scenario's world is set up and planned once; every kill
// point starts from a copy of it (crashWorld.fork).

const (
	envCrashDir   = "COUPLER_CRASH_CHILD_DIR"
	envCrashPlan  = "COUPLER_CRASH_CHILD_PLAN"
	envCrashBatch = "COUPLER_CRASH_CHILD_BATCH"
	// envCrashState is the URL of the child's PostgreSQL state; unset,
	// the state is the project's DuckDB file.
	envCrashState = "COUPLER_CRASH_CHILD_STATE"
	// crashBatch is the apply batch size in crash tests: small, so that a
	// run crosses batch confirmations.
	crashBatch = 3
)

// TestCrashChild is the child half of the crash tests: it applies a plan
// and is killed part way. Run on its own it skips.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("the child process of TestCrashKillAtEveryRequest; runs only when that starts it")
	}
	n, _ := strconv.Atoi(os.Getenv(envCrashBatch))
	opts, err := crashOptions(context.Background(), os.Getenv(envCrashState))
	if err != nil {
		t.Fatal(err)
	}
	e, diags, err := engine.OpenProject(context.Background(), dir, mappings.LoadOptions{}, opts)
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	defer e.Close()
	engine.SetApplyBatch(e, n)
	if _, err := e.Apply(context.Background(), os.Getenv(envCrashPlan)); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

const crashOneWay = `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: to_integration
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
  - { field: city, integration_field: address1_city }
`

// crashScenario is a plan to apply, made by setup on a fresh world.
type crashScenario struct {
	name       string
	mapping    string
	clientKeys bool
	// batch sends writes in OData $batch requests of two.
	batch bool
	// setup seeds the systems and syncs whatever comes before the plan
	// under test.
	setup func(t *testing.T, w *crashWorld)
	// followUp: the plan under test leaves values a service assigned for
	// the next plan to write back, so both worlds sync once more before
	// they are compared.
	followUp bool
	// applyBatch, when set, is the apply batch size of every engine the
	// world opens (engine.SetApplyBatch).
	applyBatch int
	// postgres keeps the state in PostgreSQL, a database per world.
	postgres bool
}

// crashWorld is a fake ERP and CRM behind one kill switch, and a project.
type crashWorld struct {
	erp, crm *fake.Server
	dir      string
	ks       *killSwitch
	e        *engine.Engine
	// token is the bearer token the project's connectors send, by which
	// a crashHub tells its worlds apart; empty for a world with servers
	// of its own.
	token string
	// applyBatch is the scenario's: the apply batch size of the engines
	// open opens, when set.
	applyBatch int
	// stateURL is the world's PostgreSQL state; "" for a DuckDB state in
	// dir.
	stateURL string
	// numbered: the ERP numbers records as it creates them, concurrent
	// creates in any order, so which record got which number is left out
	// of endState (the numbers given out, and each coupled pair's
	// agreement, are not).
	numbered bool
}

// newCrashWorld sets up sc's world on servers of its own.
func newCrashWorld(t *testing.T, sc crashScenario) *crashWorld {
	t.Helper()
	return newCrashWorldAt(t, sc, nil)
}

// newCrashWorldAt sets up sc's world, at hub's addresses when hub is not
// nil.
func newCrashWorldAt(t *testing.T, sc crashScenario, hub *crashHub) *crashWorld {
	t.Helper()
	w := &crashWorld{erp: fake.NewERP(), crm: fake.NewCRM(), dir: t.TempDir(), ks: &killSwitch{}, numbered: sc.followUp, applyBatch: sc.applyBatch}
	if sc.postgres {
		w.stateURL = pgtest.Database(t)
	}
	if hub == nil {
		hub = newCrashHub(t)
	}
	hub.add(w)
	hub.writeProject(t, w, sc)
	writeFile(t, filepath.Join(w.dir, "mappings", "customer.yaml"), sc.mapping)
	w.open(t)
	// Seeded records are stamped in the past, so that an incremental read
	// returns what a test changes.
	past := time.Now().Add(-time.Hour)
	w.erp.SetClock(func() time.Time { return past })
	w.crm.SetClock(func() time.Time { return past })
	if err := fake.SeedCustomers(w.erp, 6); err != nil {
		t.Fatal(err)
	}
	w.erp.SetClock(time.Now)
	w.crm.SetClock(time.Now)
	sc.setup(t, w)
	return w
}

// crashHub serves worlds at one ERP and one CRM address: a plan's
// fingerprint covers the connectors' base URLs, so a world copied from
// another (fork) must reach its servers at the same addresses to apply
// that world's plan. The worlds' connectors send bearer tokens of their
// own, which the fingerprint leaves out, and the hub hands each request
// to its world's kill switch and server.
type crashHub struct {
	erpURL, crmURL string
	mu             sync.Mutex
	worlds         map[string]*crashWorld // by token
	erp, crm       map[string]http.Handler
}

func newCrashHub(t *testing.T) *crashHub {
	t.Helper()
	h := &crashHub{worlds: map[string]*crashWorld{}, erp: map[string]http.Handler{}, crm: map[string]http.Handler{}}
	h.erpURL = serveCounted(t, h.route(h.erp)).URL + "/api/v2.0"
	h.crmURL = serveCounted(t, h.route(h.crm)).URL + "/api/data/v9.2"
	return h
}

// add gives w a token and serves its servers behind its kill switch.
func (h *crashHub) add(w *crashWorld) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.token = fmt.Sprintf("world-%d", len(h.worlds)+1)
	h.worlds[w.token] = w
	h.erp[w.token] = w.ks.wrap(http.StripPrefix("/api/v2.0", w.erp))
	h.crm[w.token] = w.ks.wrap(http.StripPrefix("/api/data/v9.2", w.crm))
}

// route hands a request to the handler of the world whose token it
// carries.
func (h *crashHub) route(by map[string]http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h.mu.Lock()
		next := by[token]
		h.mu.Unlock()
		if next == nil {
			http.Error(rw, "no world with this token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// writeProject writes w's coupler.yaml for sc: the hub's addresses and
// w's token.
func (h *crashHub) writeProject(t *testing.T, w *crashWorld, sc crashScenario) {
	t.Helper()
	batch := 1
	if sc.batch {
		batch = 2
	}
	writeFile(t, filepath.Join(w.dir, "coupler.yaml"), fmt.Sprintf(`version: 1
connectors:
  bc: { type: odata, base_url: %q, max_retries: 0, batch_size: %d, auth: { type: bearer, token: %q } }
  dataverse: { type: odata, base_url: %q, max_retries: 0, client_keys: %v, batch_size: %d, auth: { type: bearer, token: %q } }
mappings: ["mappings/*.yaml"]
`, fake.BCCompanyURL(h.erpURL), batch, w.token, h.crmURL, sc.clientKeys, batch, w.token))
}

// fork returns a world that starts where w stands, which must be closed:
// a copy of its project and state database, clones of its servers behind
// a kill switch of its own, at the hub's addresses, which must be w's.
// The fork is closed. It saves each kill point the setup and the plan.
func (w *crashWorld) fork(t *testing.T, hub *crashHub, sc crashScenario) *crashWorld {
	t.Helper()
	if w.e != nil {
		t.Fatal("fork of an open world")
	}
	f := &crashWorld{erp: w.erp.Clone(), crm: w.crm.Clone(), dir: t.TempDir(), ks: &killSwitch{}, numbered: w.numbered, applyBatch: w.applyBatch}
	if w.stateURL != "" {
		f.stateURL = pgtest.CopyDatabase(t, w.stateURL)
	}
	if err := os.CopyFS(f.dir, os.DirFS(w.dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.dir, "coupler.yaml")); err != nil {
		t.Fatal(err)
	}
	hub.add(f)
	hub.writeProject(t, f, sc)
	return f
}

// crashOptions opens an engine on the PostgreSQL state at url, or on the
// project's DuckDB state when url is "".
func crashOptions(ctx context.Context, url string) (engine.Options, error) {
	if url == "" {
		return engine.Options{}, nil
	}
	store, err := pgstate.Open(ctx, url, pgstate.Options{})
	return engine.Options{Store: store}, err
}

func (w *crashWorld) open(t *testing.T) {
	t.Helper()
	opts, err := crashOptions(t.Context(), w.stateURL)
	if err != nil {
		t.Fatal(err)
	}
	e, diags, err := engine.OpenProject(t.Context(), w.dir, mappings.LoadOptions{}, opts)
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	acknowledgeFirstSync(t, e)
	if w.applyBatch > 0 {
		engine.SetApplyBatch(e, w.applyBatch)
	}
	w.e = e
}

func (w *crashWorld) close(t *testing.T) {
	t.Helper()
	if err := w.e.Close(); err != nil {
		t.Fatal(err)
	}
	w.e = nil
}

func (w *crashWorld) sync(t *testing.T) {
	t.Helper()
	p, err := w.e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if _, err := w.e.Apply(t.Context(), p.ID); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// edit changes some customers and accounts, and adds one of each; the
// changes are stamped now, after the last sync.
func (w *crashWorld) edit(t *testing.T, accounts bool) {
	t.Helper()
	for i, c := range sortedBy(w.erp.All("customers"), "number") {
		if i%2 == 0 {
			if err := w.erp.Patch("customers", c["id"].(string), connectors.Record{"displayName": fmt.Sprintf("Edited ERP %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := w.erp.Put("customers", connectors.Record{"number": "C-NEW", "displayName": "New in the ERP", "city": "Bergen"}); err != nil {
		t.Fatal(err)
	}
	if !accounts {
		return
	}
	for i, a := range sortedBy(w.crm.All("accounts"), "accountnumber") {
		if i%2 == 1 {
			if err := w.crm.Patch("accounts", a["accountid"].(string), connectors.Record{"address1_city": fmt.Sprintf("CRM city %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := w.crm.Put("accounts", connectors.Record{"accountnumber": "A-NEW", "name": "New in the CRM", "address1_city": "Turku"}); err != nil {
		t.Fatal(err)
	}
}

// sortedBy orders records by a field, so that edits pick the same records
// in every world whatever keys the servers chose.
func sortedBy(recs []connectors.Record, field string) []connectors.Record {
	slices.SortFunc(recs, func(a, b connectors.Record) int { return strings.Compare(fmt.Sprint(a[field]), fmt.Sprint(b[field])) })
	return recs
}

var crashScenarios = []crashScenario{
	{name: "creates", mapping: crashOneWay, setup: func(t *testing.T, w *crashWorld) {}},
	{name: "creates_client_keys", mapping: crashOneWay, clientKeys: true, setup: func(t *testing.T, w *crashWorld) {}},
	{name: "creates_batched", mapping: crashOneWay, batch: true, setup: func(t *testing.T, w *crashWorld) {}},
	{name: "updates", mapping: crashOneWay, setup: func(t *testing.T, w *crashWorld) {
		w.sync(t)
		w.edit(t, false)
	}},
	{name: "bidirectional", mapping: fmt.Sprintf(bidiMapping, "conflicts: { update: send_to_integration }"), clientKeys: true, setup: bidiCrashSetup},
	// The same with the state in PostgreSQL (issue 17): the plan is made
	// in a workspace and copied in, the intents, results and runs are
	// PostgreSQL's, and a killed apply's session ends with it.
	{name: "bidirectional_postgres", mapping: fmt.Sprintf(bidiMapping, "conflicts: { update: send_to_integration }"), clientKeys: true, postgres: true, setup: bidiCrashSetup},
	// Customers made from accounts without a number are numbered by the
	// ERP's number series, and the number goes back to the account: it
	// must survive a kill wherever it falls.
	{name: "number_series", mapping: fmt.Sprintf(bidiMapping, "conflicts: { update: send_to_integration }"), followUp: true, setup: func(t *testing.T, w *crashWorld) {
		for i := range 4 {
			// Keys of their own, so that every world creates (and numbers)
			// them in the same order.
			id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1)
			if _, err := w.crm.Put("accounts", connectors.Record{"accountid": id, "name": fmt.Sprintf("No number %d", i), "address1_city": "Oslo"}); err != nil {
				t.Fatal(err)
			}
		}
	}},
}

// bidiCrashSetup couples the customers and an account of the CRM, then
// edits both sides.
func bidiCrashSetup(t *testing.T, w *crashWorld) {
	if _, err := w.crm.Put("accounts", connectors.Record{"accountnumber": "A-1", "name": "Only in the CRM", "address1_city": "Oslo"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	w.edit(t, true)
}

// endState is what the systems and the couplings hold, with the keys and
// stamps the systems choose left out, so that two worlds compare.
type endState struct {
	customers, accounts []string
	numbers             []string
	couplings           int
}

func (w *crashWorld) endState(t *testing.T) endState {
	t.Helper()
	var s endState
	for _, c := range w.erp.All("customers") {
		v := valuesOf(c, customerSynced)
		if w.numbered {
			s.numbers = append(s.numbers, v[0])
			v[0] = "#"
		}
		s.customers = append(s.customers, strings.Join(v[:], "|"))
	}
	for _, a := range w.crm.All("accounts") {
		v := valuesOf(a, accountSynced)
		if w.numbered {
			v[0] = "#"
		}
		s.accounts = append(s.accounts, strings.Join(v[:], "|"))
	}
	slices.Sort(s.customers)
	slices.Sort(s.accounts)
	slices.Sort(s.numbers)
	c2a, err := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	if err != nil {
		t.Fatal(err)
	}
	s.couplings = len(c2a)
	// Every coupling joins two records that exist and agree.
	for c, a := range c2a {
		cr, ok1 := w.erp.Get("customers", c)
		ar, ok2 := w.crm.Get("accounts", a)
		if !ok1 || !ok2 {
			t.Errorf("coupling %s <-> %s: customer exists %v, account exists %v", c, a, ok1, ok2)
			continue
		}
		if valuesOf(cr, customerSynced) != valuesOf(ar, accountSynced) {
			t.Errorf("coupled %s <-> %s disagree: %v vs %v", c, a, valuesOf(cr, customerSynced), valuesOf(ar, accountSynced))
		}
	}
	return s
}

func (s endState) String() string {
	return fmt.Sprintf("customers %q\naccounts %q\nnumbers %q\ncouplings %d", s.customers, s.accounts, s.numbers, s.couplings)
}

// killSwitch counts the requests to both servers and, when armed, kills
// the child at the at-th one.
type killSwitch struct {
	mu    sync.Mutex
	count int
	at    int // 0: disarmed
	after bool
	kill  func()
	fired bool
	// refusePosts answers every POST 500 without handling it.
	refusePosts bool
	// outage makes the hit request no crash: kill runs (before or after
	// the request is handled, as after says) and the request is answered
	// as usual, for a failure of something else than the process (the
	// state's database going away).
	outage bool
	// lose, when set, says for each request (with its body) whether its
	// answer is lost after it is handled.
	lose func(r *http.Request, body []byte) bool
	// armedAt is the crashSeq of the last arm. A connection remembers the
	// crashSeq it was opened at, so that a request a killed child sent
	// before it died, reaching the server only after the next arm, is not
	// taken for a request of the next child (whose process may not even
	// have started). Only for children: an apply in this process keeps its
	// connections.
	armedAt int64
	child   bool
}

// crashSeq orders the opening of connections and the arming of kill
// switches, across the servers and worlds of the process.
var crashSeq atomic.Int64

// connSeqKey is the context key of the crashSeq a connection was opened at.
type connSeqKey struct{}

// serveCounted serves h on a new test server whose connections remember
// when they were opened (connSeqKey), for the kill switches behind it.
func serveCounted(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connSeqKey{}, crashSeq.Add(1))
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func (k *killSwitch) arm(at int, after bool, kill func()) {
	k.mu.Lock()
	k.count, k.at, k.after, k.kill, k.fired, k.child, k.outage = 0, at, after, kill, false, false, false
	k.armedAt = crashSeq.Add(1)
	k.mu.Unlock()
}

// armChild arms the switch for a child process: requests on connections
// opened before it come from an earlier, killed child and are dropped.
func (k *killSwitch) armChild(at int, after bool, kill func()) {
	k.arm(at, after, kill)
	k.mu.Lock()
	k.child = true
	k.mu.Unlock()
}

func (k *killSwitch) requests() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.count
}

func (k *killSwitch) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		if opened, _ := r.Context().Value(connSeqKey{}).(int64); k.child && opened < k.armedAt {
			// Sent by a child killed before this arm: as if it never
			// arrived.
			k.mu.Unlock()
			panic(http.ErrAbortHandler)
		}
		k.count++
		hit := k.at > 0 && k.count == k.at
		if hit {
			k.fired = true
		}
		after, kill, refuse, lose, outage := k.after, k.kill, k.refusePosts, k.lose, k.outage
		k.mu.Unlock()
		if hit && outage {
			if !after {
				kill()
			}
			h.ServeHTTP(w, r)
			if after {
				kill()
			}
			return
		}
		if lose != nil {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if lose(r, body) {
				h.ServeHTTP(httptest.NewRecorder(), r)
				panic(http.ErrAbortHandler)
			}
		}
		if refuse && r.Method == http.MethodPost {
			http.Error(w, `{"error":{"code":"0x80040216","message":"An unexpected error occurred."}}`, http.StatusInternalServerError)
			return
		}
		if !hit {
			h.ServeHTTP(w, r)
			return
		}
		if after {
			h.ServeHTTP(httptest.NewRecorder(), r) // handled; the answer is lost
		}
		kill()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	})
}

// applyInChild applies plan id in a child process, killed at the at-th
// request; it reports whether the kill happened.
func (w *crashWorld) applyInChild(t *testing.T, id string, at int, after bool) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+w.dir, envCrashPlan+"="+id, envCrashBatch+"="+strconv.Itoa(crashBatch), envCrashState+"="+w.stateURL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	exited := make(chan struct{})
	// started orders Start's write of cmd.Process before kill's read:
	// the child's request that triggers the kill is after Start, but
	// through another process, which the race detector cannot see.
	started := make(chan struct{})
	var once sync.Once
	kill := func() {
		once.Do(func() {
			<-started
			_ = cmd.Process.Kill()
			<-exited
		})
	}
	w.ks.armChild(at, after, kill)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	close(started)
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	<-exited
	w.ks.mu.Lock()
	fired := w.ks.fired
	w.ks.at = 0
	w.ks.mu.Unlock()
	if !fired && werr != nil {
		t.Fatalf("child failed before the kill point: %v\n%s", werr, out.String())
	}
	return fired
}

// eachRequest runs fn, as a parallel subtest, at each of an apply's
// requests, before and after it is handled; point says which to messages
// ("kill at request 3, before it is handled").
func eachRequest(t *testing.T, requests int, what string, fn func(t *testing.T, at int, after bool, point string)) {
	for at := 1; at <= requests; at++ {
		for _, after := range []bool{false, true} {
			point := fmt.Sprintf("%s at request %d, before it is handled", what, at)
			name := fmt.Sprintf("at_%d_before", at)
			if after {
				point = fmt.Sprintf("%s at request %d, after it is handled", what, at)
				name = fmt.Sprintf("at_%d_after", at)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				fn(t, at, after, point)
			})
		}
	}
}

// crashStart is where every kill point of a scenario starts from and what
// it must end at.
type crashStart struct {
	// want is the end state of the uninterrupted run, and requests the
	// number of requests its apply sent.
	want     endState
	requests int
	// base is the world set up and planned (closed, to fork), plan its
	// plan, hub the servers' router.
	hub  *crashHub
	base *crashWorld
	plan *plan.Plan
}

// startCrash runs sc uninterrupted, in batches of crashBatch as the
// children apply, setup included, for the end state to compare with; then
// sets up and plans the world every kill point forks, in the default
// batch size.
func startCrash(t *testing.T, sc crashScenario) crashStart {
	t.Helper()
	batched := sc
	batched.applyBatch = crashBatch
	ref := newCrashWorld(t, batched)
	p, err := ref.e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref.ks.arm(0, false, nil)
	if _, err := ref.e.Apply(t.Context(), p.ID); err != nil {
		t.Fatal(err)
	}
	engine.SetApplyBatch(ref.e, 0) // the follow-up sync in the default size
	requests := ref.ks.requests()
	if sc.followUp {
		ref.sync(t)
	}
	want := ref.endState(t)
	if requests < 3 {
		t.Fatalf("the apply sent only %d requests", requests)
	}
	t.Logf("%d requests, %d writes planned", requests, p.Totals()[plan.Create]+p.Totals()[plan.Update])
	hub := newCrashHub(t)
	base := newCrashWorldAt(t, sc, hub)
	p, err = base.e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base.close(t)
	return crashStart{want: want, requests: requests, hub: hub, base: base, plan: p}
}

func TestCrashKillAtEveryRequest(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a hundred processes")
	}
	// Scenarios and kill points run as parallel subtests: each has its
	// own servers, state and child process, and a kill point waits mostly
	// on its child's start.
	var total atomic.Int64
	t.Cleanup(func() { t.Logf("%d kill points exercised", total.Load()) })
	for _, sc := range crashScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			start := startCrash(t, sc)
			want, requests, hub, base, p := start.want, start.requests, start.hub, start.base, start.plan
			eachRequest(t, requests, "kill", func(t *testing.T, at int, after bool, point string) {
				// Odd kill points resume the plan; even ones plan again.
				resume := at%2 == 1
				w := base.fork(t, hub, sc)
				var err error
				if !w.applyInChild(t, p.ID, at, after) {
					t.Errorf("%s: the child finished first", point)
					return
				}
				total.Add(1)
				// Every other time, the restart is killed too, at its first
				// request: while it settles what the first left in flight.
				if after && resume {
					if w.applyInChild(t, p.ID, 1, at%4 == 1) {
						total.Add(1)
					}
				}
				w.open(t)
				if resume {
					_, err = w.e.Apply(t.Context(), p.ID)
				} else {
					w.sync(t)
				}
				if err == nil && sc.followUp {
					w.sync(t)
				}
				if err != nil {
					t.Errorf("%s: restart: %v", point, err)
					w.close(t)
					return
				}
				got := w.endState(t)
				if got.String() != want.String() {
					t.Errorf("%s (resume %v): end state\n%s\nwant (uninterrupted)\n%s", point, resume, got, want)
				}
				// After a follow-up sync the watermarks are that plan's.
				w.checkAtRest(t, point, p, resume && !sc.followUp)
				w.close(t)
			})
		})
	}
}

// checkAtRest checks that nothing is left to do after a restart and that
// the watermarks are where the plan said.
func (w *crashWorld) checkAtRest(t *testing.T, point string, p *plan.Plan, resumed bool) {
	t.Helper()
	ctx := t.Context()
	if resumed {
		for _, m := range p.Mappings {
			got, _, err := w.e.State().Watermark(ctx, m.Name, m.Source.Side)
			if err != nil {
				t.Fatal(err)
			}
			if !m.NewWatermark.IsZero() && !got.Equal(m.NewWatermark) {
				t.Errorf("%s: watermark %s %s = %s, want the plan's %s", point, m.Name, m.Source.Side, got, m.NewWatermark)
			}
		}
	}
	next, err := w.e.Plan(ctx, engine.PlanOptions{})
	if err != nil {
		t.Fatalf("%s: plan after restart: %v", point, err)
	}
	if next.HasChanges() {
		t.Errorf("%s: the next plan still has work: %v", point, next.Totals())
	}
	if _, err := w.e.Apply(ctx, next.ID); err != nil && !errors.Is(err, engine.ErrStalePlan) {
		t.Errorf("%s: apply of the plan at rest: %v", point, err)
	}
}
