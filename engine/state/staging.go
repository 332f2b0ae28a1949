package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Role says which side of a mapping a staging table holds.
type Role string

// Staging roles.
const (
	SourceRows Role = "source"
	DestRows   Role = "dest"
)

// stagingCatalog is the in-memory database, attached to the state
// database at open, that holds the staging tables: what a plan reads
// never lands in the state file (a full plan of 100,000 records grew it
// by 5 MB of dropped staging), and what does not fit in memory_limit
// spills to temp_directory instead.
const stagingCatalog = "coupler_staging"

func stagingTable(r Role) string { return stagingCatalog + ".main.staging_" + string(r) }

// Row is one record as staged: its identity and, per destination field in
// the mapping's field order, the canonical JSON text of its value (nil for
// null).
type Row struct {
	Key      string
	Modified time.Time
	ETag     string
	// InFilter is false for a record outside its side's filter.
	InFilter bool
	// Err is set when the record's values could not be computed.
	Err    string
	Values []*string
	// Match holds the record's values of the mapping's match fields, in
	// the form they are compared in (lower case unless case-sensitive).
	Match []*string
	// Display is the record's display fields as the JSON text of a
	// plan.Display, nil when its side names none. The diff keeps it with
	// the record's operation.
	Display *string
}

// Stage bulk-loads rows of one side into a fresh staging table through
// DuckDB's Appender. It is not safe for concurrent use; use one per side.
type Stage struct {
	conn     *sql.Conn
	appender *duckdb.Appender
	nvalues  int
	nmatch   int
	// digested are the value columns the row's digest covers (digested).
	digested []int
	digest   maphash.Hash
	args     []driver.Value
	rows     int64
}

// digestSeed seeds every staged row's digest. The staging tables live in
// memory, so the two sides a diff compares were always digested by this
// process, with this seed.
var digestSeed = maphash.MakeSeed()

// NewStage replaces the staging table of role with an empty one holding a
// value column for each of fields (the mapping's destination fields, as
// the diff will be given them) and nmatch match columns, and returns a
// Stage that appends to it.
func (d *DB) NewStage(ctx context.Context, role Role, fields []DestField, nmatch int) (*Stage, error) {
	nvalues := len(fields)
	var cols strings.Builder
	for i := range nvalues {
		fmt.Fprintf(&cols, ", v%d VARCHAR", i)
	}
	for i := range nmatch {
		fmt.Fprintf(&cols, ", m%d VARCHAR", i)
	}
	table := stagingTable(role)
	ddl := fmt.Sprintf(`CREATE OR REPLACE TABLE %s (key VARCHAR NOT NULL, modified TIMESTAMP, etag VARCHAR, in_filter BOOLEAN NOT NULL, err VARCHAR, display VARCHAR, h UBIGINT%s)`, table, cols.String())
	if _, err := d.db.ExecContext(ctx, ddl); err != nil {
		return nil, fmt.Errorf("create %s: %w", table, err)
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stage{nvalues: nvalues, nmatch: nmatch, digested: digested(fields), args: make([]driver.Value, 7+nvalues+nmatch), conn: conn}
	s.digest.SetSeed(digestSeed)
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppender(dc.(driver.Conn), stagingCatalog, "main", "staging_"+string(role))
		s.appender = a
		return err
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("appender for %s: %w", table, err)
	}
	return s, nil
}

// Append stages one row.
func (s *Stage) Append(r Row) error {
	if len(r.Values) != s.nvalues || len(r.Match) != s.nmatch {
		return fmt.Errorf("staging row %s: %d values and %d match values, want %d and %d", r.Key, len(r.Values), len(r.Match), s.nvalues, s.nmatch)
	}
	a := s.args
	a[0] = r.Key
	a[1] = nil
	if !r.Modified.IsZero() {
		a[1] = r.Modified.UTC()
	}
	a[2] = nilIfEmpty(r.ETag)
	a[3] = r.InFilter
	a[4] = nilIfEmpty(r.Err)
	a[5] = nil
	if r.Display != nil {
		a[5] = *r.Display
	}
	a[6] = s.rowDigest(r.Values)
	for i, v := range append(r.Values, r.Match...) {
		if v == nil {
			a[7+i] = nil
		} else {
			a[7+i] = *v
		}
	}
	s.rows++
	return s.appender.AppendRow(a...)
}

