// Package state keeps coupler's memory in one DuckDB file: couplings,
// watermarks, saved plans with their operations, runs, and the staging
// tables in which a plan's rows are diffed with SQL. It is the only package
// that links DuckDB, so that most test binaries do not pay for it.
package state

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// DB is an open state database.
type DB struct {
	db        *sql.DB
	connector *duckdb.Connector
	path      string
	writing   sync.Mutex // held by the apply under way; see LockWrites
	// couplingsMu is held by every transaction that adds couplings, from
	// before it begins until it commits (couplingTx): since schema version
	// 12 no unique index keeps a record coupled once, and a transaction
	// that began before another's couplings were committed would not see
	// them to refuse its own. Only one process opens the file for writing,
	// so this orders every writer.
	couplingsMu sync.Mutex
	redact      func(string) string
	// sealed is Options.Sealed: Query may run a person's statement.
	sealed bool
	// memoryLimit is the memory_limit set at open, "" for DuckDB's own.
	memoryLimit string
	// journal keeps write intents safe from damage to the write-ahead log
	// until they are checkpointed (journal.go).
	journal *journal
}

// LockWrites claims the right to write to the systems for one apply, so
// that two applies in one process (coupler serve) never run at once; DuckDB's
// file lock keeps other processes out. It fails at once rather than wait.
func (d *DB) LockWrites() (unlock func(), err error) {
	if !d.writing.TryLock() {
		return nil, errors.New("another apply is running on this state database; wait for it to finish")
	}
	return d.writing.Unlock, nil
}

// Options tunes the DuckDB instance.
type Options struct {
	// MemoryLimit caps DuckDB's memory, e.g. "512MB"; empty keeps DuckDB's
	// default, or takes MemoryLimitFor's.
	MemoryLimit string
	// MemoryLimitFor, when MemoryLimit is empty, gives the memory_limit
	// for the number of worker threads DuckDB runs: what a query needs
	// beyond what it can spill grows with them.
	MemoryLimitFor func(threads int) string
	// TempDirectory is where DuckDB spills what does not fit in
	// MemoryLimit; empty keeps DuckDB's default (the database's path with
	// ".tmp" appended).
	TempDirectory string
	// Threads caps DuckDB's worker threads; 0 takes $COUPLER_DUCKDB_THREADS
	// (ThreadsEnv) when it is set, else DuckDB's default of one per core.
	Threads int
	// Logger gets the warnings about a write-ahead log or intents journal
	// found torn or damaged at open; nil discards them.
	Logger *slog.Logger
	// Redact, when set, scrubs each failure message before it is stored:
	// a server's error may echo the credentials it was sent, and a stored
	// message is printed by coupler errors and shown by serve.
	Redact func(string) string
	// Sealed closes the database off, once open, from everything but its
	// own files, as Query's read-only open is: no statement run on it can
	// reach another file (read_csv, COPY … TO, ATTACH), load an extension
	// or change a setting, which (*DB).Query needs to run a person's SQL
	// on a database that stays open for writing (coupler serve). Backup
	// and ExportOperations then work only inside Scratch.
	Sealed bool
	// Scratch is a directory a sealed database may still read and write:
	// where coupler serve exports a plan's operations before sending them.
	Scratch string
}

// MemoryLimit returns the memory_limit the database was opened with, ""
// when it kept DuckDB's default.
func (d *DB) MemoryLimit() string { return d.memoryLimit }

// ThreadsEnv names the environment variable that caps DuckDB's worker
// threads when Options.Threads is 0, e.g. 1 on a machine shared with other
// work; 0 or unset keeps DuckDB's default. The test suites set it to 1:
// their databases are small, and with a pool per database each short
// statement wakes threads that have nothing to do, which cost a third of
// the tests' CPU time (docs/architecture.md, "Test suite").
const ThreadsEnv = "COUPLER_DUCKDB_THREADS"

