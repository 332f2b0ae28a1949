package state

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/couplerhq/coupler/engine/plan"
)

// A worker whose state is not a DuckDB file (PostgreSQL, shared by several
// processes: issue 17) still stages and diffs in DuckDB: in a workspace of
// its own, a DB on a temporary file. The diff SQL reads, besides the
// staging tables, a few of the state's tables, of the mapping it diffs
// only (MappingTables): the workspace takes a copy of those rows from the
// store before the mapping is planned (LoadMapping). What the diff makes
// of each part goes the other way, from the workspace (PartDiff) into the
// store (DiffSaver), before the store's SavePlan makes the plan visible.
// With a DuckDB state the workspace is the state itself and nothing is
// copied.

// MappingTable is a table of the state that the diff reads, by mapping:
// a workspace copies all its columns.
type MappingTable = Table

// MappingTables are the state's tables that the diff, SettleConflicts,
// PlanSkipped, PlanDeletes, NotModified and the staging methods read,
// each only for the mapping they work on: couplings (with each side's
// version as last synced, for echo suppression), record failures (skipped
// records), records uncoupled by a deletion conflict, and values a
// service assigned (to write back).
var MappingTables = tablesNamed("couplings", "record_failures", "uncoupled", "assigned_values")

// tablesNamed returns the Tables so named, in that order.
func tablesNamed(names ...string) []Table {
	out := make([]Table, len(names))
	for i, n := range names {
		j := slices.IndexFunc(Tables, func(t Table) bool { return t.Name == n })
		if j < 0 {
			panic("state: no table " + n) // a typo above, caught by any test
		}
		out[i] = Tables[j]
	}
	return out
}

// MappingRows is implemented by a Store that a workspace can be loaded
// from: it streams a mapping's rows of the MappingTables.
type MappingRows interface {
	// EachMappingRow calls fn with each row of table whose mapping is
	// mapping, its values in table.Columns' order: string, int64 or
	// int32, bool, time.Time, or nil for NULL. fn may keep no row.
	EachMappingRow(ctx context.Context, table MappingTable, mapping string, fn func(row []driver.Value) error) error
}

// DiffSaver is implemented by a Store that keeps its plans apart from the
// workspace they are diffed in: it takes what the diff made of one part
// and saves it with SavePlan of its plan, all or nothing, so that another
// process never sees, nor prunes, a plan half saved; the diff's
// Operations must stay readable until then. DiscardPlan forgets it when
// the plan fails.
type DiffSaver interface {
	SaveDiff(ctx context.Context, diff PartDiff) error
}

// PartDiff is what the diff of one part of a plan made: plan_fields,
// plan_operations with plan_changes, plan_unchanged and
// plan_unchanged_marks.
type PartDiff struct {
	Part Part
	// Fields are the part's destination fields in order; their BindSet
	// is what BindSets returns.
	Fields []DestField
	// Operations yields the part's operations, with their changes, to
	// yield, in any order (seqs are the diff's); it stops at yield's
	// first error and returns it. A part streams from the workspace
	// without being held whole.
	Operations func(yield func(plan.Operation) error) error
	// Unchanged counts the records the diff found unchanged and listed
	// in no operation.
	Unchanged int64
	// Marks are the unchanged records apply notes something of (their
	// source version on the coupling, a failure cleared).
	Marks []UnchangedMark
}

// UnchangedMark is a record a diff found unchanged that apply notes: its
// source version, which MarkUnchangedSynced copies to its coupling, and
// TrackFailures clearing its failure.
type UnchangedMark struct {
	SourceID, DestID string
	SourceModified   time.Time
	SourceETag       string
}

// CheckMappingTable refuses a table that is not one of the MappingTables,
// or columns it does not have: EachMappingRow puts both in its SQL.
func CheckMappingTable(t MappingTable) error {
	i := slices.IndexFunc(MappingTables, func(m MappingTable) bool { return m.Name == t.Name })
	if i < 0 {
		return fmt.Errorf("%s is not a table the diff reads", t.Name)
	}
	for _, c := range t.Columns {
		if !slices.Contains(MappingTables[i].Columns, c) {
			return fmt.Errorf("table %s: no column %s among those the diff reads", t.Name, c)
		}
	}
	return nil
}

