package state

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// coupler state migrate copies a whole state from one store to another:
// from the embedded DuckDB file into PostgreSQL when a user outgrows one
// process, and back. The stores share one layout, table for table and
// column for column (pgstate's tables, at its versions 1 and 2, are
// DuckDB's of version 8; DuckDB's version 9 made plan_changes a view over
// two tables, and version 14 over three, which duckTables writes through,
// a row a change), so the copy is generic:
// Tables says what there is, a store that can be copied from implements
// BulkExporter, one that can be copied into BulkImporter.
// These are opt-in, as database/sql/driver's optional interfaces are,
// rather than part of Store: the engine never needs them.

// Table is a table of the state with every column it has.
type Table struct {
	Name    string
	Columns []string
}

// Tables are every table of the state but meta (each store's own schema
// version), with every column, in the order Copy copies them. A table or
// column added to the layout must be added here: TestTablesCoverLayout
// (for DuckDB) and its pgstate twin fail until it is.
var Tables = []Table{
	{"couplings", []string{"mapping", "table_id", "integration_id", "coupled_at", "last_synced_at", "last_result",
		"table_modified", "integration_modified", "table_etag", "integration_etag"}},
	{"watermarks", []string{"mapping", "side", "value", "updated_at"}},
	{"change_tokens", []string{"mapping", "side", "token", "updated_at"}},
	{"mapping_definitions", []string{"mapping", "direction", "fingerprint", "updated_at"}},
	{"first_sync_acks", []string{"mapping", "acknowledged_at"}},
	{"uncoupled", []string{"mapping", "source_side", "source_id", "source_modified", "source_etag", "uncoupled_at"}},
	{"assigned_values", []string{"mapping", "side", "record_id", "field", "other_field", "assigned_at"}},
	{"plans", []string{"id", "created_at", "full_read", "fingerprint", "status", "applied_at", "name"}},
	{"plan_mappings", []string{"plan_id", "position", "mapping", "direction", "source_side", "source_connector",
		"source_entity", "source_key", "source_modified", "dest_side", "dest_connector", "dest_entity", "dest_key",
		"dest_modified", "base_watermark", "since", "read_started", "new_watermark", "records_read", "not_modified",
		"record", "dest_read", "coupled", "warnings", "needs_approval"}},
	{"plan_fields", []string{"plan_id", "mapping", "direction", "position", "field", "bind_set"}},
	{"plan_parts", []string{"plan_id", "mapping", "direction", "fingerprint", "changed", "creates_into_existing"}},
	{"plan_change_tokens", []string{"plan_id", "mapping", "direction", "mode", "base_token", "new_token", "removed"}},
	{"plan_approvals", []string{"plan_id", "approved_by", "approved_at"}},
	{"plan_operations", []string{"plan_id", "mapping", "direction", "seq", "op", "source_id", "dest_id", "etag",
		"source_etag", "source_modified", "dest_modified", "reason", "source_display", "dest_display"}},
	{"plan_changes", []string{"plan_id", "mapping", "direction", "seq", "field", "before", "after"}},
	{"plan_unchanged", []string{"plan_id", "mapping", "direction", "records"}},
	{"plan_unchanged_marks", []string{"plan_id", "mapping", "direction", "source_id", "dest_id", "source_modified", "source_etag"}},
	{"runs", []string{"id", "plan_id", "mapping", "direction", "started_at", "finished_at", "inserted", "modified",
		"unchanged", "skipped", "failed", "coupled", "deleted", "uncoupled"}},
	{"run_records", []string{"run_id", "seq", "source_id", "dest_id", "op", "result", "message", "recorded_at"}},
	{"record_failures", []string{"mapping", "direction", "source_id", "message", "failures", "skipped", "source_modified", "last_run"}},
	{"write_intents", []string{"run_id", "plan_id", "mapping", "direction", "seq", "op", "source_id", "dest_id",
		"client_key", "fields", "source_modified", "source_etag", "created_at"}},
}