// threadsFromEnv returns $COUPLER_DUCKDB_THREADS, 0 when it is not set.
func threadsFromEnv() (int, error) {
	v := os.Getenv(ThreadsEnv)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a number of threads (0 for DuckDB's default of one per core)", ThreadsEnv, v)
	}
	return n, nil
}

// Open opens the state database at path, creating it and its directory if
// needed. A database written by a newer coupler, or damaged (see
// checkIntegrity), is refused and left as it was.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Threads == 0 {
		n, err := threadsFromEnv()
		if err != nil {
			return nil, fmt.Errorf("state database %s: %w", path, err)
		}
		opts.Threads = n
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	if err := checkFile(path); err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	if err := create(ctx, path); err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	torn, inPlace, err := checkIntegrity(ctx, path, opts.Threads)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	if torn != "" {
		// What a crash in the middle of a commit leaves, or damage: the
		// complete part is replayed (see durable for why that loses
		// nothing applied); the log itself is kept for a look.
		kept, err := keepTornWAL(path, time.Now())
		if err != nil {
			return nil, fmt.Errorf("state database %s: keep a copy of its torn write-ahead log: %w", path, err)
		}
		opts.Logger.Warn("the state database's write-ahead log ends in an incomplete entry, as a crash while committing leaves it (or damage); its complete part is replayed, the rest dropped",
			"file", path+".wal", "where", torn, "copy", kept)
	}
	c, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	d := &DB{db: sql.OpenDB(c), connector: c, path: path, redact: opts.Redact}
	if d.redact == nil {
		d.redact = func(s string) string { return s }
	}
	if inPlace {
		if err := readTables(ctx, d.db, path+".wal"); err != nil {
			d.Close()
			return nil, fmt.Errorf("state database %s: %w", path, err)
		}
	}
	if err := d.init(ctx, opts); err != nil {
		d.Close()
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	return d, nil
}

func (d *DB) init(ctx context.Context, opts Options) error {
	if opts.MemoryLimit != "" {
		if _, err := d.db.ExecContext(ctx, "SET memory_limit = "+sqlString(opts.MemoryLimit)); err != nil {
			return fmt.Errorf("staging: memory_limit %s: %w", opts.MemoryLimit, err)
		}
		d.memoryLimit = opts.MemoryLimit
	}
	if opts.TempDirectory != "" {
		if _, err := d.db.ExecContext(ctx, "SET temp_directory = "+sqlString(opts.TempDirectory)); err != nil {
			return fmt.Errorf("staging: temp_directory %s: %w", opts.TempDirectory, err)
		}
	}
	if _, err := d.db.ExecContext(ctx, "ATTACH IF NOT EXISTS ':memory:' AS "+stagingCatalog); err != nil {
		return fmt.Errorf("attach the staging database: %w", err)
	}
	if opts.Threads > 0 {
		if _, err := d.db.ExecContext(ctx, "SET threads = "+strconv.Itoa(opts.Threads)); err != nil {
			return err
		}
	}
	if opts.MemoryLimit == "" && opts.MemoryLimitFor != nil {
		var threads int
		if err := d.db.QueryRowContext(ctx, "SELECT current_setting('threads')").Scan(&threads); err != nil {
			return fmt.Errorf("staging: DuckDB's threads: %w", err)
		}
		limit := opts.MemoryLimitFor(threads)
		if _, err := d.db.ExecContext(ctx, "SET memory_limit = "+sqlString(limit)); err != nil {
			return fmt.Errorf("staging: memory_limit %s: %w", limit, err)
		}
		d.memoryLimit = limit
	}
	have, err := d.version(ctx)
	if err != nil {
		return err
	}
	if have > SchemaVersion {
		return fmt.Errorf("%w: written by a newer coupler (schema version %d, this one reads up to %d); upgrade coupler", ErrUnusable, have, SchemaVersion)
	}
	if have != SchemaVersion || !d.hasSchemaDigest(ctx) {
		if err := d.migrate(ctx, have); err != nil {
			return err
		}
	}
	if err := d.openJournal(ctx, opts.Logger); err != nil {
		return err
	}
	if opts.Sealed {
		return d.seal(ctx, opts.Scratch)
	}
	return nil
}

