// Package pgtest gives a test binary a private PostgreSQL server: a
// cluster made with initdb in a temporary directory, listening on a Unix
// socket in that directory only (no port to collide on), started by the
// first test that asks for a database and stopped when the binary's tests
// end. Each test gets a database of its own, so tests that use it can run
// in parallel.
//
// A package whose tests use it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and a test calls Database for the URL of its empty database.
//
// When the server binaries are not installed, a test that asks for a
// database skips and says how to install them, unless PostgreSQL is
// required (RequireEnv, or $CI, as .ci/run sets): then it fails, as does
// every other reason the server cannot start.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"os/user"
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

	"github.com/jackc/pgx/v5/pgxpool"
)

// RequireEnv, set to 1 (as .ci/run does), turns the skip for missing
// PostgreSQL server binaries into a failure. $CI set to anything but
// "false" or "0" does the same.
const RequireEnv = "COUPLER_REQUIRE_POSTGRES"

// BinEnv names the directory of the server binaries (initdb, postgres)
// when they are neither on PATH nor where the distribution's packages put
// them.
const BinEnv = "COUPLER_POSTGRES_BIN"

// ErrNoServer is returned (wrapped) by Start when no PostgreSQL server
// binaries are found.
var ErrNoServer = errors.New("no PostgreSQL server binaries (initdb, postgres) found")

// installHint says how to get the server binaries.
const installHint = "install PostgreSQL 15 or later (Debian and Ubuntu: apt-get install postgresql-15; .ci/run does), or set " +
	BinEnv + " to the directory holding initdb and postgres"

// MinVersion is the oldest PostgreSQL major version the tests run on.
const MinVersion = 15

// Cluster is a running PostgreSQL server of one test binary.
type Cluster struct {
	dir     string // the temporary directory: data/, the socket, server.log
	bin     string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been waited for
	waitErr error         // cmd.Wait's result, once exited is closed
	admin   *pgxpool.Pool
	copying sync.Mutex // held while a database is copied
	// StartTime is how long Start took: initdb, the server's start and
	// the wait until it accepted a connection.
	StartTime time.Duration
}

