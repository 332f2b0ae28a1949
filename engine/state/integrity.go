package state

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// DuckDB writes a transaction to the write-ahead log (the file beside the
// state file, named like it with ".wal" appended) when it commits, and into
// the checksummed main file only when it checkpoints. Replaying a log that
// ends in an incomplete entry, DuckDB keeps the complete part and drops the
// rest without a word: that is what a crash in the middle of a commit
// leaves, but a log cut short by damage looks the same, and what it lost
// was committed. So what an apply's writes depend on is checkpointed
// before anything is sent (durable): a plan's status, a run's start and
// end; and a batch's intents, and intents dropped, are appended to the
// intents journal beside the file (journal.go), fsynced, which puts back
// at the next open whatever intents a damaged log lost. Whatever a damaged
// log can then lose was committed after the last checkpoint, and is either
// what a crash before that commit would have lost or results of a run,
// whose intents the journal holds, settled again by reading back: what the
// write intents already make good (docs/reliability.md). A checkpoint cost
// about as much as rewriting the couplings' indexes (until schema version
// 12 dropped them), so batches are not checkpointed, only journalled.

// durable checkpoints the database, so that what was committed lives in the
// checksummed main file rather than only in the write-ahead log.
//
// A read under way on another connection (coupler serve's pages and read
// API read while a run writes) can make DuckDB refuse the checkpoint, as
// if another write were active; FORCE CHECKPOINT then waits for it to end.
// It waits rather than aborts since DuckDB v1.4 (the CHECKPOINT statement's
// page: "From v1.4, it waits until it can grab the checkpoint lock"; before,
// it aborted running transactions): keep that in mind when moving DuckDB.
func (d *DB) durable(ctx context.Context) error {
	if j := d.journal; j != nil {
		// Held across the checkpoint: an entry appended meanwhile, its
		// commit perhaps after the checkpoint began, must not be emptied.
		j.mu.Lock()
		defer j.mu.Unlock()
		// The intents in the journal alone go into the database, to be
		// checkpointed with it. Forgotten here once committed: held
		// pending as well, a failed checkpoint would let the next one
		// write them twice.
		if intents := j.pendingLocked(); len(intents) > 0 {
			// Not cancelled half way: a commit that takes effect as its
			// context is cancelled would report a failure, leave them
			// pending here too, and have them written twice.
			err := d.connTx(context.WithoutCancel(ctx), func(c *sql.Conn) error { return insertIntents(c, intents) })
			if err != nil {
				return fmt.Errorf("checkpoint the state database %s: write intents: %w", d.path, err)
			}
			clear(j.pending)
		}
	}
	_, err := d.db.ExecContext(ctx, `CHECKPOINT`)
	if err != nil && strings.Contains(err.Error(), "other write transactions active") {
		_, err = d.db.ExecContext(ctx, `FORCE CHECKPOINT`)
	}
	if err != nil {
		return fmt.Errorf("checkpoint the state database %s: %w", d.path, err)
	}
	if d.journal != nil {
		return d.journal.emptyLocked()
	}
	return nil
}

// flushPending writes the intents held pending into the database, by a
// checkpoint, when there are any: for what reads write_intents.
func (d *DB) flushPending(ctx context.Context) error {
	if !d.journal.hasPending() {
		return nil
	}
	return d.durable(ctx)
}

// restoreHint says what to do with a state file that is refused as damaged.
const restoreHint = "restore the latest backup over it (see coupler state backup; docs/operations.md), or move it away to start afresh"

// checkIntegrity refuses a state file whose write-ahead log or data blocks
// are damaged, before the file is opened for writing: DuckDB would replay
// the log into the file and delete it, and would notice a damaged data
// block only when a plan reads it, half way through writing. When there
// is a log, the file is opened read-only (DuckDB then replays the log in
// memory, verifying each entry's checksum, and writes nothing) and every
// table is read in full, which verifies the checksum of every data block.
// When there is none, opening for writing writes nothing either, so the
// tables are left for the caller to read on its own connection
// (inPlace), sparing every open a second DuckDB instance. A log that
// ends in an incomplete entry is reported in torn (empty when it is
// whole); see durable for why it is not refused. threads caps DuckDB's
// worker threads for the check (Options.Threads); 0 keeps DuckDB's
// default.
func checkIntegrity(ctx context.Context, path string, threads int) (torn string, inPlace bool, err error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && st.Size() == 0 {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	wal := path + ".wal"
	if st, err := os.Stat(wal); errors.Is(err, fs.ErrNotExist) || err == nil && st.Size() == 0 {
		return "", true, nil
	}
	torn, err = walTail(wal)
	if err != nil {
		return "", false, err
	}
	dsn := path + "?access_mode=read_only"
	if threads > 0 {
		dsn += "&threads=" + strconv.Itoa(threads)
	}
	c, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		if isLockError(err) {
			return "", false, err
		}
		return "", false, unreadable(ctx, wal, err)
	}
	defer c.Close()
	db := sql.OpenDB(c)
	defer db.Close()
	if err := readTables(ctx, db, wal); err != nil {
		return "", false, err
	}
	return torn, false, nil
}

