package pgtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestDatabase: each test's database is its own (a table made in one is
// not in another), on a PostgreSQL of at least MinVersion, and is dropped
// when its test ends.
func TestDatabase(t *testing.T) {
	c := Shared(t)
	t.Logf("the cluster started in %s", c.StartTime)
	var names [2]string
	for i := range names {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			conn, err := pgx.Connect(t.Context(), Database(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(t.Context())
			if err := conn.QueryRow(t.Context(), `SELECT current_database()`).Scan(&names[i]); err != nil {
				t.Fatal(err)
			}
			var version int
			if err := conn.QueryRow(t.Context(), `SELECT current_setting('server_version_num')::int / 10000`).Scan(&version); err != nil {
				t.Fatal(err)
			}
			if version < MinVersion {
				t.Errorf("PostgreSQL %d, want %d or later", version, MinVersion)
			}
			var tables int
			if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE tablename = 'mine'`).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Errorf("a new database holds another test's table")
			}
			if _, err := conn.Exec(t.Context(), `CREATE TABLE mine (id int)`); err != nil {
				t.Fatal(err)
			}
		})
	}
	if names[0] == names[1] {
		t.Fatalf("two tests got one database, %s", names[0])
	}
	for _, name := range names {
		var n int
		if err := c.admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s outlived its test", name)
		}
	}
}

// TestDatabasesInParallel: tests running at once each get a database.
func TestDatabasesInParallel(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			conn, err := pgx.Connect(t.Context(), Database(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(t.Context())
			if _, err := conn.Exec(t.Context(), `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)`); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCopyDatabase: a copy starts with what the database copied holds,
// copies made at once included, and is a database of its own.
func TestCopyDatabase(t *testing.T) {
	src := Database(t)
	exec := func(t *testing.T, url, sql string) int {
		t.Helper()
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		var n int
		if err := conn.QueryRow(t.Context(), sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	conn, err := pgx.Connect(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())
	t.Run("copies", func(t *testing.T) {
		for i := range 3 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				cp := CopyDatabase(t, src)
				if cp == src {
					t.Fatal("the copy is the database copied")
				}
				if n := exec(t, cp, `WITH gone AS (DELETE FROM t WHERE id = 1 RETURNING 1) SELECT count(*) FROM t`); n != 2 {
					t.Errorf("the copy holds %d rows, want the 2 copied", n)
				}
			})
		}
	})
	if n := exec(t, src, `SELECT count(*) FROM t`); n != 2 {
		t.Errorf("the database copied holds %d rows after its copies changed, want 2", n)
	}
}

// TestUnavailable: missing binaries skip a test unless PostgreSQL is
// required; every other failure to start fails it.
func TestUnavailable(t *testing.T) {
	noServer := fmt.Errorf("%w on PATH", ErrNoServer)
	broken := errors.New("initdb: exit status 1")
	for _, tc := range []struct {
		name string
		err  error
		env  map[string]string
		skip bool
		says string
	}{
		{"no binaries, locally", noServer, nil, true, "apt-get install postgresql-15"},
		{"no binaries, required", noServer, map[string]string{RequireEnv: "1"}, false, "required here"},
		{"no binaries, in CI", noServer, map[string]string{"CI": "true"}, false, "apt-get install postgresql-15"},
		{"no binaries, CI=false", noServer, map[string]string{"CI": "false"}, true, "PostgreSQL test skipped"},
		{"no binaries, required=0", noServer, map[string]string{RequireEnv: "0"}, true, "PostgreSQL test skipped"},
		{"binaries that fail, locally", broken, nil, false, "initdb: exit status 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skip, msg := unavailable(tc.err, func(k string) string { return tc.env[k] })
			if skip != tc.skip || !strings.Contains(msg, tc.says) {
				t.Errorf("skip %v, %q; want skip %v and a message saying %q", skip, msg, tc.skip, tc.says)
			}
		})
	}
}

// TestFindBinaries: BinEnv names the binaries' directory, and one without
// them is ErrNoServer, not a fallback elsewhere.
func TestFindBinaries(t *testing.T) {
	t.Setenv(BinEnv, t.TempDir())
	if _, err := findBinaries(); !errors.Is(err, ErrNoServer) {
		t.Errorf("%s without binaries: %v, want ErrNoServer", BinEnv, err)
	}
}

func TestDatabaseName(t *testing.T) {
	for _, tc := range []struct {
		test string
		n    int64
		want string
	}{
		{"TestX", 1, "t1_testx"},
		{"TestCouplings/couple one/twice", 12, "t12_testcouplings_couple_one_twice"},
		{strings.Repeat("TestLong", 10), 3, ("t3_" + strings.Repeat("testlong", 10))[:63]},
	} {
		if got := databaseName(tc.test, tc.n); got != tc.want {
			t.Errorf("databaseName(%q, %d) = %q, want %q", tc.test, tc.n, got, tc.want)
		}
	}
}

// TestRemoveStale: a cluster directory a dead test binary left is removed
// once old enough; one being made, or whose server runs, stays.
func TestRemoveStale(t *testing.T) {
	parent := t.TempDir()
	now := time.Now()
	old := now.Add(-2 * staleAfter)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		pid     int // 0: no postmaster.pid
		mtime   time.Time
		removed bool
	}{
		{"old, no server", 0, old, true},
		{"old, server dead", dead.Process.Pid, old, true},
		{"old, server running", os.Getpid(), old, false},
		{"being made", 0, now, false},
	} {
		dir := filepath.Join(parent, dirPrefix+strings.ReplaceAll(tc.name, " ", ""))
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if tc.pid != 0 {
			if err := os.WriteFile(filepath.Join(dir, "data", "postmaster.pid"), fmt.Appendf(nil, "%d\n%s\n", tc.pid, dir), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(dir, tc.mtime, tc.mtime); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, err := os.Stat(dir)
			if gone := errors.Is(err, fs.ErrNotExist); gone != tc.removed {
				t.Errorf("%s: removed %v, want %v", tc.name, gone, tc.removed)
			}
		})
	}
	other := filepath.Join(parent, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(other, old, old); err != nil {
		t.Fatal(err)
	}
	removeStale(parent, now)
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a directory not named %s*: %v", dirPrefix, err)
	}
}

// TestProxy: through the proxy a database answers; cut, every connection
// fails and a new one is refused; restored, it answers again.
func TestProxy(t *testing.T) {
	p := NewProxy(t, Database(t))
	ping := func() error {
		conn, err := pgx.Connect(t.Context(), p.URL())
		if err != nil {
			return err
		}
		defer conn.Close(t.Context())
		return conn.Ping(t.Context())
	}
	if err := ping(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	held, err := pgx.Connect(t.Context(), p.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(t.Context())
	p.Cut()
	if err := held.Ping(t.Context()); err == nil {
		t.Error("a connection made before the cut still answers")
	}
	if err := ping(); err == nil {
		t.Error("a new connection is let through while cut")
	}
	p.Restore()
	if err := ping(); err != nil {
		t.Errorf("restored: %v", err)
	}
}
