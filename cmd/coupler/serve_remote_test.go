package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/couplerhq/coupler/cmd/coupler/remote"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine/lock"
)

// TestReadCommandsWhileServeRuns runs a real coupler serve and the read
// commands beside it. While serve's first apply waits on a slow CRM (a
// run in progress, held deterministically), runs, plans and query answer
// through serve's API; once the run finished, every read command prints,
// byte for byte and with the same exit status, what it prints after
// serve stopped, when it reads the state database itself. Serve wants
// its token for reads: without it the commands say so. A lock held by
// something else than the serve announced keeps the lock's message.
func TestReadCommandsWhileServeRuns(t *testing.T) {
	coupler := couplerCommand(t)
	erp, crm := seededERP(t, 30), fake.NewCRM()
	g := &gate{next: http.StripPrefix("/api/data/v9.2", crm), arrived: make(chan struct{}), open: make(chan struct{})}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	crmSrv := httptest.NewServer(g)
	defer erpSrv.Close()
	defer crmSrv.Close()
	defer g.release()

	dir := t.TempDir()
	writeScriptFiles(t, dir, "testdata/script/sync.txtar")
	proj := filepath.Join(dir, "proj")
	env := append(os.Environ(), "BC_URL="+fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), "DATAVERSE_URL="+crmSrv.URL+"/api/data/v9.2",
		"NO_COLOR=1", "COUPLER_SERVE_TOKEN=")
	type result struct {
		stdout, stderr string
		code           int
	}
	command := func(env []string, args ...string) result {
		t.Helper()
		cmd := exec.Command(coupler, append([]string{"-C", proj}, args...)...)
		cmd.Dir = dir
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("coupler %v: %v", args, err)
		}
		return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	}
	withToken := append(env[:len(env):len(env)], "COUPLER_SERVE_TOKEN=s3cret")

	serve := exec.Command(coupler, "-C", proj, "serve", "--listen", "127.0.0.1:0", "--log-level", "info",
		"--token", "s3cret", "--token-for-reads", "--shutdown-timeout", "2m")
	serve.Env = env
	var logs syncBuffer
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	waitLog := func(substr string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(logs.String(), substr) {
				return
			}
		}
		t.Fatalf("serve did not log %q within 2 minutes:\n%s", substr, logs.String())
	}
	select {
	case <-g.arrived:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no write to the CRM within 2 minutes; serve said:\n%s", logs.String())
	}
	announced := filepath.Join(proj, ".coupler", remote.FileName)
	if _, err := os.Stat(announced); err != nil {
		t.Fatalf("serve did not announce itself: %v", err)
	}

	// Mid-run: the first write waits on the CRM, and reads still answer.
	info, ok := remote.Find(filepath.Join(proj, ".coupler", "state.duckdb"), serve.Process.Pid)
	if !ok {
		t.Fatalf("serve's announcement does not name serve (pid %d)", serve.Process.Pid)
	}
	for _, path := range []string{"/api/runs", "/api/query?sql=SELECT+count(*)+FROM+plan_operations"} {
		req, _ := http.NewRequest(http.MethodGet, info.URL+path, nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s during serve's run: %s", path, resp.Status)
		}
		t.Logf("GET %s during serve's run answered in %s", path, time.Since(start))
	}
	start := time.Now()
	mid := command(withToken, "runs", "--format", "json")
	took := time.Since(start)
	if mid.code != 0 || !strings.Contains(mid.stdout, `"status": "running"`) {
		t.Fatalf("coupler runs during serve's run: exit %d\n%s%s", mid.code, mid.stdout, mid.stderr)
	}
	t.Logf("coupler runs during serve's run took %s (process start included)", took)
	if r := command(withToken, "query", "SELECT count(*) AS n FROM couplings", "--format", "csv"); r.code != 0 || r.stdout != "n\n0\n" {
		t.Errorf("coupler query during serve's run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := command(withToken, "plans"); r.code != 0 || !strings.Contains(r.stdout, "applying") {
		t.Errorf("coupler plans during serve's run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Writers are still refused, naming serve.
	if r := command(withToken, "plan"); r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("in use by another coupler: pid %d", serve.Process.Pid)) {
		t.Errorf("coupler plan while serve runs: exit %d\n%s", r.code, r.stderr)
	}
	// coupler approve asks serve, which holds the state database; the
	// plan being applied cannot be approved, and serve's refusal is shown.
	if r := command(withToken, "approve", "latest"); r.code != 1 || !strings.Contains(r.stderr,
		fmt.Sprintf("coupler serve (pid %d) did not approve plan latest: plan ", serve.Process.Pid)) || !strings.Contains(r.stderr, "only a plan not applied yet can be approved") {
		t.Errorf("coupler approve while serve runs: exit %d\n%s", r.code, r.stderr)
	}
	// Without the token serve wants for reads, the command says so.
	if r := command(env, "runs"); r.code != 1 || !strings.Contains(r.stderr, "wants its token for reads") {
		t.Errorf("coupler runs without serve's token: exit %d\n%s", r.code, r.stderr)
	}
	if r := command(env, "runs", "--token", "wrong"); r.code != 1 || !strings.Contains(r.stderr, "a valid token is required") {
		t.Errorf("coupler runs with a wrong token: exit %d\n%s", r.code, r.stderr)
	}
	g.release()
	waitLog("run finished")

	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	reads := [][]string{
		{"runs"},
		{"runs", "--format", "json"},
		{"plans"},
		{"plans", "--format", "json"},
		{"show", "latest", "--format", "json"},
		{"show", "latest"},
		{"show", "--format", "markdown", "--limit", "3", "--op", "create"},
		{"show", "latest", "--format", "html", "-o", "out/plan.html"},
		{"show", "latest", "--format", "jsonl", "-o", "out/ops.jsonl"},
		{"show", "nosuchplan"},
		{"show", "--mapping", "CUSTOMERS"},
		{"query", "select count(*) from couplings"},
		{"query", "SELECT mapping, direction, inserted, finished_at IS NOT NULL AS done FROM runs ORDER BY id", "--format", "json"},
		{"query", "SELECT source_id, dest_id FROM couplings ORDER BY source_id LIMIT 3", "--format", "csv"},
		{"query", "SELECT nosuchcolumn FROM couplings"},
		{"errors"},
		{"errors", "--format", "json", "--mapping", "CUSTOMER"},
		{"state", "intents"},
		{"state", "intents", "--format", "json"},
		// Completion of plan ids, which a shell asks for on a tab.
		{"__complete", "show", ""},
	}
	files := []string{"plan.html", "ops.jsonl"}
	type answer struct {
		result
		files map[string]string
	}
	readAll := func() []answer {
		var all []answer
		for _, args := range reads {
			for _, f := range files {
				_ = os.Remove(filepath.Join(out, f))
			}
			a := answer{result: command(withToken, args...), files: map[string]string{}}
			for _, f := range files {
				if b, err := os.ReadFile(filepath.Join(out, f)); err == nil {
					a.files[f] = string(b)
				}
			}
			all = append(all, a)
		}
		return all
	}
	throughServe := readAll()
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	if _, err := os.Stat(announced); !os.IsNotExist(err) {
		t.Errorf("serve left its announcement %s at exit: %v", announced, err)
	}
	local := readAll()
	for i, args := range reads {
		s, l := throughServe[i], local[i]
		if s.stdout != l.stdout || s.stderr != l.stderr || s.code != l.code {
			t.Errorf("coupler %s through serve differs from the local read:\nthrough serve: exit %d\n%s%s\nlocal: exit %d\n%s%s",
				strings.Join(args, " "), s.code, s.stdout, s.stderr, l.code, l.stdout, l.stderr)
		}
		for _, f := range files {
			if s.files[f] != l.files[f] {
				t.Errorf("coupler %s through serve wrote %s differently (%d bytes, locally %d)", strings.Join(args, " "), f, len(s.files[f]), len(l.files[f]))
			}
		}
	}
	// The comparison compares something: a plan of 30 creates was applied.
	if got := local[11].stdout; !regexp.MustCompile(`\b30\b`).MatchString(got) {
		t.Errorf("coupler query after serve: %q, want 30 couplings", got)
	}
	if !strings.Contains(local[4].stdout, `"format_version"`) || local[7].files["plan.html"] == "" || local[8].files["ops.jsonl"] == "" {
		t.Errorf("coupler show printed or wrote nothing:\n%s", local[4].stdout)
	}

	// A lock held by another process than the serve announced (an apply),
	// with a stale announcement left by a killed serve: the lock's message.
	lk, err := lock.Acquire(filepath.Join(proj, ".coupler", "state.duckdb"), "coupler apply")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release()
	stale, err := remote.Announce(remote.Info{URL: "http://127.0.0.1:1", PID: serve.Process.Pid, State: filepath.Join(proj, ".coupler", "state.duckdb")})
	if err != nil {
		t.Fatal(err)
	}
	defer stale()
	if r := command(withToken, "runs"); r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("in use by another coupler: pid %d", os.Getpid())) || !strings.Contains(r.stderr, "coupler apply") {
		t.Errorf("coupler runs while an apply holds the state: exit %d\n%s", r.code, r.stderr)
	}
}
