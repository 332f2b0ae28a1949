package main

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/couplerhq/coupler/connectors/fake"
)

// gate holds every write (POST) to the fake CRM until it is opened, and
// says when the first one arrives: a slow system in the middle of an apply.
type gate struct {
	next     http.Handler
	arrived  chan struct{}
	once     sync.Once
	open     chan struct{}
	openOnce sync.Once
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		g.once.Do(func() { close(g.arrived) })
		<-g.open
	}
	g.next.ServeHTTP(w, r)
}

func (g *gate) release() { g.openOnce.Do(func() { close(g.open) }) }

// TestServeSIGTERMMidApply runs a real coupler serve as a child process
// and sends it SIGTERM while the first batch of its first apply waits on a
// slow CRM. The batch under way must finish and be recorded (every account
// created is coupled, and no write of a later batch starts), the process
// must exit 0, and the next run must finish the work without duplicates.
// While serve runs, a second coupler on the same state database is refused
// with a message naming serve's pid.
func TestServeSIGTERMMidApply(t *testing.T) {
	t.Parallel()
	coupler := couplerCommand(t)
	const customers = 450 // three batches of writes: 200, 200, 50
	erp, crm := seededERP(t, customers), fake.NewCRM()
	g := &gate{next: http.StripPrefix("/api/data/v9.2", crm), arrived: make(chan struct{}), open: make(chan struct{})}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	crmSrv := httptest.NewServer(g)
	defer erpSrv.Close()
	defer crmSrv.Close()
	defer g.release()

	dir := t.TempDir()
	writeScriptFiles(t, dir, "testdata/script/sync.txtar")
	proj := filepath.Join(dir, "proj")
	env := append(os.Environ(), "BC_URL="+fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), "DATAVERSE_URL="+crmSrv.URL+"/api/data/v9.2")
	command := func(args ...string) (string, string, error) {
		cmd := exec.Command(coupler, append([]string{"-C", proj}, args...)...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	couplings := func() int {
		t.Helper()
		out, errOut, err := command("query", "SELECT count(*) AS n FROM couplings", "--format", "csv")
		if err != nil {
			t.Fatalf("coupler query: %v\n%s", err, errOut)
		}
		lines := strings.Fields(out)
		n, err := strconv.Atoi(lines[len(lines)-1])
		if err != nil {
			t.Fatalf("coupler query said %q", out)
		}
		return n
	}

	serve := exec.Command(coupler, "-C", proj, "serve", "--listen", "127.0.0.1:0", "--log-level", "info", "--shutdown-timeout", "2m")
	serve.Env = env
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	var logs bytes.Buffer
	var logsMu sync.Mutex
	addrc := make(chan string, 1)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		listening := regexp.MustCompile(`listening on http://(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logsMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logsMu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	wait := func(what string, c <-chan struct{}) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(2 * time.Minute):
			logsMu.Lock()
			defer logsMu.Unlock()
			t.Fatalf("no %s within 2 minutes; serve said:\n%s", what, logs.String())
		}
	}
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(2 * time.Minute):
		t.Fatal("serve did not say where it listens")
	}
	wait("write to the CRM", g.arrived)

	// One coupler per state database: a plan now is refused, naming serve.
	_, errOut, err := command("plan")
	if err == nil || !strings.Contains(errOut, "in use by another coupler: pid "+strconv.Itoa(serve.Process.Pid)) || !strings.Contains(errOut, "coupler serve") {
		t.Errorf("coupler plan while serve runs: %v\n%s", err, errOut)
	}

	// query, which DuckDB would refuse the file serve holds, is answered
	// by serve (TestReadCommandsWhileServeRuns compares it with the local
	// read).
	if out, errOut, err := command("query", "SELECT 1 AS one", "--format", "csv"); err != nil || out != "one\n1\n" {
		t.Errorf("coupler query while serve runs: %v\n%s%s", err, out, errOut)
	}
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Serve says it is draining before the writes in flight are let through.
	draining := make(chan struct{})
	go func() {
		defer close(draining)
		for {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	wait("draining /healthz", draining)
	g.release()
	exited := make(chan struct{})
	var waitErr error
	go func() { <-logsDone; waitErr = serve.Wait(); close(exited) }()
	wait("exit after SIGTERM", exited)
	logsMu.Lock()
	log := logs.String()
	logsMu.Unlock()
	if waitErr != nil {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", waitErr, log)
	}
	for _, want := range []string{"shutting down", "stopped before the next batch of writes", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve's log lacks %q:\n%s", want, log)
		}
	}

	// Consistent: the first batch, and only it, was written, and every
	// account written is coupled.
	if n, c := crm.Len("accounts"), couplings(); n != 200 || c != 200 {
		t.Fatalf("after SIGTERM: %d accounts in the CRM and %d couplings, want 200 and 200 (one batch)", n, c)
	}
	// The next run finishes the work.
	out, errOut, err := command("sync", "CUSTOMER")
	if err != nil {
		t.Fatalf("coupler sync after the shutdown: %v\n%s\n%s", err, out, errOut)
	}
	if !regexp.MustCompile(`CUSTOMER +to_integration +250 `).MatchString(out) {
		t.Errorf("the next run did not create the remaining 250:\n%s", out)
	}
	if n, c := crm.Len("accounts"), couplings(); n != customers || c != customers {
		t.Errorf("after the next run: %d accounts and %d couplings, want %d and %d", n, c, customers, customers)
	}
}

// TestServeReloadAndRunNow runs a real coupler serve and changes its
// mapping file: an invalid change is logged with file:line:col and the
// running version kept; a valid one is used by the next run, which a
// run-now request starts.
func TestServeReloadAndRunNow(t *testing.T) {
	t.Parallel()
	coupler := couplerCommand(t)
	erp, crm := seededERP(t, 20), fake.NewCRM()
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
	defer erpSrv.Close()
	defer crmSrv.Close()
	dir := t.TempDir()
	writeScriptFiles(t, dir, "testdata/script/sync.txtar")
	mappingFile := filepath.Join(dir, "proj", "mappings", "customer.yaml")
	original, err := os.ReadFile(mappingFile)
	if err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(coupler, "-C", filepath.Join(dir, "proj"), "serve", "--listen", "127.0.0.1:0", "--log-level", "info",
		"--watch-interval", "20ms", "--token", "t0ken")
	serve.Env = append(os.Environ(), "BC_URL="+fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), "DATAVERSE_URL="+crmSrv.URL+"/api/data/v9.2")
	var logs syncBuffer
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	waitLog := func(substr string, n int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Count(logs.String(), substr) >= n {
				return
			}
		}
		t.Fatalf("serve did not log %q %d times within 2 minutes:\n%s", substr, n, logs.String())
	}
	waitLog("run finished", 1)
	if n := crm.Len("accounts"); n != 20 {
		t.Fatalf("first run made %d accounts, want 20", n)
	}
	addr := regexp.MustCompile(`listening on http://(\S+)`).FindStringSubmatch(logs.String())[1]

	// Invalid: logged with file:line:col, and the old version stays.
	bad := strings.Replace(string(original), "direction: to_integration", "direction: to_integration\nschedule: { every: soon }", 1)
	if err := os.WriteFile(mappingFile, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	// Wait for this change's own diagnostic: os.WriteFile truncates
	// before it writes, and a watch that sees the empty file in between
	// logs "project changed but is invalid" (the file holds no mapping)
	// before the schedule's diagnostic; under load that happened.
	waitLog("schedule: every must be a duration", 1)
	if !regexp.MustCompile(`customer\.yaml:\d+:20: mapping CUSTOMER: schedule: every must be a duration`).MatchString(logs.String()) {
		t.Errorf("the invalid change is not logged with file:line:col:\n%s", logs.String())
	}

	// Hostile: a filter of a million nested parentheses (2 MB), which
	// overflowed the parser's stack, a fatal error that killed serve. It
	// is refused before it is parsed, and the old version stays.
	hostile := strings.Replace(string(original), "direction: to_integration",
		"direction: to_integration\nfilter: "+strings.Repeat("(", 1_000_000)+"blocked"+strings.Repeat(")", 1_000_000), 1)
	if err := os.WriteFile(mappingFile, []byte(hostile), 0o644); err != nil {
		t.Fatal(err)
	}
	// The watch may also see the file half written, an invalid file too.
	waitLog("filter: expression: 2000007 bytes long", 1)
	if !regexp.MustCompile(`customer\.yaml:\d+:9: mapping CUSTOMER: filter: expression: 2000007 bytes long, more than the limit of 65536`).MatchString(logs.String()) {
		t.Errorf("the hostile filter is not refused at its file:line:col:\n%s", logs.String())
	}

	// Valid: the next run uses it. The new version writes a constant
	// city to every account, which the old one did not.
	good := strings.Replace(string(original), "{ field: city, integration_field: address1_city }", "{ integration_field: address1_city, constant: Reloaded }", 1)
	if good == string(original) {
		t.Fatal("the test's edit of the mapping file did not apply")
	}
	if err := os.WriteFile(mappingFile, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog("project reloaded", 1)
	if err := erp.Patch("customers", fake.CustomerID(3), map[string]any{"displayName": "Changed after reload"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/runs?mapping=CUSTOMER", nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("run-now: %s", resp.Status)
	}
	waitLog("run finished", 2)
	// The customer changed since the first run is written by the new
	// version: with the constant city.
	found := false
	for _, rec := range crm.All("accounts") {
		if rec["name"] == "Changed after reload" {
			found = true
			if rec["address1_city"] != "Reloaded" {
				t.Errorf("the changed customer's account has city %v, want Reloaded (the reloaded mapping)", rec["address1_city"])
			}
		}
	}
	if !found {
		t.Errorf("run-now did not write the changed customer:\n%s", logs.String())
	}
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
}

// couplerCommand returns the path of the test binary's coupler command,
// for tests that start coupler processes; it skips them under -short.
func couplerCommand(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts coupler processes")
	}
	coupler, err := exec.LookPath("coupler")
	if err != nil {
		t.Fatalf("the test binary's coupler command is not on PATH: %v", err)
	}
	return coupler
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// seededERP is a fake Business Central with n customers stamped in the
// past, so that an incremental plan after an edit reads only the edit.
func seededERP(t *testing.T, n int) *fake.Server {
	t.Helper()
	erp := fake.NewERP()
	stamp := time.Now().Add(-2 * time.Hour)
	erp.SetClock(func() time.Time { stamp = stamp.Add(time.Second); return stamp })
	if err := fake.SeedCustomers(erp, n); err != nil {
		t.Fatal(err)
	}
	erp.SetClock(time.Now)
	return erp
}

// writeScriptFiles writes the files of a testscript archive into dir, to
// run the project it holds outside testscript.
func writeScriptFiles(t *testing.T, dir, script string) {
	t.Helper()
	a, err := txtar.ParseFile(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range a.Files {
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
