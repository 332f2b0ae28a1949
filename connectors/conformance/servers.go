package conformance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RequireRealServersEnv, set to 1 (as .ci/run does), turns a skip for a
// missing node or npm install into a failure.
const RequireRealServersEnv = "COUPLER_REQUIRE_REAL_SERVERS"

// ServersDir is the directory of the npm project that installs the real
// third-party servers, relative to the repository root.
const ServersDir = "connectors/conformance/testdata/servers"

// serversDir returns the absolute path of ServersDir, found from this
// source file so that any test package can use it.
func serversDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "servers")
}

// needNode returns the node binary and the servers directory, or skips the
// test (fails it under COUPLER_REQUIRE_REAL_SERVERS=1) saying how to
// install what is missing.
func needNode(t testing.TB, module string) (node, dir string) {
	t.Helper()
	dir = serversDir()
	how := fmt.Sprintf("install Node.js 20+ and run `npm ci` in %s (.ci/run does both)", ServersDir)
	missing := func(what string) {
		if os.Getenv(RequireRealServersEnv) == "1" {
			t.Fatalf("%s, and %s=1 requires the real servers: %s", what, RequireRealServersEnv, how)
		}
		t.Skipf("real-server test skipped: %s; to run it, %s", what, how)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", module, "package.json")); err != nil {
		missing("the npm package " + module + " is not installed")
	}
	return node, dir
}

// NodeModule returns the node binary and the directory of the npm package
// module installed under ServersDir (the npm test tools, such as
// yaml-language-server and ajv, are pinned there beside the servers), or
// skips the test (fails it under COUPLER_REQUIRE_REAL_SERVERS=1) saying how
// to install what is missing.
func NodeModule(t testing.TB, module string) (node, moduleDir string) {
	t.Helper()
	node, dir := needNode(t, module)
	return node, filepath.Join(dir, "node_modules", filepath.FromSlash(module))
}

// StartCAP starts SAP CAP (@sap/cds with @cap-js/sqlite, in memory) on
// loopback with the Dataverse-shaped model in testdata/servers/cap, and
// returns the service root, e.g. http://localhost:41234/odata/v4/crm. The
// server stops when the test ends. It skips the test when node or the
// packages are missing, unless COUPLER_REQUIRE_REAL_SERVERS=1.
func StartCAP(t testing.TB) string {
	node, dir := needNode(t, "@sap/cds")
	needNode(t, "@cap-js/sqlite")
	cmd := exec.Command(node, filepath.Join(dir, "node_modules", "@sap", "cds", "bin", "serve.js"), "all", "--in-memory")
	cmd.Dir = filepath.Join(dir, "cap")
	cmd.Env = append(os.Environ(), "PORT=0", "NODE_ENV=development", "CDS_LOG_LEVELS_CDS=warn", "NO_COLOR=1")
	root := start(t, cmd, regexp.MustCompile(`server listening on \{ url: '(http://[^']+)'`))
	return root + "/odata/v4/crm"
}

// CAPCompanyID is the id of the one company SAP CAP's Business
// Central-shaped service serves (testdata/servers/cap/db/data), the same as
// the fake ERP's.
const CAPCompanyID = "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"

// CAPSeedCustomers is the number of customers of the fake ERP's seed world
// (fake.SeedAll) that SAP CAP's Business Central-shaped service is seeded
// with, with everything the world gives them (TestCAPSeedData).
const CAPSeedCustomers = 30

// StartCAPBusinessCentral starts SAP CAP as StartCAP does and returns the
// URL of its Business Central-shaped company, as Business Central's
// documentation writes it: http://localhost:41234/api/v2.0/companies(<CAPCompanyID>).
func StartCAPBusinessCentral(t testing.TB) string {
	crm := StartCAP(t)
	return strings.TrimSuffix(crm, "/odata/v4/crm") + "/api/v2.0/companies(" + CAPCompanyID + ")"
}

// StartJSONServer starts json-server 0.17 on loopback with a copy of
// testdata/servers/db.json (collection "contacts") and returns its root URL.
func StartJSONServer(t testing.TB) string {
	node, dir := needNode(t, "json-server")
	db := filepath.Join(t.TempDir(), "db.json")
	src, err := os.ReadFile(filepath.Join(dir, "db.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, src, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(node, filepath.Join(dir, "node_modules", "json-server", "lib", "cli", "bin.js"),
		db, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Dir = dir
	start(t, cmd, regexp.MustCompile(`(http://127\.0\.0\.1:\d+)`))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitListening(t, port)
	return url
}

// start runs cmd, waits (up to a minute) for a line of its output that
// matches ready, and returns the first group of that match. The process is
// killed when the test ends.
func start(t testing.TB, cmd *exec.Cmd, ready *regexp.Regexp) string {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	found := make(chan string, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent {
				log.WriteString(line + "\n")
				if m := ready.FindStringSubmatch(line); m != nil {
					found <- m[1]
					sent = true
				}
			}
		}
		close(found)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatalf("%s exited before it was ready:\n%s", filepath.Base(cmd.Args[1]), log.String())
		}
		return u
	case <-ctx.Done():
		t.Fatalf("%s not ready after a minute", filepath.Base(cmd.Args[1]))
	}
	return ""
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until something accepts connections on port.
func waitListening(t testing.TB, port int) {
	for range 100 {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}
