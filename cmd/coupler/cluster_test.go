package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine/state/pgtest"
)

// holdGate holds every write (POST) to the fake CRM while hold is set,
// until release, and says when the first held one arrives.
type holdGate struct {
	next    http.Handler
	hold    atomic.Bool
	arrived chan struct{}
	once    sync.Once
	open    chan struct{}
}

func (g *holdGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && g.hold.Load() {
		g.once.Do(func() { close(g.arrived) })
		<-g.open
	}
	g.next.ServeHTTP(w, r)
}

// clusterMappings is how many mappings each project of the cluster test
// has; mapping Kk copies the ERP customers numbered C0k… to CRM accounts.
const clusterMappings = 6

// clusterCustomers is how many customers each mapping starts with.
const clusterCustomers = 20

// clusterCustomer is the index (fake.Customer) of customer j of mapping
// k: its number, 10 * (index + 1), is C0k followed by three digits for j
// below 100.
func clusterCustomer(k, j int) int { return 100*k + j - 1 + 1 }

// clusterProject is one project (tenant) of the cluster test: its fakes,
// files and schema.
type clusterProject struct {
	schema   string
	dir      string
	erp, crm *fake.Server
	gate     *holdGate
	opened   sync.Once
}

func newClusterProject(t *testing.T, schema, stateURL string) *clusterProject {
	t.Helper()
	p := &clusterProject{schema: schema, dir: filepath.Join(t.TempDir(), schema), erp: fake.NewERP(), crm: fake.NewCRM()}
	for k := 1; k <= clusterMappings; k++ {
		for j := range clusterCustomers {
			if _, err := p.erp.Put("customers", fake.Customer(clusterCustomer(k, j))); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.gate = &holdGate{next: http.StripPrefix("/api/data/v9.2", p.crm), arrived: make(chan struct{}), open: make(chan struct{})}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", p.erp))
	crmSrv := httptest.NewServer(p.gate)
	t.Cleanup(erpSrv.Close)
	t.Cleanup(crmSrv.Close)
	t.Cleanup(p.release)
	files := map[string]string{"coupler.yaml": fmt.Sprintf(`version: 1
state: %q
state_schema: %s
connectors:
  bc: { type: odata, base_url: %q }
  dataverse: { type: odata, base_url: %q }
mappings: ["mappings/*.yaml"]
`, stateURL, schema, fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), crmSrv.URL+"/api/data/v9.2")}
	for k := 1; k <= clusterMappings; k++ {
		deps := ""
		if k == 2 {
			deps = "K1" // kept in order when both are due
		}
		files[fmt.Sprintf("mappings/k%d.yaml", k)] = prefixMapping(fmt.Sprintf("K%d", k), fmt.Sprintf("C0%d", k), deps)
	}
	writeProjectFiles(t, p.dir, files)
	return p
}

// prefixMapping is a one-way mapping, named name, of the ERP customers
// whose number starts with prefix to CRM accounts, after dependsOn when it
// is not "".
func prefixMapping(name, prefix, dependsOn string) string {
	deps := ""
	if dependsOn != "" {
		deps = "depends_on: [" + dependsOn + "]\n"
	}
	return fmt.Sprintf(`name: %s
%stable: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: to_integration
filter: number startsWith "%[3]s"
integration_filter: accountnumber startsWith "%[3]s" && statecode == 0 && customertypecode == 3
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name }
  - { field: city, integration_field: address1_city }
  - { integration_field: customertypecode, constant: 3 }
  - { integration_field: statecode, constant: 0 }
`, name, deps, prefix)
}

// writeProjectFiles writes files, by their path under dir.
func writeProjectFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (p *clusterProject) release() { p.opened.Do(func() { close(p.gate.open) }) }

// checkAccounts checks the project's CRM holds each ERP customer of the
// mappings exactly once, as an account with its number and name: what a
// single process's runs leave.
func (p *clusterProject) checkAccounts(t *testing.T) {
	t.Helper()
	want := map[string]string{}
	for _, c := range p.erp.All("customers") {
		want[fmt.Sprint(c["number"])] = fmt.Sprint(c["displayName"])
	}
	got := map[string]int{}
	for _, a := range p.crm.All("accounts") {
		num := fmt.Sprint(a["accountnumber"])
		if !strings.HasPrefix(num, "C0") {
			continue
		}
		got[num]++
		if name, ok := want[num]; !ok {
			t.Errorf("%s: account %s has no customer", p.schema, num)
		} else if a["name"] != name {
			t.Errorf("%s: account %s is named %q, its customer %q", p.schema, num, a["name"], name)
		}
	}
	for num := range want {
		switch got[num] {
		case 1:
		case 0:
			t.Errorf("%s: customer %s has no account (lost)", p.schema, num)
		default:
			t.Errorf("%s: customer %s has %d accounts (duplicated)", p.schema, num, got[num])
		}
	}
}

// clusterWorker is one coupler serve process of the cluster test.
type clusterWorker struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan struct{}
}