// Start makes a cluster in a new temporary directory and starts its
// server, which listens on a Unix socket in that directory only. As root,
// which initdb and postgres refuse to run as, both run as the postgres
// user. Stop stops the server and removes the directory. Should this
// process die without calling Stop, the server is sent SIGQUIT (an
// immediate shutdown) by the kernel, so that no server outlives its tests.
func Start(ctx context.Context) (*Cluster, error) {
	began := time.Now()
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir()
	if err != nil {
		return nil, fmt.Errorf("postgres test cluster: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin, port: 5432, exited: make(chan struct{})}
	cred, err := c.owner()
	if err == nil {
		err = c.initdb(ctx, cred)
	}
	if err == nil {
		err = c.start(ctx, cred)
	}
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("postgres test cluster in %s: %w", dir, err)
	}
	c.StartTime = time.Since(began)
	return c, nil
}

// findBinaries returns the directory holding initdb and postgres: BinEnv,
// else the directory of initdb on PATH, else the newest
// /usr/lib/postgresql/N/bin (Debian's packages put them there, off PATH)
// or /usr/pgsql-N/bin (the PGDG RPMs), N at least MinVersion.
func findBinaries() (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		if !hasServer(dir) {
			return "", fmt.Errorf("%w in %s=%s", ErrNoServer, BinEnv, dir)
		}
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil && hasServer(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	var found []struct {
		version int
		dir     string
	}
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		dirs, _ := filepath.Glob(pattern)
		for _, dir := range dirs {
			v, err := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(filepath.Base(filepath.Dir(dir)), "pgsql-"), "postgresql"))
			if err == nil && v >= MinVersion && hasServer(dir) {
				found = append(found, struct {
					version int
					dir     string
				}{v, dir})
			}
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("%w on PATH, in /usr/lib/postgresql/N/bin or /usr/pgsql-N/bin (N >= %d)", ErrNoServer, MinVersion)
	}
	slices.SortFunc(found, func(a, b struct {
		version int
		dir     string
	}) int {
		return b.version - a.version
	})
	return found[0].dir, nil
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

// socketPathMax is the longest Unix socket path Linux takes (sun_path is
// 108 bytes, with the final NUL).
const socketPathMax = 107

// tempDir makes the cluster's directory. The server's socket lives in it,
// so a $TMPDIR too long for a socket path gives way to /tmp.
func tempDir() (string, error) {
	parent := os.TempDir()
	if len(parent)+len("/"+dirPrefix+"0123456789/.s.PGSQL.5432") > socketPathMax {
		parent = "/tmp"
	}
	removeStale(parent, time.Now())
	return os.MkdirTemp(parent, dirPrefix)
}

// dirPrefix starts the name of every cluster's directory.
const dirPrefix = "coupler-pg-"

// staleAfter is how old a cluster's directory without a running server
// must be to be removed: older than any initdb takes, so that a cluster
// another test binary is making is left alone.
const staleAfter = 10 * time.Minute

// removeStale removes the clusters that test binaries which died without
// Stop left in parent (their server got SIGQUIT, but the directory, some
// 40 MB, stays): those whose server is not running and which are older
// than staleAfter.
func removeStale(parent string, now time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() || now.Sub(st.ModTime()) < staleAfter || serverRunning(dir) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// serverRunning reports whether the cluster in dir has a server process:
// the first line of its postmaster.pid names a live process.
func serverRunning(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return false
	}
	// Signal 0 checks that the process exists; EPERM means it exists
	// under another user.
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// owner returns the credential initdb and postgres run with: nil (this
// process's) unless this process is root, since both refuse to run as
// root; then the postgres user's, which is given the directory.
func (c *Cluster) owner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, which PostgreSQL refuses to run as, and there is no postgres user to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	if err := os.Chown(c.dir, int(uid), int(gid)); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (c *Cluster) command(ctx context.Context, cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir // the postgres user may not enter this process's directory
	// The server's messages in English and nothing of this process's
	// PG* settings.
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd
}

// initdb makes the cluster with trust authentication (only its owner and
// root can reach the socket's directory) and without waiting for its
// files to reach the disk.
func (c *Cluster) initdb(ctx context.Context, cred *syscall.Credential) error {
	out, err := c.command(ctx, cred, "initdb", "-D", c.data(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// startTimeout bounds the wait for a starting server to accept a
// connection.
const startTimeout = 60 * time.Second

// start runs the server, logging to server.log, and waits until it takes
// a connection. Durability is off (fsync, full_page_writes, synchronous
// commit): a test's database does not outlive the test, and a crash of
// the machine is not one of the tests.
func (c *Cluster) start(ctx context.Context, cred *syscall.Credential) error {
	log, err := os.Create(c.logPath())
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := c.command(context.Background(), cred, "postgres", "-D", c.data(), "-k", c.dir, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=200", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = log, log
	// An immediate shutdown should this process die without Stop.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = cmd
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(c.URL("postgres"))
	if err != nil {
		return err
	}
	cfg.MaxConns = 4
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = pool.Ping(ctx)
			if err == nil {
				c.admin = pool
				return nil
			}
			pool.Close()
		}
		// Polling: the server says it is ready only in its log.
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited while starting (%v): %s", c.waitErr, c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not take a connection within %s: %w: %s", startTimeout, err, c.logTail())
		case <-tick.C:
		}
	}
}

func (c *Cluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *Cluster) logPath() string { return filepath.Join(c.dir, "server.log") }

// logTail returns the end of the server's log, for an error.
func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.logPath())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return "server log:\n" + string(b)
}