// SelectSQL is the statement that reads every row of t, columns quoted:
// some (record, position, value) are keywords in one dialect or another.
func (t Table) SelectSQL() string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c)
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(t.Name)
}

// BulkExporter is implemented by a Store that can be copied from.
type BulkExporter interface {
	// ExportTables calls fn with a reader of one consistent snapshot of
	// the whole state, which no write made meanwhile changes.
	ExportTables(ctx context.Context, fn func(TableReader) error) error
}

// BulkImporter is implemented by a Store that can be copied into.
type BulkImporter interface {
	// ImportTables calls fn with a writer inside one transaction, which
	// is committed when fn returns nil and rolled back otherwise, so that
	// a copy that fails leaves nothing behind.
	ImportTables(ctx context.Context, fn func(TableWriter) error) error
}

// TableReader reads a state's tables whole.
type TableReader interface {
	// Count returns how many rows t holds.
	Count(ctx context.Context, t Table) (int64, error)
	// EachRow calls fn with each row of t, in no order, its values in
	// t.Columns' order: string, int64 or int32, bool, time.Time in UTC,
	// or nil for NULL. fn may keep the row.
	EachRow(ctx context.Context, t Table, fn func(row []any) error) error
	// LastRunID returns the greatest run id the state has handed out,
	// 0 when none: StartRun's next id must be greater than every one
	// before it.
	LastRunID(ctx context.Context) (int64, error)
}

// TableWriter writes a state's tables whole, and reads back what it
// wrote, in the transaction of ImportTables.
type TableWriter interface {
	TableReader
	// WriteRows appends rows, as EachRow gives them, to t.
	WriteRows(ctx context.Context, t Table, rows [][]any) error
	// Clear deletes every row of t.
	Clear(ctx context.Context, t Table) error
	// SetLastRunID makes the next run id id+1.
	SetLastRunID(ctx context.Context, id int64) error
}

// Errors of Copy, wrapped with the details.
var (
	// ErrNotEmpty: the destination holds a state already.
	ErrNotEmpty = errors.New("the destination holds a state already")
	// ErrIntentsPending: the source has writes in flight to settle.
	ErrIntentsPending = errors.New("the source has write intents pending")
	// ErrCopyMismatch: what the destination holds after the copy is not
	// what the source holds.
	ErrCopyMismatch = errors.New("the copy differs from the source")
)

// CopyOptions tunes Copy.
type CopyOptions struct {
	// Force replaces a destination that holds a state already; without it
	// Copy refuses one (ErrNotEmpty).
	Force bool
	// Progress, when set, is called as each table's rows are copied and
	// verified.
	Progress func(CopyProgress)
	// Batch is how many rows are written at a time; 0 is 10,000.
	Batch int
}

// CopyProgress is how far a copy is.
type CopyProgress struct {
	// Table is the table being copied or verified.
	Table string
	// Done of Total rows of Table are copied, or read back when
	// Verifying.
	Done, Total int64
	Verifying   bool
}

// TableCopy is what Copy copied of one table.
type TableCopy struct {
	Table string
	// Rows is how many rows the source holds, and the destination after
	// the copy.
	Rows int64
	// Checksum is an order-independent digest of every row's every
	// column, computed alike on both sides (Checksum).
	Checksum string
}

// CopyReport is what Copy copied.
type CopyReport struct {
	Tables []TableCopy
	// LastRunID is the last run id of the source, after which the
	// destination's run ids go on.
	LastRunID int64
	// Replaced lists the tables of the destination that held rows, which
	// Force replaced, with how many.
	Replaced []TableCopy
}

// Table returns what was copied of the table named name.
func (r *CopyReport) Table(name string) TableCopy {
	for _, t := range r.Tables {
		if t.Table == name {
			return t
		}
	}
	return TableCopy{Table: name}
}