// listening is how coupler serve says where it listens.
var listening = regexp.MustCompile(`listening on http://(\S+)`)

// startClusterWorker starts coupler serve on the project in dir with
// workers runs at once, and returns once it listens.
func startClusterWorker(t testing.TB, coupler, dir string, workers int) *clusterWorker {
	t.Helper()
	cmd := exec.Command(coupler, "-C", dir, "serve", "--listen", "127.0.0.1:0", "--workers", strconv.Itoa(workers), "--log-level", "info", "--shutdown-timeout", "5s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &clusterWorker{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.logs.Write([]byte(sc.Text() + "\n"))
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	select {
	case w.addr = <-addrc:
	case <-w.done:
		t.Fatalf("coupler serve exited:\n%s", w.logs.String())
	case <-time.After(time.Minute):
		t.Fatalf("coupler serve did not say where it listens:\n%s", w.logs.String())
	}
	return w
}

// stop kills the worker and waits for it.
func (w *clusterWorker) stop() {
	_ = w.cmd.Process.Kill()
	<-w.done
	_ = w.cmd.Wait()
}

// TestServeCluster is issue 17's test of runs as River jobs: three
// coupler serve processes per project, two projects (a schema each) in one
// PostgreSQL database, six mappings each. Every mapping runs, never two
// runs of one mapping at once (the runs tables' times say so), K2 after
// K1 which it depends on, and each CRM ends as one process's runs leave
// it. Then the worker applying K1 is killed (SIGKILL) while its writes
// are held in flight: another worker takes the run over, settles those
// writes, and finishes it: no record duplicated, none lost.
func TestServeCluster(t *testing.T) {
	t.Parallel()
	coupler := couplerCommand(t)
	begin := time.Now()
	stateURL := pgtest.Database(t)
	// single is tenant_b's twin run by one process with one worker: what
	// the cluster must end with.
	projects := []*clusterProject{newClusterProject(t, "tenant_a", stateURL), newClusterProject(t, "tenant_b", stateURL), newClusterProject(t, "single", stateURL)}
	db, err := pgx.Connect(t.Context(), stateURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(t.Context())

	var workers [][]*clusterWorker
	start := func(p *clusterProject, workers int) *clusterWorker {
		t.Helper()
		return startClusterWorker(t, coupler, p.dir, workers)
	}
	allLogs := func() string {
		var b strings.Builder
		for i, ws := range workers {
			for j, w := range ws {
				fmt.Fprintf(&b, "--- %s worker %d (pid %d):\n%s", projects[i].schema, j, w.cmd.Process.Pid, w.logs.String())
			}
		}
		return b.String()
	}
	defer func() {
		for _, ws := range workers {
			for _, w := range ws {
				w.stop()
			}
		}
	}()
	for _, p := range projects[:2] {
		workers = append(workers, []*clusterWorker{start(p, 2), start(p, 2), start(p, 2)})
	}
	workers = append(workers, []*clusterWorker{start(projects[2], 1)})
	// waitFor polls fn, a look at the state, until it says done.
	waitFor := func(what string, fn func() (bool, error)) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for {
			ok, err := fn()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 45s; the workers said:\n%s", what, allLogs())
			}
			time.Sleep(100 * time.Millisecond) // polling, not synchronisation
		}
	}
	finishedMappings := func(schema string) (int, error) {
		var n int
		err := db.QueryRow(t.Context(), `SELECT count(DISTINCT mapping) FROM `+schema+`.runs WHERE finished_at IS NOT NULL`).Scan(&n)
		if err != nil && strings.Contains(err.Error(), "does not exist") {
			return 0, nil // not made yet
		}
		return n, err
	}
	for _, p := range projects {
		waitFor("finished run of every mapping of "+p.schema, func() (bool, error) {
			n, err := finishedMappings(p.schema)
			return n == clusterMappings, err
		})
	}
	phase1 := time.Since(begin)

	type run struct {
		mapping            string
		started, finished  time.Time
		inserted, modified int64
	}
	runsOf := func(schema string) []run {
		t.Helper()
		rows, err := db.Query(t.Context(), `SELECT mapping, started_at, coalesce(finished_at, '9999-01-01'::timestamptz), inserted, modified FROM `+schema+`.runs ORDER BY mapping, started_at`)
		if err != nil {
			t.Fatal(err)
		}
		var out []run
		for rows.Next() {
			var r run
			if err := rows.Scan(&r.mapping, &r.started, &r.finished, &r.inserted, &r.modified); err != nil {
				t.Fatalf("%s.runs: %v", schema, err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// noOverlap checks that no mapping's runs overlap, in each schema. A
	// run left unfinished is the killed worker's, of K1 in tenant_a: it
	// ended when its worker died.
	var killed time.Time
	noOverlap := func() {
		t.Helper()
		for _, p := range projects {
			runs := runsOf(p.schema)
			for i := range runs {
				if runs[i].finished.Year() < 9999 {
					continue
				}
				if killed.IsZero() || p.schema != "tenant_a" || runs[i].mapping != "K1" || !runs[i].started.Before(killed) {
					t.Errorf("%s: run of %s started at %v never finished", p.schema, runs[i].mapping, runs[i].started)
					continue
				}
				runs[i].finished = killed
			}
			for i := 1; i < len(runs); i++ {
				if runs[i].mapping == runs[i-1].mapping && runs[i].started.Before(runs[i-1].finished) {
					t.Errorf("%s: two runs of %s at once: %v-%v and %v-%v", p.schema, runs[i].mapping,
						runs[i-1].started, runs[i-1].finished, runs[i].started, runs[i].finished)
				}
			}
		}
	}
	noOverlap()
	for _, p := range projects {
		runs := runsOf(p.schema)
		first := map[string]run{}
		for _, r := range runs {
			if _, ok := first[r.mapping]; !ok {
				first[r.mapping] = r
			}
		}
		if k1, k2 := first["K1"], first["K2"]; k2.started.Before(k1.finished) {
			t.Errorf("%s: K2 started at %v, before K1, which it depends on, finished at %v", p.schema, k2.started, k1.finished)
		}
		for k := 1; k <= clusterMappings; k++ {
			if r := first[fmt.Sprintf("K%d", k)]; r.inserted != clusterCustomers {
				t.Errorf("%s: K%d's first run created %d accounts, want %d", p.schema, k, r.inserted, clusterCustomers)
			}
		}
		p.checkAccounts(t)
	}
	if a, b := accounts(projects[1].crm), accounts(projects[2].crm); a != b {
		t.Errorf("the CRM of 3 workers holds\n%s\nthat of one process\n%s", a, b)
	}
	if t.Failed() {
		t.Fatalf("the workers said:\n%s", allLogs())
	}

	// A worker dies mid-apply: 30 new customers for K1 of tenant_a, whose
	// CRM now holds its writes; the worker applying them is killed.
	a := projects[0]
	for j := clusterCustomers; j < clusterCustomers+30; j++ {
		if _, err := a.erp.Put("customers", fake.Customer(clusterCustomer(1, j))); err != nil {
			t.Fatal(err)
		}
	}
	a.gate.hold.Store(true)
	resp, err := http.Post("http://"+workers[0][1].addr+"/runs?mapping=K1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST /runs: %s", resp.Status)
	}
	select {
	case <-a.gate.arrived:
	case <-time.After(45 * time.Second):
		t.Fatalf("no write of K1 reached the CRM; the workers said:\n%s", allLogs())
	}
	var by string
	if err := db.QueryRow(t.Context(), `SELECT attempted_by[array_length(attempted_by, 1)] FROM tenant_a.river_job
		WHERE state = 'running' AND args->>'mapping' = 'K1'`).Scan(&by); err != nil {
		t.Fatalf("the job of K1 applying: %v", err)
	}
	parts := strings.Split(by, "/")
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil {
		t.Fatalf("worker id %q names no pid", by)
	}
	var victim *clusterWorker
	for _, w := range workers[0] {
		if w.cmd.Process.Pid == pid {
			victim = w
		}
	}
	if victim == nil {
		t.Fatalf("worker %s is none of tenant_a's processes", by)
	}
	killed = time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	// The writes held in flight reach the CRM after their worker died:
	// the next worker must find and couple them, not write them again.
	a.release()
	waitFor("run of K1 finished by another worker", func() (bool, error) {
		var n int
		err := db.QueryRow(t.Context(), `SELECT count(*) FROM tenant_a.runs WHERE mapping = 'K1' AND finished_at > $1`, killed).Scan(&n)
		return n > 0, err
	})
	took := false
	for _, w := range workers[0] {
		if w != victim && strings.Contains(w.logs.String(), "worker stopped during a run") {
			took = true
		}
	}
	if !took {
		t.Errorf("no worker said it took over the dead worker's run; they said:\n%s", allLogs())
	}
	noOverlap()
	for _, r := range runsOf("tenant_a") {
		if r.mapping == "K1" {
			t.Logf("tenant_a K1 run %v - %v: %d inserted, %d modified", r.started.Format(time.StampMilli), r.finished.Format(time.StampMilli), r.inserted, r.modified)
		}
	}
	a.checkAccounts(t)
	if n := len(a.crm.All("accounts")); n < clusterMappings*clusterCustomers+30 {
		t.Errorf("tenant_a's CRM holds %d accounts, want at least %d", n, clusterMappings*clusterCustomers+30)
	}
	// The others stop cleanly on SIGTERM, workers and scheduler alike.
	for _, ws := range workers {
		for _, w := range ws {
			if w != victim {
				_ = w.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
	}
	for _, ws := range workers {
		for _, w := range ws {
			if w == victim {
				continue
			}
			select {
			case <-w.done:
			case <-time.After(30 * time.Second):
				t.Fatalf("pid %d did not stop within 30s of SIGTERM:\n%s", w.cmd.Process.Pid, w.logs.String())
			}
			if err := w.cmd.Wait(); err != nil {
				t.Errorf("pid %d after SIGTERM: %v\n%s", w.cmd.Process.Pid, err, w.logs.String())
			}
		}
	}
	_ = victim.cmd.Wait() // killed
	workers = nil         // all stopped
	t.Logf("3 workers x 2 projects, 12 mappings (and a single process for comparison): every mapping run in %s; the dead worker's run finished %s after the kill; %s in all",
		phase1.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	if t.Failed() {
		t.Logf("the workers said:\n%s", allLogs())
	}
}

// accounts lists the accounts a CRM holds, without their ids and times,
// one a line in order.
func accounts(crm *fake.Server) string {
	var lines []string
	for _, a := range crm.All("accounts") {
		lines = append(lines, fmt.Sprintf("%v %v %v %v %v", a["accountnumber"], a["name"], a["address1_city"], a["statecode"], a["customertypecode"]))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