// URL returns the connection URL of database name on the cluster, as
// pgx and libpq read it: the socket's directory as the host.
func (c *Cluster) URL(name string) string {
	q := neturl.Values{"host": {c.dir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	return (&neturl.URL{Scheme: "postgres", User: neturl.User("postgres"), Path: "/" + name, RawQuery: q.Encode()}).String()
}

// CreateDatabase creates a database, empty or, when template is not "", a
// copy of the database so named, and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name, template string) (string, error) {
	q := `CREATE DATABASE ` + quoteIdent(name)
	if template != "" {
		q += ` TEMPLATE ` + quoteIdent(template)
		// Copies of one database one at a time: the template may have
		// no session but the copy's.
		c.copying.Lock()
		defer c.copying.Unlock()
	}
	if _, err := c.admin.Exec(ctx, q); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// DropDatabase drops a database, closing the connections still open to
// it.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if _, err := c.admin.Exec(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(name)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// stopTimeout bounds the wait for the server to stop before it is killed.
const stopTimeout = 30 * time.Second

// Stop stops the server (a fast shutdown: open connections are closed)
// and removes the cluster's directory.
func (c *Cluster) Stop() error {
	if c.admin != nil {
		c.admin.Close()
	}
	var err error
	if c.cmd != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.exited:
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.exited
			err = fmt.Errorf("postgres test cluster: the server did not stop within %s and was killed: %s", stopTimeout, c.logTail())
		}
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = fmt.Errorf("postgres test cluster: %w", rerr)
	}
	return err
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// shared is the cluster of this test binary, started by the first
// Database call.
var shared struct {
	main    atomic.Bool // Main is running the tests
	once    sync.Once
	cluster *Cluster
	err     error
	n       atomic.Int64 // databases made, for unique names
}

// Main runs the tests, then stops the cluster if a test started it. A
// failure to stop it fails the run.
func Main(m *testing.M) int {
	shared.main.Store(true)
	code := m.Run()
	if c := shared.cluster; c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Shared returns the cluster of this test binary, starting it if needed.
// When it cannot start, the test fails, or skips when the server binaries
// are missing and PostgreSQL is not required (see the package comment).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if !shared.main.Load() {
		t.Fatal("pgtest: the package's TestMain must run its tests through pgtest.Main, which stops the cluster")
	}
	shared.once.Do(func() {
		shared.cluster, shared.err = Start(context.Background())
	})
	if shared.err != nil {
		if skip, msg := unavailable(shared.err, os.Getenv); skip {
			t.Skip(msg)
		} else {
			t.Fatal(msg)
		}
	}
	return shared.cluster
}

// unavailable says whether a test that needs PostgreSQL skips, rather than
// fails, for the reason err the cluster did not start, and with what
// message.
func unavailable(err error, getenv func(string) string) (skip bool, msg string) {
	if !errors.Is(err, ErrNoServer) {
		return false, err.Error()
	}
	if required(getenv) {
		return false, fmt.Sprintf("%v, and PostgreSQL is required here (%s=1 or $CI): %s", err, RequireEnv, installHint)
	}
	return true, fmt.Sprintf("PostgreSQL test skipped: %v; to run it, %s", err, installHint)
}

func required(getenv func(string) string) bool {
	on := func(v string) bool { return v != "" && v != "0" && !strings.EqualFold(v, "false") }
	return on(getenv(RequireEnv)) || on(getenv("CI"))
}

// Database creates an empty database for test t on the shared cluster and
// returns its URL; the database is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	return database(t, "")
}

// CopyDatabase creates for test t a database that starts as a copy of the
// one of the shared cluster at url, and returns its URL; it is dropped
// when the test ends. No session may be connected to the database copied
// (CREATE DATABASE … TEMPLATE refuses it): a test copies a state it has
// closed, to start several from one.
func CopyDatabase(t testing.TB, url string) string {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	return database(t, strings.TrimPrefix(u.Path, "/"))
}

// database creates a database for t, a copy of template unless it is "".
func database(t testing.TB, template string) string {
	t.Helper()
	c := Shared(t)
	name := databaseName(t.Name(), shared.n.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := c.CreateDatabase(ctx, name, template)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Error(err)
		}
	})
	return u
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName makes a database name from a test's name, unique by n and
// within PostgreSQL's 63 bytes.
func databaseName(test string, n int64) string {
	name := fmt.Sprintf("t%d_%s", n, notIdent.ReplaceAllString(strings.ToLower(test), "_"))
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}