// Copy copies every table of the state from one store into another, in
// one transaction of the destination, and verifies the copy before it
// commits: each table's row count, and a checksum of every row read back
// from the destination against the rows read from the source. It refuses
// a source with write intents pending (their outcome is for the source's
// next plan or apply to find out: copied, two states would settle them)
// and a destination that holds anything unless opts.Force. On any error,
// the destination is left as it was.
func Copy(ctx context.Context, from BulkExporter, to BulkImporter, opts CopyOptions) (*CopyReport, error) {
	if opts.Batch <= 0 {
		opts.Batch = 10_000
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(CopyProgress) {}
	}
	report := &CopyReport{}
	err := from.ExportTables(ctx, func(src TableReader) error {
		totals := make([]int64, len(Tables))
		for i, t := range Tables {
			n, err := src.Count(ctx, t)
			if err != nil {
				return fmt.Errorf("source, table %s: %w", t.Name, err)
			}
			totals[i] = n
			if t.Name == "write_intents" && n > 0 {
				return fmt.Errorf("%w: %d write(s) left in flight by a coupler that stopped mid-apply", ErrIntentsPending, n)
			}
		}
		last, err := src.LastRunID(ctx)
		if err != nil {
			return fmt.Errorf("source, run ids: %w", err)
		}
		report.LastRunID = last
		return to.ImportTables(ctx, func(dst TableWriter) error {
			if err := clearDestination(ctx, dst, opts.Force, report); err != nil {
				return err
			}
			for i, t := range Tables {
				c, err := copyTable(ctx, src, dst, t, totals[i], opts, progress)
				if err != nil {
					return err
				}
				report.Tables = append(report.Tables, c)
			}
			if err := dst.SetLastRunID(ctx, last); err != nil {
				return fmt.Errorf("destination, run ids: %w", err)
			}
			got, err := dst.LastRunID(ctx)
			if err != nil {
				return fmt.Errorf("destination, run ids: %w", err)
			}
			if got != last {
				return fmt.Errorf("%w: run ids: the destination's last run id is %d, the source's %d", ErrCopyMismatch, got, last)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return report, nil
}

// clearDestination refuses a destination holding rows, or empties it when
// force is set, noting what it held in report.
func clearDestination(ctx context.Context, dst TableWriter, force bool, report *CopyReport) error {
	var held []string
	for _, t := range Tables {
		n, err := dst.Count(ctx, t)
		if err != nil {
			return fmt.Errorf("destination, table %s: %w", t.Name, err)
		}
		if n > 0 {
			report.Replaced = append(report.Replaced, TableCopy{Table: t.Name, Rows: n})
			held = append(held, fmt.Sprintf("%d %s", n, t.Name))
		}
	}
	if len(report.Replaced) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("%w (%s)", ErrNotEmpty, strings.Join(held, ", "))
	}
	for _, t := range report.Replaced {
		if err := dst.Clear(ctx, Table{Name: t.Table}); err != nil {
			return fmt.Errorf("destination, table %s: clear: %w", t.Table, err)
		}
	}
	return nil
}

// copyTable copies one table in batches, then reads it back from the
// destination and compares the count and checksum with the source's.
func copyTable(ctx context.Context, src TableReader, dst TableWriter, t Table, total int64, opts CopyOptions, progress func(CopyProgress)) (TableCopy, error) {
	var sent Checksum
	batch := make([][]any, 0, min(int64(opts.Batch), total+1))
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.WriteRows(ctx, t, batch); err != nil {
			return fmt.Errorf("destination, table %s: write: %w", t.Name, err)
		}
		batch = batch[:0]
		progress(CopyProgress{Table: t.Name, Done: sent.Rows(), Total: total})
		return nil
	}
	progress(CopyProgress{Table: t.Name, Total: total})
	errWrite := errors.New("write failed")
	var writeErr error
	err := src.EachRow(ctx, t, func(row []any) error {
		if err := sent.Add(row); err != nil {
			return err
		}
		batch = append(batch, row)
		if len(batch) < opts.Batch {
			return nil
		}
		if writeErr = flush(); writeErr != nil {
			return errWrite
		}
		return nil
	})
	if writeErr != nil {
		return TableCopy{}, writeErr
	}
	if err != nil {
		return TableCopy{}, fmt.Errorf("source, table %s: %w", t.Name, err)
	}
	if err := flush(); err != nil {
		return TableCopy{}, err
	}
	if sent.Rows() != total {
		// The snapshot should make this impossible: say so rather than
		// copy a state that moved.
		return TableCopy{}, fmt.Errorf("%w: table %s: the source counted %d rows but gave %d", ErrCopyMismatch, t.Name, total, sent.Rows())
	}
	n, err := dst.Count(ctx, t)
	if err != nil {
		return TableCopy{}, fmt.Errorf("destination, table %s: %w", t.Name, err)
	}
	if n != total {
		return TableCopy{}, fmt.Errorf("%w: table %s: the source holds %d rows, the destination %d", ErrCopyMismatch, t.Name, total, n)
	}
	progress(CopyProgress{Table: t.Name, Total: total, Verifying: true})
	var back Checksum
	if err := dst.EachRow(ctx, t, back.Add); err != nil {
		return TableCopy{}, fmt.Errorf("destination, table %s: read back: %w", t.Name, err)
	}
	progress(CopyProgress{Table: t.Name, Done: back.Rows(), Total: total, Verifying: true})
	if back != sent {
		return TableCopy{}, fmt.Errorf("%w: table %s: checksum of the %d rows read back %s, of the source's %s", ErrCopyMismatch, t.Name, back.Rows(), back, sent)
	}
	return TableCopy{Table: t.Name, Rows: total, Checksum: sent.String()}, nil
}

// Checksum is an order-independent digest of a table's rows: the sum, in
// two 64-bit lanes, of the SHA-256 of each row's values in a canonical
// form (a time as microseconds since 1970 in UTC, every integer as
// int64), so that the same rows give the same checksum in DuckDB and in
// PostgreSQL whatever order they are read in, and a row twice counts
// twice. The zero value is the checksum of no rows.
type Checksum struct {
	a, b uint64
	n    int64
}

// Add adds one row, its values as TableReader.EachRow gives them.
func (c *Checksum) Add(row []any) error {
	h := sha256.New()
	var buf [9]byte
	for i, v := range row {
		switch v := v.(type) {
		case nil:
			buf[0] = 'N'
			h.Write(buf[:1])
		case string:
			buf[0] = 'S'
			binary.BigEndian.PutUint64(buf[1:], uint64(len(v)))
			h.Write(buf[:])
			h.Write([]byte(v))
		case int64:
			writeInt(h, buf[:], v)
		case int32:
			writeInt(h, buf[:], int64(v))
		case int:
			writeInt(h, buf[:], int64(v))
		case bool:
			buf[0], buf[1] = 'B', 0
			if v {
				buf[1] = 1
			}
			h.Write(buf[:2])
		case time.Time:
			buf[0] = 'T'
			binary.BigEndian.PutUint64(buf[1:], uint64(v.UnixMicro()))
			h.Write(buf[:])
		default:
			return fmt.Errorf("column %d: a value of type %T, which a state does not hold", i+1, v)
		}
	}
	sum := h.Sum(nil)
	c.a += binary.BigEndian.Uint64(sum[:8])
	c.b += binary.BigEndian.Uint64(sum[8:16])
	if c.n == math.MaxInt64 {
		return errors.New("too many rows")
	}
	c.n++
	return nil
}

func writeInt(h interface{ Write([]byte) (int, error) }, buf []byte, v int64) {
	buf[0] = 'I'
	binary.BigEndian.PutUint64(buf[1:], uint64(v))
	h.Write(buf[:9])
}

// Rows returns how many rows were added.
func (c Checksum) Rows() int64 { return c.n }

// String is the checksum as 32 hexadecimal digits.
func (c Checksum) String() string { return fmt.Sprintf("%016x%016x", c.a, c.b) }