// EachMappingRow streams a mapping's rows of one of the MappingTables.
func (d *DB) EachMappingRow(ctx context.Context, table MappingTable, mapping string, fn func(row []driver.Value) error) error {
	if err := CheckMappingTable(table); err != nil {
		return err
	}
	t := table
	rows, err := d.db.QueryContext(ctx, `SELECT `+strings.Join(t.Columns, ", ")+` FROM `+t.Name+` WHERE mapping = ?`, mapping)
	if err != nil {
		return fmt.Errorf("%s of mapping %s: %w", t.Name, mapping, err)
	}
	defer rows.Close()
	vals := make([]any, len(table.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	row := make([]driver.Value, len(vals))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("%s of mapping %s: %w", t.Name, mapping, err)
		}
		for i, v := range vals {
			row[i] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DropMappingKeys makes d a workspace: it drops the primary keys and
// unique constraints of the MappingTables, whose rows here are a copy of
// the store's, which keeps them. Loading a mapping then builds no index:
// with the keys, loading 100,000 couplings took 0.4-0.9 s in the INSERT,
// 0.5 s to delete the previous plan's copy and 0.5-1.1 s to commit.
func (d *DB) DropMappingKeys(ctx context.Context) error {
	return d.connTx(ctx, func(c *sql.Conn) error {
		for _, t := range MappingTables {
			// CREATE TABLE … AS keeps the columns and their types, not
			// the constraints (DuckDB's ALTER TABLE drops none).
			if _, err := c.ExecContext(ctx, `CREATE OR REPLACE TABLE `+quoteIdent(t.Name)+` AS SELECT * FROM `+quoteIdent(t.Name)+` LIMIT 0`); err != nil {
				return fmt.Errorf("plan workspace: %s: %w", t.Name, err)
			}
		}
		return nil
	})
}

// MappingCSV is implemented by a MappingRows store that can also write a
// mapping's rows of one of the MappingTables as CSV, which LoadMapping
// then reads with DuckDB's CSV reader rather than a value at a time
// through the Appender: a mapping can have 100,000 couplings, which
// PostgreSQL writes as CSV in 60-80 ms. (With this and DropMappingKeys, a
// full plan of 100,000 couplings on a PostgreSQL state fell from 6.4-6.7 s
// to 3.75 s: BenchmarkPlanFull.)
type MappingCSV interface {
	// WriteMappingCSV writes to w the rows of table whose mapping is
	// mapping: RFC 4180 CSV without a header, columns in table.Columns'
	// order, NULL as an empty field and an empty string quoted (""),
	// times in UTC as YYYY-MM-DD HH:MM:SS[.ffffff] with or without a
	// +00 offset, booleans as t or f.
	WriteMappingCSV(ctx context.Context, table MappingTable, mapping string, w io.Writer) error
}

// LoadMapping replaces a mapping's rows of the MappingTables in this
// workspace with the store's, in one transaction: through a CSV file in
// the workspace's directory when the store writes CSV (MappingCSV), else
// row by row through DuckDB's Appender.
func (d *DB) LoadMapping(ctx context.Context, from MappingRows, mapping string) error {
	csvFrom, _ := from.(MappingCSV)
	err := d.connTx(ctx, func(c *sql.Conn) error {
		for _, t := range MappingTables {
			if _, err := c.ExecContext(ctx, `DELETE FROM `+t.Name+` WHERE mapping = ?`, mapping); err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			if csvFrom != nil {
				if err := d.loadCSV(ctx, c, csvFrom, t, mapping); err != nil {
					return fmt.Errorf("%s: %w", t.Name, err)
				}
				continue
			}
			err := appendStream(c, "", t.Name, t.Columns, func(add func(row []driver.Value) error) error {
				return from.EachMappingRow(ctx, t, mapping, func(row []driver.Value) error {
					for i, v := range row {
						if tm, ok := v.(time.Time); ok {
							row[i] = tm.UTC()
						}
					}
					return add(row)
				})
			})
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bring the state of mapping %s into the workspace: %w", mapping, err)
	}
	return nil
}

// loadCSV appends a mapping's rows of t, as from writes them in CSV, to
// t. The file is read as text and cast by the INSERT to t's column types,
// so that what a value means is the table's business, not the reader's
// guess.
func (d *DB) loadCSV(ctx context.Context, c *sql.Conn, from MappingCSV, t MappingTable, mapping string) error {
	f, err := os.CreateTemp(filepath.Dir(d.path), "load-"+t.Name+"-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	meter := &csvMeter{w: w}
	err = from.WriteMappingCSV(ctx, t, mapping, meter)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	cols := make([]string, len(t.Columns))
	types := make([]string, len(t.Columns))
	for i, col := range t.Columns {
		cols[i] = quoteIdent(col)
		types[i] = sqlString(col) + ": 'VARCHAR'"
	}
	// allow_quoted_nulls=false keeps "" an empty string, apart from the
	// NULL an empty unquoted field is; new_line is said, as a \r\n in a
	// quoted value misled the reader's detection into an error; and
	// hive_partitioning is off, or a directory named key=value on the
	// workspace's path would add a column. max_line_size is raised to the
	// longest record when one is longer than the reader's default (a
	// service's error page kept whole), which it would refuse.
	_, err = c.ExecContext(ctx, `INSERT INTO `+quoteIdent(t.Name)+` (`+strings.Join(cols, ", ")+`) SELECT * FROM read_csv(`+sqlString(f.Name())+
		`, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"', new_line = '\n', nullstr = '', allow_quoted_nulls = false, hive_partitioning = false, max_line_size = `+
		strconv.Itoa(max(csvDefaultMaxLine, meter.longest+2))+`, columns = {`+strings.Join(types, ", ")+`})`)
	return err
}

// csvDefaultMaxLine is DuckDB's CSV reader's default max_line_size; its
// buffer is a multiple of the setting, so it is raised only when needed.
const csvDefaultMaxLine = 2_000_000

// csvMeter passes CSV on to w and measures its longest record, newlines
// inside quoted values included, as DuckDB's max_line_size counts them.
type csvMeter struct {
	w       io.Writer
	quoted  bool
	current int
	longest int
}

// Write jumps from quote to line end rather than looking at every byte:
// a mapping's CSV of a million couplings is some 150 MB.
func (m *csvMeter) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		i := bytes.IndexAny(rest, "\"\n")
		if i < 0 {
			m.current += len(rest)
			break
		}
		if rest[i] == '"' {
			// An escaped quote ("") toggles twice.
			m.quoted = !m.quoted
			m.current += i + 1
		} else if m.quoted {
			m.current += i + 1
		} else {
			m.longest = max(m.longest, m.current+i)
			m.current = 0
		}
		rest = rest[i+1:]
	}
	m.longest = max(m.longest, m.current)
	return m.w.Write(p)
}

// appendStream appends to catalog.table (see appendRows) each row rows
// gives add, the columns named.
func appendStream(c *sql.Conn, catalog, table string, columns []string, rows func(add func(row []driver.Value) error) error) error {
	return c.Raw(func(dc any) error {
		conn, ok := dc.(driver.Conn)
		if !ok {
			return errors.New("not a DuckDB connection")
		}
		a, err := duckdb.NewAppenderWithColumns(conn, catalog, "", table, columns)
		if err != nil {
			return fmt.Errorf("append to %s: %w", table, err)
		}
		err = rows(func(row []driver.Value) error { return a.AppendRow(row...) })
		if cerr := a.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("append to %s: %w", table, err)
		}
		return nil
	})
}

// operationsPage is how many operations PartDiff's Operations reads at a
// time.
const operationsPage = 5000

// PartDiff returns what the diff of one part made in this workspace, for
// a DiffSaver; its Operations reads them in pages.
func (d *DB) PartDiff(ctx context.Context, part Part) (PartDiff, error) {
	out := PartDiff{Part: part}
	fail := func(what string, err error) (PartDiff, error) {
		return PartDiff{}, fmt.Errorf("the diff of plan %s, mapping %s (%s): %s: %w", part.PlanID, part.Mapping, part.Direction, what, err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT field, bind_set FROM plan_fields WHERE plan_id = ? AND mapping = ? AND direction = ? ORDER BY position`,
		part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return fail("fields", err)
	}
	for rows.Next() {
		var f DestField
		var bind sql.NullString
		if err := rows.Scan(&f.Name, &bind); err != nil {
			rows.Close()
			return fail("fields", err)
		}
		f.BindSet = bind.String
		out.Fields = append(out.Fields, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("fields", err)
	}
	err = d.db.QueryRowContext(ctx, `SELECT coalesce(sum(records), 0) FROM plan_unchanged WHERE plan_id = ? AND mapping = ? AND direction = ?`,
		part.PlanID, part.Mapping, part.Direction).Scan(&out.Unchanged)
	if err != nil {
		return fail("unchanged records", err)
	}
	rows, err = d.db.QueryContext(ctx, `SELECT source_id, dest_id, source_modified, source_etag FROM plan_unchanged_marks
		WHERE plan_id = ? AND mapping = ? AND direction = ?`, part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return fail("unchanged records", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m UnchangedMark
		var modified sql.NullTime
		var etag sql.NullString
		if err := rows.Scan(&m.SourceID, &m.DestID, &modified, &etag); err != nil {
			return fail("unchanged records", err)
		}
		if modified.Valid {
			m.SourceModified = modified.Time.UTC()
		}
		m.SourceETag = etag.String
		out.Marks = append(out.Marks, m)
	}
	if err := rows.Err(); err != nil {
		return fail("unchanged records", err)
	}
	out.Operations = func(yield func(plan.Operation) error) error {
		var after int64
		for {
			n := 0
			err := d.Operations(ctx, part, after, operationsPage, plan.Kinds, func(o plan.Operation) error {
				n++
				after = o.Seq
				return yield(o)
			})
			if err != nil || n < operationsPage {
				return err
			}
		}
	}
	return out, nil
}