// readTables reads every table of the database in full, which verifies
// the checksum of every data block, and says which one is damaged.
func readTables(ctx context.Context, db *sql.DB, wal string) error {
	tables, err := stateTables(ctx, db)
	if err != nil {
		return unreadable(ctx, wal, err)
	}
	for _, t := range tables {
		// hash of the whole row reads every column of every row, so every
		// block's checksum is verified; count(*) alone would be answered
		// from the metadata.
		var h any
		q := `SELECT bit_xor(hash(t)) FROM ` + quoteIdent(t.schema) + `.` + quoteIdent(t.name) + ` t`
		if err := db.QueryRowContext(ctx, q).Scan(&h); err != nil {
			return unreadable(ctx, wal, fmt.Errorf("table %s: %w", t.name, err))
		}
	}
	return nil
}

type table struct{ schema, name string }

func stateTables(ctx context.Context, db *sql.DB) ([]table, error) {
	rows, err := db.QueryContext(ctx, `SELECT schema_name, table_name FROM duckdb_tables()
		WHERE database_name = current_database() AND NOT temporary ORDER BY schema_name, table_name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.schema, &t.name); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// unreadable is the error of a state file DuckDB cannot read back whole.
func unreadable(ctx context.Context, wal string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err() // stopped while reading: says nothing about the file
	}
	switch msg := err.Error(); {
	case strings.Contains(msg, "WAL"):
		return fmt.Errorf("%w: its write-ahead log %s is damaged (%v); both files were left untouched: %s. Moving only the log away keeps what the state file held at its last checkpoint, which is everything applied before the run under way; keep the intents journal beside it (%s%s), which puts back that run's writes to be settled by reading back",
			ErrUnusable, wal, err, restoreHint, strings.TrimSuffix(filepath.Base(wal), ".wal"), journalSuffix)
	case strings.Contains(msg, "Corrupt") || strings.Contains(msg, "checksum"):
		return fmt.Errorf("%w: damaged (%v); it was left untouched: %s", ErrUnusable, err, restoreHint)
	default:
		return fmt.Errorf("%w: DuckDB cannot read it (%v); it was left untouched: %s", ErrUnusable, err, restoreHint)
	}
}

// isLockError reports whether DuckDB could not open a file because another
// process holds it: not damage.
func isLockError(err error) bool {
	return strings.Contains(err.Error(), "Could not set lock") || strings.Contains(err.Error(), "Conflicting lock")
}

// walTail reads the framing of a DuckDB write-ahead log: a version header,
// then entries of an 8-byte size, an 8-byte checksum and size bytes. It
// returns a description of where the log stops being whole, or "" when it
// ends with a complete entry (or does not exist, or is of a layout this
// reader does not know, which DuckDB's own checks then judge).
func walTail(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("write-ahead log %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("write-ahead log %s: %w", path, err)
	}
	if len(data) == 0 {
		return "", nil
	}
	off, ok := walHeader(data)
	if !ok {
		if len(data) < 8 {
			return fmt.Sprintf("it ends after %d bytes, inside its header", len(data)), nil
		}
		return "", nil
	}
	for off < len(data) {
		if len(data)-off < 16 {
			return fmt.Sprintf("its entry at byte %d of %d is incomplete", off, len(data)), nil
		}
		size := binary.LittleEndian.Uint64(data[off:])
		if size > uint64(len(data)-off-16) {
			return fmt.Sprintf("its entry at byte %d claims %d bytes, %d are left", off, size, len(data)-off-16), nil
		}
		off += 16 + int(size)
	}
	return "", nil
}

// walHeader parses the version header DuckDB writes first in a log (a
// serialized object: field 100, the entry type WAL_VERSION, field 101, the
// version, then the end marker 0xffff) and returns the offset of the first
// entry. ok is false for a layout this reader does not know.
func walHeader(data []byte) (int, bool) {
	const walVersion = 98
	off := 0
	field := func(id uint16) (uint64, bool) {
		if len(data)-off < 3 || binary.LittleEndian.Uint16(data[off:]) != id {
			return 0, false
		}
		off += 2
		v, n := binary.Uvarint(data[off:])
		if n <= 0 {
			return 0, false
		}
		off += n
		return v, true
	}
	if typ, ok := field(100); !ok || typ != walVersion {
		return 0, false
	}
	if _, ok := field(101); !ok {
		return 0, false
	}
	if len(data)-off < 2 || binary.LittleEndian.Uint16(data[off:]) != 0xffff {
		return 0, false
	}
	return off + 2, true
}

// keepTornWAL copies a log that ends in an incomplete entry beside it,
// before DuckDB replays its complete part and deletes it, so that what it
// held can still be looked at. It returns the copy's name.
func keepTornWAL(path string, now time.Time) (string, error) {
	wal := path + ".wal"
	data, err := os.ReadFile(wal)
	if err != nil {
		return "", err
	}
	kept := wal + ".torn-" + now.UTC().Format("20060102-150405")
	if err := os.WriteFile(kept, data, 0o600); err != nil {
		return "", err
	}
	return kept, nil
}