// migrate brings the database from schema version have to this
// coupler's: the version 1 layout is created if missing and its views
// replaced, which is how a view changes; then each migration the file
// lacks. The schema's digest is recorded with the version, so that the
// next open of the same layout writes nothing.
func (d *DB) migrate(ctx context.Context, have int) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	for _, m := range migrations {
		if m.Version <= have {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", m.Version, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('schema_digest', ?)`,
		strconv.Itoa(SchemaVersion), schemaDigest()); err != nil {
		return err
	}
	return tx.Commit()
}

// schemaDigest identifies the layout this coupler creates: its schema and
// migrations as written. A view edited without a new schema version
// changes it too, and is replaced at the next open.
var schemaDigest = sync.OnceValue(func() string {
	h := sha256.New()
	io.WriteString(h, schema)
	for _, m := range migrations {
		fmt.Fprintf(h, "\x00%d\x00%s", m.Version, m.SQL)
	}
	return hex.EncodeToString(h.Sum(nil))
})

// hasSchemaDigest reports whether the database was last migrated by a
// coupler with this layout: then opening it needs no write at all, where
// running the schema again would commit a transaction (and a checkpoint
// at close) on every open, read-only commands included.
func (d *DB) hasSchemaDigest(ctx context.Context) bool {
	var digest string
	err := d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_digest'`).Scan(&digest)
	return err == nil && digest == schemaDigest()
}

// seal turns external access off and locks the configuration, which no
// statement can undo ("Securing DuckDB"); the database's own file, its
// write-ahead log and spill directory stay DuckDB's to use. Scratch, when
// set, is allowed first: once external access is off, the allowed
// directories cannot change.
func (d *DB) seal(ctx context.Context, scratch string) error {
	stmts := []string{"SET enable_external_access = false", "SET lock_configuration = true"}
	if scratch != "" {
		dir := filepath.Clean(scratch) + string(filepath.Separator)
		stmts = append([]string{"SET allowed_directories = [" + sqlString(dir) + "]"}, stmts...)
	}
	for _, q := range stmts {
		if _, err := d.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("seal: %s: %w", q, err)
		}
	}
	d.sealed = true
	return nil
}

// ErrUnusable is returned (wrapped) by Open for a file that is not a state
// database this coupler can use: corrupt, another kind of file or database,
// or written by a newer coupler. Such a file is never written to.
var ErrUnusable = errors.New("unusable state database")

