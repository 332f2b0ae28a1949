package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/pgstate"
	"github.com/couplerhq/coupler/engine/state/pgtest"
	"github.com/couplerhq/coupler/engine/state/statetest"
	"github.com/couplerhq/coupler/mappings"
)

// benchRecords is N, set with COUPLER_BENCH_RECORDS (default 100000).
func benchRecords(b *testing.B) int {
	n := 100000
	if s := os.Getenv("COUPLER_BENCH_RECORDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("COUPLER_BENCH_RECORDS=%q is not a positive number", s)
		}
		n = v
	}
	return n
}

// accountID is the id of the account coupled to customer i.
func accountID(i int) string { return fmt.Sprintf("a%07d-0000-4000-8000-000000000000", i) }

// serveFakes is the benchmarks' child process: it serves a fake ERP with n
// customers and a fake CRM with n accounts that agree with them (or, with
// emptyCRM, no account: a first sync's destination), prints the two base
// URLs and serves until its standard input closes. The servers live in
// their own process so that the benchmark's peak RSS is the engine's.
//
// Besides the two services it answers what the performance harness
// (perf_test.go) asks: POST /edit?i=N&city=X changes a customer,
// POST /_bench/reset-crm starts an empty CRM again, POST /_bench/log/start
// logs every request to the services from then on, and GET /_bench/log
// returns (and stops) the log.
func serveFakes(n int, emptyCRM bool) {
	erp := fake.NewERP()
	var crm atomic.Pointer[fake.Server]
	crm.Store(fake.NewCRM())
	stamp := time.Now().Add(-48 * time.Hour)
	erp.SetClock(func() time.Time { stamp = stamp.Add(time.Millisecond); return stamp })
	for i := range n {
		c := fake.Customer(i)
		if _, err := erp.Put("customers", c); err != nil {
			panic(err)
		}
		if emptyCRM {
			continue
		}
		_, err := crm.Load().Put("accounts", connectors.Record{
			"accountid": accountID(i), "accountnumber": c["number"], "name": strings.TrimSpace(c["displayName"].(string)),
			"address1_line1": c["addressLine1"], "address1_city": c["city"], "address1_stateorprovince": c["state"],
			"address1_postalcode": c["postalCode"], "address1_country": c["country"], "telephone1": c["phoneNumber"],
			"emailaddress1": c["email"], "websiteurl": c["website"], "statecode": 0, "customertypecode": 3,
		})
		if err != nil {
			panic(err)
		}
	}
	erp.SetClock(time.Now)
	log := &requestLog{}
	mux := http.NewServeMux()
	mux.Handle("/api/v2.0/", log.wrap(http.StripPrefix("/api/v2.0", erp)))
	mux.Handle("/api/data/v9.2/", log.wrap(http.StripPrefix("/api/data/v9.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		crm.Load().ServeHTTP(w, r)
	}))))
	// Changes the benchmark asks for: POST /edit?i=N&city=X.
	mux.HandleFunc("/edit", func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.FormValue("i"))
		if err := erp.Patch("customers", fake.CustomerID(i), connectors.Record{"city": r.FormValue("city")}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /_bench/reset-crm", func(http.ResponseWriter, *http.Request) { crm.Store(fake.NewCRM()) })
	mux.HandleFunc("POST /_bench/log/start", func(http.ResponseWriter, *http.Request) { log.start() })
	mux.HandleFunc("GET /_bench/log", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(log.stop())
	})
	srv := httptest.NewServer(mux)
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv("COUPLER_BENCH_SERVE_FAKES")); err == nil {
		serveFakes(n, os.Getenv("COUPLER_BENCH_EMPTY_CRM") != "")
		return
	}
	if spec := os.Getenv(perfRunEnv); spec != "" {
		// A measured operation runs DuckDB as coupler does, on every core.
		os.Setenv(state.ThreadsEnv, "0")
		os.Exit(perfChild(spec))
	}
	// Benchmarks measure DuckDB as coupler runs it, on every core.
	flag.Parse()
	if flag.Lookup("test.bench").Value.String() == "" {
		statetest.OneThread()
		statetest.MoreParallel()
	}
	// The tests with PostgreSQL state share one private server.
	os.Exit(pgtest.Main(m))
}