// rowDigest is the digest of a row's digested values, as the diff
// compares them (a null as ""): equal values make equal digests, and a
// length before each value keeps "ab","c" apart from "a","bc". Computed
// here, the diff pairs records by a column it reads, where hashing the
// values in SQL read every value of both sides: at a million records,
// staging that did not fit in memory_limit read back from temp_directory.
// Different values make the same digest with a chance of 2^-64, which
// would hide that record's change until its next edit; md5's 128 bits, in
// SQL, made the diff of 100,000 records twice as slow. nil when no value
// is digested.
func (s *Stage) rowDigest(values []*string) driver.Value {
	if len(s.digested) == 0 {
		return nil
	}
	s.digest.Reset()
	var n [8]byte
	for _, i := range s.digested {
		v := `""`
		if values[i] != nil {
			v = *values[i]
		}
		binary.LittleEndian.PutUint64(n[:], uint64(len(v)))
		s.digest.Write(n[:])
		s.digest.WriteString(v)
	}
	return s.digest.Sum64()
}

// Rows returns how many rows were appended.
func (s *Stage) Rows() int64 { return s.rows }

// Close flushes the appended rows and releases the connection. It must be
// called, also after an error, before the staged rows are used.
func (s *Stage) Close() error {
	err := s.appender.Close()
	if rerr := s.conn.Close(); err == nil {
		err = rerr
	}
	return err
}

func nilIfEmpty(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

// dedupe keeps the latest version of each key in a staging table: a record
// modified while a paged read is under way can arrive twice.
func (d *DB) dedupe(ctx context.Context, role Role) error {
	table := stagingTable(role)
	var dups int64
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) - count(DISTINCT key) FROM `+table).Scan(&dups); err != nil {
		return fmt.Errorf("count duplicates in %s: %w", table, err)
	}
	if dups == 0 {
		return nil
	}
	_, err := d.db.ExecContext(ctx, `CREATE OR REPLACE TABLE `+table+` AS SELECT * FROM `+table+`
		QUALIFY row_number() OVER (PARTITION BY key ORDER BY modified DESC NULLS LAST) = 1`)
	if err != nil {
		return fmt.Errorf("dedupe %s: %w", table, err)
	}
	return nil
}

// StagedSourceKeysCoupled returns the destination ids coupled to the staged
// source rows: the destination records an incremental plan must fetch.
func (d *DB) StagedSourceKeysCoupled(ctx context.Context, mapping string, sourceIsTable bool) ([]string, error) {
	src, dst := CouplingColumns(sourceIsTable)
	rows, err := d.db.QueryContext(ctx, `SELECT c.`+dst+` FROM couplings c JOIN `+stagingTable(SourceRows)+` s ON s.key = c.`+src+`
		WHERE c.mapping = ? ORDER BY 1`, mapping)
	if err != nil {
		return nil, fmt.Errorf("coupled ids of mapping %s: %w", mapping, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// UncoupledMatchValues returns the distinct values of match column col among
// the staged source rows that take part and are not coupled: what an
// incremental plan looks for among the destination's records.
func (d *DB) UncoupledMatchValues(ctx context.Context, mapping string, sourceIsTable bool, col int) ([]string, error) {
	src, _ := CouplingColumns(sourceIsTable)
	m := fmt.Sprintf("m%d", col)
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT s.`+m+` FROM `+stagingTable(SourceRows)+` s
		WHERE s.in_filter AND s.err IS NULL AND s.`+m+` IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM couplings c WHERE c.mapping = ? AND c.`+src+` = s.key)`, mapping)
	if err != nil {
		return nil, fmt.Errorf("match values of mapping %s: %w", mapping, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