// version returns the schema version of the open database: 0 for an empty
// one. A database that has tables but no coupler version is refused, so
// that pointing state: at some other DuckDB file cannot change it.
func (d *DB) version(ctx context.Context) (int, error) {
	var have string
	err := d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&have)
	switch {
	case err == nil:
		v, convErr := strconv.Atoi(have)
		if convErr != nil || v < 1 {
			return 0, fmt.Errorf("%w: unreadable schema version %q", ErrUnusable, have)
		}
		return v, nil
	case errors.Is(err, sql.ErrNoRows) || isMissingTable(err):
	default:
		return 0, err
	}
	var tables int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()`).Scan(&tables); err != nil {
		return 0, err
	}
	if tables > 0 {
		return 0, fmt.Errorf("%w: a DuckDB database with %d tables but no coupler schema version; not a coupler state file", ErrUnusable, tables)
	}
	return 0, nil
}

// BlockSize is the block size of the DuckDB files coupler creates (the
// state, its backups). DuckDB's default, 256 KiB, suits analytics over
// large tables; a state is written in many small transactions (a plan's
// rows, an apply's batches), every commit that appends to a table starts
// and zeroes a block per column, and every checkpoint writes a changed
// table's columns to new blocks. At 256 KiB a plan that changed nothing
// grew the file by 3 MiB, and the zeroing was 7 to 14% of the CPU of small
// plans and applies. At 64 KiB the same plan grows it by 0.9 MiB and the
// crash test takes 79 CPU-seconds instead of 87 to 96, while the 100k
// cases of the benchmark keep their times; 16 KiB grew it by 0.5 MiB but
// made the 100k first sync a fifth slower (docs/performance.md). A file
// keeps the block size it was created with ("ATTACH ... (BLOCK_SIZE
// 16_384)", DuckDB's ATTACH page); a backup is made with this one.
const BlockSize = 64 << 10

// create makes an empty state file at path with BlockSize blocks, unless
// a file with content is there already. An empty file holds nothing and
// is made anew: DuckDB opens one as a new database, but refuses to attach
// it.
func create(ctx context.Context, path string) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.Size() > 0:
		return nil
	case err == nil:
		if err := os.Remove(path); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.ExecContext(ctx, `ATTACH `+sqlString(path)+` AS coupler_new (BLOCK_SIZE `+strconv.Itoa(BlockSize)+`)`); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := db.ExecContext(ctx, `DETACH coupler_new`); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	return nil
}

// checkFile refuses a file that exists but is not a DuckDB database before
// DuckDB opens it, with a message that says what to do.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	// A DuckDB file starts with a checksum, then the magic "DUCK" at byte 8.
	var head [12]byte
	n, err := io.ReadFull(f, head[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return nil // empty: DuckDB makes a database of it
	}
	if n < len(head) || string(head[8:12]) != "DUCK" {
		return fmt.Errorf("%w: not a DuckDB database file (corrupt, truncated or another kind of file); it was left untouched: restore a backup (see coupler state backup) or move it away to start afresh", ErrUnusable)
	}
	return nil
}

// OutOfMemory reports whether err is DuckDB's refusal to take more memory
// than its memory_limit (Options.MemoryLimit) for what it cannot spill.
func OutOfMemory(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeOutOfMemory
}

func isMissingTable(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeCatalog
}

// Query runs a read-only SQL statement on a state database file opened read
// only, so that nothing a query does can change the state; fn gets the
// result's column names and then each row.
//
// The statement reaches nothing but that database: DuckDB's SQL can read
// and write any file (read_csv, COPY … TO, ATTACH) and load extensions,
// so external access is off from the open on and the configuration
// locked, which no statement can undo ("Securing DuckDB": "SET
// enable_external_access = false", "SET lock_configuration = true").
func Query(ctx context.Context, path, query string, fn func(cols []string, row []any) error) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("state database %s: %w", path, err)
	}
	dsn := path + "?access_mode=read_only&enable_external_access=false&lock_configuration=true"
	threads, err := threadsFromEnv()
	if err != nil {
		return fmt.Errorf("state database %s: %w", path, err)
	}
	if threads > 0 {
		dsn += "&threads=" + strconv.Itoa(threads)
	}
	c, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return fmt.Errorf("open state database %s read-only: %w", path, err)
	}
	defer c.Close()
	db := sql.OpenDB(c)
	defer db.Close()
	// One connection: the journal's intents are shown on it alone.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open state database %s read-only: %w", path, err)
	}
	defer conn.Close()
	if err := showJournal(ctx, conn, path); err != nil {
		return fmt.Errorf("state database %s: %w", path, err)
	}
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return explainRefusal(err)
	}
	return scanRows(rows, fn)
}

// beginShowingPending begins a read-only transaction on conn in which
// write_intents also shows the intents held pending in memory, those of
// the writes in flight (showIntents). The journal's lock is held until the
// transaction has its snapshot, so that no checkpoint moves them into the
// table, nor any result settles them, in between; it waits only for the
// journal's lock, not for a checkpoint.
func (d *DB) beginShowingPending(ctx context.Context, conn *sql.Conn) error {
	j := d.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION READ ONLY"); err != nil {
		return err
	}
	if len(j.pending) == 0 {
		return nil
	}
	if err := showIntents(ctx, conn, j.pendingLocked(), nil); err != nil {
		rollbackOrDiscard(ctx, conn)
		return err
	}
	return nil
}

// rollbackOrDiscard ends the transaction on conn, and with it the view of
// write_intents a read made on it (showIntents). Should the rollback fail,
// the connection is discarded rather than pooled: the view would hide the
// table from coupler's own statements.
func rollbackOrDiscard(ctx context.Context, conn *sql.Conn) {
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// Query runs a person's read-only SQL statement on the open database, with
// Query's guarantees although the database stays open for writing: it
// must be sealed (Options.Sealed: no other file, extension or setting is
// reachable), and the statement runs alone in a read-only transaction,
// which DuckDB refuses any write in. Since a string of several statements
// could end that transaction and go on, only one is taken, and only a
// statement that reads (SELECT and what DuckDB turns into one: FROM,
// DESCRIBE, SHOW, SUMMARIZE, PRAGMA table_info; EXPLAIN). It reads the
// database as the last commit left it, without waiting for the writes
// under way.
func (d *DB) Query(ctx context.Context, query string, fn func(cols []string, row []any) error) error {
	if !d.sealed {
		return errors.New("state database is not sealed: it cannot run a person's SQL while open for writing")
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Raw(func(dc any) error { return checkReadStatement(dc, query) }); err != nil {
		return err
	}
	if err := d.beginShowingPending(ctx, conn); err != nil {
		return err
	}
	// A connection goes back to the pool: the transaction must end however
	// the query does, and the view of write_intents with it.
	defer rollbackOrDiscard(ctx, conn)
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return explainRefusal(err)
	}
	return scanRows(rows, fn)
}

// checkReadStatement refuses a query that is not one reading statement.
// duckdb.Conn's Prepare (unlike PrepareContext, which runs every statement
// but the last) refuses several statements without running any.
func checkReadStatement(dc any, query string) error {
	conn, ok := dc.(*duckdb.Conn)
	if !ok {
		return fmt.Errorf("unexpected driver connection %T", dc)
	}
	st, err := conn.Prepare(query)
	if err != nil {
		if strings.Contains(err.Error(), "multi-statement") {
			return errors.New("coupler query through coupler serve runs one statement at a time")
		}
		return explainRefusal(err)
	}
	defer st.Close()
	stmt, ok := st.(*duckdb.Stmt)
	if !ok {
		return fmt.Errorf("unexpected driver statement %T", st)
	}
	typ, err := stmt.StatementType()
	if err != nil {
		return err
	}
	if typ != duckdb.STATEMENT_TYPE_SELECT && typ != duckdb.STATEMENT_TYPE_EXPLAIN {
		return errors.New("coupler query through coupler serve runs statements that read only (SELECT, FROM, DESCRIBE, SHOW, SUMMARIZE, PRAGMA table_info, EXPLAIN)")
	}
	return nil
}

// scanRows calls fn with the columns of rows, then with each row, and
// closes rows.
func scanRows(rows *sql.Rows, fn func(cols []string, row []any) error) error {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	if err := fn(cols, nil); err != nil {
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// explainRefusal says why DuckDB refused a statement that reached beyond
// the state database; other errors are returned as they are.
func explainRefusal(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "disabled by configuration") || strings.Contains(msg, "configuration has been locked") {
		return fmt.Errorf("coupler query reads the state database only: no files, extensions or settings: %w", err)
	}
	return err
}

// Path returns the file the database lives in.
func (d *DB) Path() string { return d.path }

// Close closes the database.
func (d *DB) Close() error {
	var err error
	if d.journal != nil {
		// An apply that stopped with writes in flight: their intents go
		// into the file, for whatever opens it next.
		err = d.flushPending(context.Background())
	}
	if cerr := d.db.Close(); err == nil {
		err = cerr
	}
	if d.journal != nil {
		if jerr := d.journal.close(); err == nil {
			err = jerr
		}
	}
	if cerr := d.connector.Close(); err == nil {
		err = cerr
	}
	return err
}