// startFakes starts the fake servers in a child process (serveFakes) and
// returns their root URL and the child's process id; the child ends with
// the test.
func startFakes(tb testing.TB, n int, emptyCRM bool) (root string, pid int) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "COUPLER_BENCH_SERVE_FAKES="+strconv.Itoa(n))
	if emptyCRM {
		cmd.Env = append(cmd.Env, "COUPLER_BENCH_EMPTY_CRM=1")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("fake servers did not start: %v", err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid
}

// writeBenchProject writes the benchmarks' project into dir: the two fake
// services read 5000 records a page, the CRM written batchSize operations
// per $batch request (1: single requests).
func writeBenchProject(tb testing.TB, dir, root string, batchSize int) {
	tb.Helper()
	batch := ""
	if batchSize > 1 {
		batch = fmt.Sprintf(", batch_size: %d", batchSize)
	}
	project := fmt.Sprintf(`version: 1
connectors:
  bc: { type: odata, base_url: %q, page_size: 5000 }
  dataverse: { type: odata, base_url: %q, page_size: 5000%s }
mappings: ["customer.yaml"]
`, fake.BCCompanyURL(root+"/api/v2.0"), root+"/api/data/v9.2", batch)
	for name, body := range map[string]string{"coupler.yaml": project, "customer.yaml": engine.BenchMapping} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// coupleAll couples customer i to account i, for i below n.
func coupleAll(ctx context.Context, e *engine.Engine, n int) error {
	pairs := make([]state.Coupling, n)
	for i := range n {
		pairs[i] = state.Coupling{TableID: fake.CustomerID(i), IntegrationID: accountID(i)}
	}
	return e.State().Couple(ctx, "CUSTOMER", pairs)
}

// coupledWorld starts the fake servers in a child process, with n customers
// and n accounts that already agree, and a state in which they are coupled:
// the steady state of a sync; with postgres the state is a database of the
// tests' PostgreSQL server (pgtest) rather than the project's DuckDB file.
// It returns the engine and the fake servers' root URL.
func coupledWorld(b *testing.B, n int, postgres bool) (*engine.Engine, string) {
	b.Helper()
	root, _ := startFakes(b, n, false)
	dir := b.TempDir()
	writeBenchProject(b, dir, root, 1)
	var opts engine.Options
	if postgres {
		store, err := pgstate.Open(b.Context(), pgtest.Database(b), pgstate.Options{})
		if err != nil {
			b.Fatal(err)
		}
		opts.Store = store
	}
	e, diags, err := engine.OpenProject(b.Context(), dir, mappings.LoadOptions{}, opts)
	if err != nil {
		b.Fatalf("%v\n%v", err, diags)
	}
	b.Cleanup(func() { e.Close() })
	if err := coupleAll(b.Context(), e, n); err != nil {
		b.Fatal(err)
	}
	return e, root
}

// BenchmarkPlanFull plans a full read of N coupled, unchanged records: both
// sides read over HTTP, staged in DuckDB and diffed; with the state in the
// project's DuckDB file, and in PostgreSQL (issue 17: the couplings are
// copied into a private DuckDB workspace, the plan copied back).
//
//	go test ./engine -run '^$' -bench PlanFull -benchtime 3x
func BenchmarkPlanFull(b *testing.B) {
	n := benchRecords(b)
	for _, st := range []string{"duckdb", "postgres"} {
		b.Run("state="+st, func(b *testing.B) {
			e, _ := coupledWorld(b, n, st == "postgres")
			runtime.GC()
			b.ResetTimer()
			cpu := cpuTime()
			defer func() { b.ReportMetric((cpuTime()-cpu).Seconds()*1000/float64(b.N), "cpu-ms/op") }()
			for b.Loop() {
				p, err := e.Plan(b.Context(), engine.PlanOptions{Full: true})
				if err != nil {
					b.Fatal(err)
				}
				if got := p.Mappings[0].Counts["unchanged"]; got != int64(n) {
					b.Fatalf("%d unchanged, want %d: %v", got, n, p.Mappings[0].Counts)
				}
			}
			reportSpeed(b, n)
		})
	}
}

// BenchmarkPlanIncremental plans after 100 of N coupled records changed:
// only those are read from the source, and only their partners from the
// destination.
//
//	go test ./engine -run '^$' -bench PlanIncremental -benchtime 10x
func BenchmarkPlanIncremental(b *testing.B) {
	n := benchRecords(b)
	const changed = 100
	e, root := coupledWorld(b, n, false)
	if err := e.State().SetWatermark(b.Context(), "CUSTOMER", "table", time.Now().Add(-time.Hour)); err != nil {
		b.Fatal(err)
	}
	editCustomers(b, root, n, changed)
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		p, err := e.Plan(b.Context(), engine.PlanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if got := p.Mappings[0].Counts["update"]; got != changed {
			b.Fatalf("%d updates, want %d: %v", got, changed, p.Mappings[0].Counts)
		}
	}
	reportSpeed(b, changed)
}

// reportSpeed adds records/s and the peak resident memory of the engine's
// process (the fake servers run in a child process).
func reportSpeed(b *testing.B, records int) {
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(records)/perOp, "records/s")
	if hwm := peakRSS(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	}
}

// cpuTime is the CPU time the process has used, user and system, DuckDB's
// threads included: on a shared machine it moves far less than the wall
// time of what the process does (the fake servers are another process).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS reads the process's resident-set high-water mark (Linux only).
func peakRSS() int64 { return procStatus("VmHWM") }

// procStatus reads a memory figure of /proc/self/status in bytes (Linux
// only; 0 elsewhere): VmHWM is the peak resident set, VmRSS the current.
func procStatus(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
