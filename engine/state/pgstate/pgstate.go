// Package pgstate keeps coupler's state in PostgreSQL, so that several
// coupler processes, on several machines, share one state (issue 17). It
// implements state.Store over the same layout as the DuckDB state, and
// passes statetest's checks. Staging and the diff stay in DuckDB, on the
// worker that plans, which copies each part's diff in with SaveDiff.
package pgstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/couplerhq/coupler/engine/state"
)

// DB is an open PostgreSQL state.
type DB struct {
	pool   *pgxpool.Pool
	schema string
	where  string // the database and schema, without credentials, for messages
	// redactFn scrubs failure messages before they are stored
	// (Options.Redact).
	redactFn func(string) string
	// pending are the diffs SaveDiff keeps for SavePlan, by plan id.
	pendingMu sync.Mutex
	pending   map[string][]state.PartDiff
	// lockConn is the connection whose session holds the write lock
	// (LockWrites), for CheckWriteLock; nil when none is held.
	lockMu   sync.Mutex
	lockConn *pgxpool.Conn
}

// Options tunes how the state is opened.
type Options struct {
	// Schema is the PostgreSQL schema the state's tables live in, made if
	// missing; empty means "public". Several projects can share one
	// database, a schema each.
	Schema string
	// Redact, when set, scrubs each failure message before it is stored,
	// as state.Options.Redact does for the DuckDB state: a server's error
	// may echo the credentials it was sent.
	Redact func(string) string
}

// Open connects to the PostgreSQL database at url (postgres://… or a
// key=value connection string) and brings its state schema to
// SchemaVersion. A schema written by a newer coupler, or holding tables
// that are not a coupler state, is refused (state.ErrUnusable) and left as
// it was. Processes opening one state at once migrate it one at a time.
func Open(ctx context.Context, connString string, opts Options) (*DB, error) {
	schema := opts.Schema
	if schema == "" {
		schema = "public"
	}
	where := describe(connString, schema)
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's message may quote the string, password and all.
		return nil, fmt.Errorf("state database %s: unreadable connection string", where)
	}
	// Every statement names its tables unqualified: the schema is the
	// connection's search path, so one layout serves every project.
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", where, err)
	}
	d := &DB{pool: pool, schema: schema, where: where, redactFn: opts.Redact}
	if err := d.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("state database %s: %w", where, err)
	}
	return d, nil
}

// describe names a state database for messages, leaving its password out.
func describe(connString, schema string) string {
	u, err := url.Parse(connString)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "(PostgreSQL, schema " + schema + ")"
	}
	return u.Redacted() + " (schema " + schema + ")"
}

// Path names the state database for messages: its URL without the
// password, and the schema.
func (d *DB) Path() string { return d.where }

// Close closes the connections.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// migrateLock is the key of the advisory lock that migrations take, with
// the schema's name, so that processes starting together migrate a
// schema one after the other.
const migrateLock = "coupler state migration"

// migrate creates the schema, refuses a state it cannot use, and applies
// the migrations it lacks, all in one transaction: DDL is transactional
// in PostgreSQL, so an interrupted migration leaves the old version.
func (d *DB) migrate(ctx context.Context) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`, migrateLock, d.schema); err != nil {
		return fmt.Errorf("wait for other processes' migrations: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{d.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", d.schema, err)
	}
	have, err := version(ctx, tx, d.schema)
	if err != nil {
		return err
	}
	if have > SchemaVersion {
		return fmt.Errorf("%w: written by a newer coupler (schema version %d, this one reads up to %d); upgrade coupler", state.ErrUnusable, have, SchemaVersion)
	}
	for _, m := range migrations {
		if m.Version <= have {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", m.Version, err)
		}
	}
	if have != SchemaVersion {
		if _, err := tx.Exec(ctx, `INSERT INTO meta VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			strconv.Itoa(SchemaVersion)); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// version returns the schema version of the state in schema: 0 for a
// schema without tables. A schema that has tables but no coupler version
// is refused, so that pointing state: at some other database cannot change
// it.
func version(ctx context.Context, tx pgx.Tx, schema string) (int, error) {
	var tables []string
	rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, schema)
	if err != nil {
		return 0, err
	}
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	if len(tables) == 0 {
		return 0, nil
	}
	var have string
	err = tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&have)
	switch {
	case err == nil:
	case errors.Is(err, pgx.ErrNoRows) || isUndefinedTable(err):
		return 0, fmt.Errorf("%w: schema %s holds %d tables (%s) but no coupler schema version; not a coupler state", state.ErrUnusable, schema, len(tables), tables[0])
	default:
		return 0, err
	}
	v, err := strconv.Atoi(have)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%w: unreadable schema version %q", state.ErrUnusable, have)
	}
	return v, nil
}

// isUndefinedTable reports PostgreSQL's undefined_table error (42P01).
func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// ExplainError implements state.ErrorExplainer: a failure to connect, or
// a connection the server or the network dropped, is the database being
// out of reach (state.ErrUnavailable), which the message names, password
// left out. What PostgreSQL answered (a *pgconn.PgError) is not, and
// neither is what came of a web service (the *url.Error of an HTTP
// request, the connectors' errors) or of the caller's deadline: errors
// from the whole plan or apply pass through here, and a plan whose ERP is
// down must not send a person to look at PostgreSQL.
func (d *DB) ExplainError(err error) error {
	if err == nil || errors.Is(err, state.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return err
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || errors.Is(err, pgconn.ErrConnClosed) {
		return fmt.Errorf("%w (%s): %w", state.ErrUnavailable, d.where, err)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w (%s): %w", state.ErrUnavailable, d.where, err)
	}
	return err
}
