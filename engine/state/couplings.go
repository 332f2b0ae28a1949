package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Watermark returns a mapping's watermark on one side, and whether it has one.
func (d *DB) Watermark(ctx context.Context, mapping, side string) (time.Time, bool, error) {
	var t time.Time
	err := d.db.QueryRowContext(ctx, `SELECT value FROM watermarks WHERE mapping = ? AND side = ?`, mapping, side).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("watermark of mapping %s, %s side: %w", mapping, side, err)
	}
	return t.UTC(), true, nil
}

// Coupling is a link between a table record and an integration record.
type Coupling struct {
	TableID       string
	IntegrationID string
}

// Couple records couplings in bulk, as when records are coupled by hand or by
// matching. A batch that couples a record twice, or a record already
// coupled, is an error and nothing is saved.
func (d *DB) Couple(ctx context.Context, mapping string, pairs []Coupling) error {
	if len(pairs) == 0 {
		return nil
	}
	tableIDs := make([]string, len(pairs))
	intIDs := make([]string, len(pairs))
	byTable := make(map[string]string, len(pairs))
	byInt := make(map[string]string, len(pairs))
	for i, p := range pairs {
		if other, ok := byTable[p.TableID]; ok {
			return fmt.Errorf("couple %d records of mapping %s: table record %s is coupled twice, to %s and %s", len(pairs), mapping, p.TableID, other, p.IntegrationID)
		}
		if other, ok := byInt[p.IntegrationID]; ok {
			return fmt.Errorf("couple %d records of mapping %s: integration record %s is coupled twice, to %s and %s", len(pairs), mapping, p.IntegrationID, other, p.TableID)
		}
		byTable[p.TableID], byInt[p.IntegrationID] = p.IntegrationID, p.TableID
		tableIDs[i], intIDs[i] = p.TableID, p.IntegrationID
	}
	now := time.Now().UTC()
	err := d.couplingTx(ctx, func(c *sql.Conn) error {
		// The table has no keys (schema version 12): the batch is checked
		// against the couplings held, which couplingsMu keeps as they are
		// until this commits.
		var taken string
		err := c.QueryRowContext(ctx, `SELECT CASE WHEN table_id IN (SELECT unnest(?::VARCHAR[])) THEN 'table record '||table_id||' is coupled to '||integration_id||' already'
			ELSE 'integration record '||integration_id||' is coupled to '||table_id||' already' END
			FROM couplings WHERE mapping = ? AND (table_id IN (SELECT unnest(?::VARCHAR[])) OR integration_id IN (SELECT unnest(?::VARCHAR[])))
			ORDER BY table_id LIMIT 1`, tableIDs, mapping, tableIDs, intIDs).Scan(&taken)
		if err == nil {
			return errors.New(taken)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Named columns, so that the couplings table can grow columns
		// without breaking this.
		return appendRows(c, "", "couplings", []string{"mapping", "table_id", "integration_id", "coupled_at"}, len(pairs), func(i int) []driver.Value {
			return []driver.Value{mapping, pairs[i].TableID, pairs[i].IntegrationID, now}
		})
	})
	if err != nil {
		return fmt.Errorf("couple %d records of mapping %s: %w", len(pairs), mapping, err)
	}
	return nil
}

const upsertWatermark = `INSERT OR REPLACE INTO watermarks VALUES (?, ?, ?, ?)`

// SetWatermark moves a mapping's watermark on one side.
func (d *DB) SetWatermark(ctx context.Context, mapping, side string, t time.Time) error {
	_, err := d.db.ExecContext(ctx, upsertWatermark, mapping, side, t.UTC(), time.Now().UTC())
	if err != nil {
		return fmt.Errorf("set watermark of mapping %s, %s side: %w", mapping, side, err)
	}
	return nil
}

// ClearWatermarks forgets the watermarks of the given mappings on both sides,
// and their change tracking tokens, so that their next plan reads every
// record. Couplings are kept. It returns how many watermarks were removed.
func (d *DB) ClearWatermarks(ctx context.Context, mappings []string) (int64, error) {
	if _, err := d.ClearChangeTokens(ctx, mappings...); err != nil {
		return 0, err
	}
	var n int64
	for _, m := range mappings {
		res, err := d.db.ExecContext(ctx, `DELETE FROM watermarks WHERE mapping = ?`, m)
		if err != nil {
			return n, fmt.Errorf("clear watermarks of mapping %s: %w", m, err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// CouplingCount returns how many records a mapping has coupled.
func (d *DB) CouplingCount(ctx context.Context, mapping string) (int64, error) {
	var n int64
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM couplings WHERE mapping = ?`, mapping).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count couplings of mapping %s: %w", mapping, err)
	}
	return n, nil
}

// AllCouplings returns how many couplings the state holds, every mapping's:
// what a checkpoint rewrites the indexes of.
func (d *DB) AllCouplings(ctx context.Context) (int64, error) {
	var n int64
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM couplings`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count couplings: %w", err)
	}
	return n, nil
}

// CouplingMap returns a mapping's couplings as a map from the ids of one side
// to the ids of the other: table to integration when fromTable, else the
// reverse. Lookups translate through it.
func (d *DB) CouplingMap(ctx context.Context, mapping string, fromTable bool) (map[string]string, error) {
	from, to := CouplingColumns(fromTable)
	rows, err := d.db.QueryContext(ctx, `SELECT `+from+`, `+to+` FROM couplings WHERE mapping = ?`, mapping)
	if err != nil {
		return nil, fmt.Errorf("couplings of mapping %s: %w", mapping, err)
	}
	return scanStringMap(rows)
}

// CoupleOne couples one table record to one integration record, refusing
// when either is already coupled: couplings are one-to-one.
func (d *DB) CoupleOne(ctx context.Context, mapping, tableID, integrationID string) error {
	// The check and the insert in one transaction under couplingsMu: the
	// table has no keys (schema version 12) to refuse a coupling made in
	// between.
	return d.couplingTx(ctx, func(c *sql.Conn) error {
		var other string
		err := c.QueryRowContext(ctx, `SELECT CASE WHEN table_id = ? THEN 'table record '||table_id||' is coupled to '||integration_id
			ELSE 'integration record '||integration_id||' is coupled to '||table_id END
			FROM couplings WHERE mapping = ? AND (table_id = ? OR integration_id = ?) LIMIT 1`,
			tableID, mapping, tableID, integrationID).Scan(&other)
		if err == nil {
			return fmt.Errorf("mapping %s: %s; uncouple it first", mapping, other)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("couplings of mapping %s: %w", mapping, err)
		}
		_, err = c.ExecContext(ctx, `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at) VALUES (?, ?, ?, ?)`,
			mapping, tableID, integrationID, time.Now().UTC())
		if err != nil {
			return fmt.Errorf("couple %s and %s in mapping %s: %w", tableID, integrationID, mapping, err)
		}
		return nil
	})
}

// Uncouple removes the couplings of the given records, named by their id on
// either side, or every coupling of the mapping when ids is empty and all is
// set. The records themselves are not touched. It returns how many
// couplings it removed.
func (d *DB) Uncouple(ctx context.Context, mapping string, ids []string, all bool) (int64, error) {
	q := `DELETE FROM couplings WHERE mapping = ?`
	args := []any{mapping}
	if !all {
		if len(ids) == 0 {
			return 0, nil
		}
		ph := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
		q += ` AND (table_id IN (` + ph + `) OR integration_id IN (` + ph + `))`
		for range 2 {
			for _, id := range ids {
				args = append(args, id)
			}
		}
	}
	res, err := d.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("uncouple records of mapping %s: %w", mapping, err)
	}
	return res.RowsAffected()
}

// FindCoupling returns the coupling of mapping whose table or integration id
// is id, or nil.
func (d *DB) FindCoupling(ctx context.Context, mapping, id string) (*Coupling, error) {
	var c Coupling
	err := d.db.QueryRowContext(ctx, `SELECT table_id, integration_id FROM couplings WHERE mapping = ? AND (table_id = ? OR integration_id = ?) LIMIT 1`,
		mapping, id, id).Scan(&c.TableID, &c.IntegrationID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("coupling of %s in mapping %s: %w", id, mapping, err)
	}
	return &c, nil
}

// PlannedCouplings returns the ids on one side of mapping (the table side
// when tableSide) that will have a coupling once plan planID is applied,
// whichever of the mapping's passes makes it:
//   - the pass whose source is that side creates, couples or restores the
//     record under its source id;
//   - the other pass couples a record of that side under its destination
//     id, or creates one whose key it writes (a code-keyed BC salesperson
//     made from a Dataverse user).
//
// A lookup through the mapping to one of these ids is "known after apply"
// rather than a failure, so that a first sync is one plan whatever
// direction the lookup's records flow in.
func (d *DB) PlannedCouplings(ctx context.Context, planID, mapping string, tableSide bool) (map[string]bool, error) {
	fromSide, toSide := "to_integration", "from_integration"
	if !tableSide {
		fromSide, toSide = toSide, fromSide
	}
	rows, err := d.db.QueryContext(ctx, `
		SELECT source_id, false FROM plan_operations
		WHERE plan_id = ? AND mapping = ? AND direction = ? AND op IN ('create', 'couple', 'restore')
		UNION ALL
		SELECT dest_id, false FROM plan_operations
		WHERE plan_id = ? AND mapping = ? AND direction = ? AND op = 'couple' AND dest_id IS NOT NULL
		UNION ALL
		SELECT c.after, true FROM plan_operations o
		JOIN plan_mappings m ON m.plan_id = o.plan_id AND m.mapping = o.mapping AND m.direction = o.direction
		JOIN plan_changes c ON c.plan_id = o.plan_id AND c.mapping = o.mapping AND c.direction = o.direction
			AND c.seq = o.seq AND c.field = m.dest_key
		WHERE o.plan_id = ? AND o.mapping = ? AND o.direction = ? AND o.op = 'create' AND c.after IS NOT NULL`,
		planID, mapping, fromSide, planID, mapping, toSide, planID, mapping, toSide)
	if err != nil {
		return nil, fmt.Errorf("records planned for mapping %s: %w", mapping, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		var written bool
		if err := rows.Scan(&id, &written); err != nil {
			return nil, err
		}
		if written {
			// A written key is JSON text; only a text key can be a
			// lookup's id.
			var s string
			if json.Unmarshal([]byte(id), &s) != nil {
				continue
			}
			id = s
		}
		out[id] = true
	}
	return out, rows.Err()
}
