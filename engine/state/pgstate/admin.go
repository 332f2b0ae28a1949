package pgstate

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/couplerhq/coupler/engine/state"
)

// writeLock is the key of the advisory lock LockWrites takes, with the
// schema's name: one apply at a time per project, across every process
// sharing the database.
const writeLock = "coupler writes"

// lockWait bounds how long LockWrites waits for a connection; it never
// waits for the lock itself.
const lockWait = 30 * time.Second

// LockWrites claims the right to write to the systems for one apply, with
// a session advisory lock on a connection held until unlock: applies in
// this process and in every other process on this state's schema
// exclude each other. It fails at once when another holds it. A process
// that dies loses its connection, and PostgreSQL releases its lock then,
// so a dead worker never blocks the others; so does a connection the
// database drops, which the apply holding it cannot notice until its next
// statement.
func (d *DB) LockWrites() (unlock func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
	defer cancel()
	return d.lockWrites(ctx, ctx, false)
}

// LockWritesWait is LockWrites that waits for the lock, until ctx ends,
// instead of failing when another apply holds it (state.WriteLockWaiter):
// for the workers of coupler serve, each applying its own mapping.
func (d *DB) LockWritesWait(ctx context.Context) (unlock func(), err error) {
	connCtx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	return d.lockWrites(connCtx, ctx, true)
}

// lockWrites takes the write lock on a connection got within connCtx,
// waiting for it within lockCtx when wait is set.
func (d *DB) lockWrites(connCtx, lockCtx context.Context, wait bool) (unlock func(), err error) {
	conn, err := d.pool.Acquire(connCtx)
	if err != nil {
		return nil, fmt.Errorf("lock writes on state database %s: %w", d.where, err)
	}
	got := true
	if wait {
		// pgx cancels the statement on the server when lockCtx ends.
		_, err = conn.Exec(lockCtx, `SELECT pg_advisory_lock(hashtext($1), hashtext($2))`, writeLock, d.schema)
	} else {
		err = conn.QueryRow(lockCtx, `SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))`, writeLock, d.schema).Scan(&got)
	}
	if err != nil {
		// A cancelled wait may leave the session in any state: close it.
		conn.Conn().Close(context.WithoutCancel(lockCtx))
		conn.Release()
		return nil, fmt.Errorf("lock writes on state database %s: %w", d.where, err)
	}
	if !got {
		conn.Release()
		return nil, errors.New("another apply is running on this state database (in this process or another one sharing it); wait for it to finish")
	}
	d.lockMu.Lock()
	d.lockConn = conn
	d.lockMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.lockMu.Lock()
			if d.lockConn == conn {
				d.lockConn = nil
			}
			d.lockMu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), lockWait)
			defer cancel()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext($1), hashtext($2))`, writeLock, d.schema); err != nil {
				// Ending the session releases the lock as surely.
				conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, nil
}

// CheckWriteLock implements state.WriteLockChecker: the session that took
// the write lock still answers, and so still holds it (a session lock
// lasts until it is released or the session ends). It fails when this
// DB holds no write lock.
func (d *DB) CheckWriteLock(ctx context.Context) error {
	d.lockMu.Lock()
	defer d.lockMu.Unlock()
	if d.lockConn == nil {
		return fmt.Errorf("%w (%s): this process holds no write lock", state.ErrUnavailable, d.where)
	}
	// A stopped apply has not lost its lock, and a query pgx abandons on
	// cancellation closes its session, which would lose it: say it was
	// stopped, and let only the lock's own timeout interrupt the check.
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockWait)
	defer cancel()
	if _, err := d.lockConn.Exec(ctx, `SELECT 1`); err != nil {
		return fmt.Errorf("%w (%s): the write lock went with the session that held it, and another process may be applying now: %w", state.ErrUnavailable, d.where, err)
	}
	return nil
}

// Query runs one read-only SQL statement of a person's, such as coupler
// query, in a READ ONLY transaction, which PostgreSQL refuses any write
// in (tables, sequences, DDL). The statement is prepared, and a prepared
// statement is one statement: a string of several is refused before any
// runs. Its connection is closed afterwards rather than reused, so that
// nothing the statement left on its session (a setting, an advisory
// lock) outlives it. fn gets the column names, then each row.
//
// It reads what the connection's role may read: give coupler a role of
// its own, with rights on the state's schema only, when several projects
// share a database.
func (d *DB) Query(ctx context.Context, query string, fn func(cols []string, row []any) error) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
	}()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, query, pgx.QueryExecModeDescribeExec)
	if err != nil {
		return explainRefusal(err)
	}
	defer rows.Close()
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	if err := fn(cols, nil); err != nil {
		return err
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		for i, v := range vals {
			// Numbers, intervals and the like come as pgtype values;
			// their driver value is what a person reads.
			if dv, ok := v.(driver.Valuer); ok {
				if vals[i], err = dv.Value(); err != nil {
					return err
				}
			}
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return explainRefusal(err)
	}
	return nil
}

// explainRefusal says why PostgreSQL refused a person's statement in
// coupler's words, keeping the server's message.
func explainRefusal(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == "25006": // read_only_sql_transaction
		return fmt.Errorf("coupler query only reads the state: %w", err)
	case pe.Code == "42601" && strings.Contains(pe.Message, "multiple commands"):
		return fmt.Errorf("coupler query runs one statement at a time: %w", err)
	}
	return err
}

// Backup is not what a PostgreSQL state is backed up with: its database
// server's own tools are.
func (d *DB) Backup(ctx context.Context, path string) error {
	return fmt.Errorf("backup %s: not supported for PostgreSQL state; use pg_dump --schema %s on the database (%s)",
		path, pgx.Identifier{d.schema}.Sanitize(), d.where)
}

var (
	_ state.Store       = (*DB)(nil)
	_ state.Couplings   = (*DB)(nil)
	_ state.Watermarks  = (*DB)(nil)
	_ state.Definitions = (*DB)(nil)
	_ state.Plans       = (*DB)(nil)
	_ state.Runs        = (*DB)(nil)
	_ state.Intents     = (*DB)(nil)
	_ state.Admin       = (*DB)(nil)
	// A worker plans in a DuckDB workspace of its own (state.PartDiff).
	_ state.MappingRows = (*DB)(nil)
	_ state.DiffSaver   = (*DB)(nil)
)
