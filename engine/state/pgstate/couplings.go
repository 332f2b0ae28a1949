package pgstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// Couple records couplings in bulk, as when records are coupled by hand or
// by matching. A pair that is already coupled is an error and nothing is
// saved: the rows go in with one COPY, which a unique violation aborts
// whole.
func (d *DB) Couple(ctx context.Context, mapping string, pairs []state.Coupling) error {
	if len(pairs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	_, err := d.pool.CopyFrom(ctx, pgx.Identifier{"couplings"}, []string{"mapping", "table_id", "integration_id", "coupled_at"},
		pgx.CopyFromSlice(len(pairs), func(i int) ([]any, error) {
			return []any{mapping, pairs[i].TableID, pairs[i].IntegrationID, now}, nil
		}))
	if err != nil {
		return fmt.Errorf("couple %d records of mapping %s: %w", len(pairs), mapping, err)
	}
	return nil
}

// CoupleOne couples one table record to one integration record, refusing
// when either is already coupled: couplings are one-to-one. The insert
// and the refusal are one statement's outcome, so that two processes
// coupling at once cannot both succeed.
func (d *DB) CoupleOne(ctx context.Context, mapping, tableID, integrationID string) error {
	tag, err := d.pool.Exec(ctx, `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, mapping, tableID, integrationID, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("couple %s and %s in mapping %s: %w", tableID, integrationID, mapping, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var other string
	err = d.pool.QueryRow(ctx, `SELECT CASE WHEN table_id = $2 THEN 'table record '||table_id||' is coupled to '||integration_id
		ELSE 'integration record '||integration_id||' is coupled to '||table_id END
		FROM couplings WHERE mapping = $1 AND (table_id = $2 OR integration_id = $3) ORDER BY table_id = $2 DESC LIMIT 1`,
		mapping, tableID, integrationID).Scan(&other)
	if errors.Is(err, pgx.ErrNoRows) {
		// Uncoupled again between the two statements.
		return fmt.Errorf("mapping %s: %s or %s was coupled meanwhile; try again", mapping, tableID, integrationID)
	}
	if err != nil {
		return fmt.Errorf("couplings of mapping %s: %w", mapping, err)
	}
	return fmt.Errorf("mapping %s: %s; uncouple it first", mapping, other)
}

// Uncouple removes the couplings of the given records, named by their id
// on either side, or every coupling of the mapping when ids is empty and
// all is set. It returns how many couplings it removed.
func (d *DB) Uncouple(ctx context.Context, mapping string, ids []string, all bool) (int64, error) {
	q, args := `DELETE FROM couplings WHERE mapping = $1`, []any{mapping}
	if !all {
		if len(ids) == 0 {
			return 0, nil
		}
		q += ` AND (table_id = ANY($2) OR integration_id = ANY($2))`
		args = append(args, ids)
	}
	tag, err := d.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("uncouple records of mapping %s: %w", mapping, err)
	}
	return tag.RowsAffected(), nil
}

// FindCoupling returns the coupling of mapping whose table or integration
// id is id, or nil; the table side first, should id be on both.
func (d *DB) FindCoupling(ctx context.Context, mapping, id string) (*state.Coupling, error) {
	var c state.Coupling
	err := d.pool.QueryRow(ctx, `SELECT table_id, integration_id FROM couplings WHERE mapping = $1 AND (table_id = $2 OR integration_id = $2)
		ORDER BY table_id = $2 DESC LIMIT 1`, mapping, id).Scan(&c.TableID, &c.IntegrationID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("coupling of %s in mapping %s: %w", id, mapping, err)
	}
	return &c, nil
}

// CouplingCount returns how many records a mapping has coupled.
func (d *DB) CouplingCount(ctx context.Context, mapping string) (int64, error) {
	var n int64
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM couplings WHERE mapping = $1`, mapping).Scan(&n); err != nil {
		return 0, fmt.Errorf("count couplings of mapping %s: %w", mapping, err)
	}
	return n, nil
}

// AllCouplings returns how many couplings the store holds, every mapping's.
func (d *DB) AllCouplings(ctx context.Context) (int64, error) {
	var n int64
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM couplings`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count couplings: %w", err)
	}
	return n, nil
}

// CouplingMap returns a mapping's couplings as a map from the ids of one
// side to the ids of the other: table to integration when fromTable, else
// the reverse.
func (d *DB) CouplingMap(ctx context.Context, mapping string, fromTable bool) (map[string]string, error) {
	from, to := state.CouplingColumns(fromTable)
	m, err := d.stringMap(ctx, `SELECT `+from+`, `+to+` FROM couplings WHERE mapping = $1`, mapping)
	if err != nil {
		return nil, fmt.Errorf("couplings of mapping %s: %w", mapping, err)
	}
	return m, nil
}

// AlreadyCoupled returns, for those of the given source ids that are
// coupled, the id they are coupled to.
func (d *DB) AlreadyCoupled(ctx context.Context, mapping string, sourceIsTable bool, ids []string) (map[string]string, error) {
	if len(ids) == 0 {
		return map[string]string{}, nil
	}
	src, dst := state.CouplingColumns(sourceIsTable)
	m, err := d.stringMap(ctx, `SELECT `+src+`, `+dst+` FROM couplings WHERE mapping = $1 AND `+src+` = ANY($2)`, mapping, ids)
	if err != nil {
		return nil, fmt.Errorf("couplings of mapping %s: %w", mapping, err)
	}
	return m, nil
}

// CoupledDestinations returns, for those of the given destination ids
// that are coupled, the source they are coupled to.
func (d *DB) CoupledDestinations(ctx context.Context, mapping string, sourceIsTable bool, ids []string) (map[string]string, error) {
	return d.AlreadyCoupled(ctx, mapping, !sourceIsTable, ids)
}

// stringMap runs a query of two text columns into a map from the first to
// the second.
func (d *DB) stringMap(ctx context.Context, query string, args ...any) (map[string]string, error) {
	rows, err := d.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// SearchCouplings lists the couplings of mapping whose table or
// integration id, or either record's display values, contain q (case
// folded; every coupling when q is empty), ordered by table id: limit rows
// from offset, with the count of all that match. The display values are
// the latest a plan saved for each record (plan ids sort by time), as the
// DuckDB state finds them.
func (d *DB) SearchCouplings(ctx context.Context, mapping, q string, offset, limit int) (state.CouplingPage, error) {
	var page state.CouplingPage
	rows, err := d.pool.Query(ctx, `WITH shown AS (
			SELECT DISTINCT ON (id) id, display FROM (
				SELECT plan_id, source_id AS id, source_display AS display FROM plan_operations WHERE mapping = $1 AND source_display IS NOT NULL
				UNION ALL
				SELECT plan_id, dest_id, dest_display FROM plan_operations WHERE mapping = $1 AND dest_display IS NOT NULL AND dest_id IS NOT NULL) o
			ORDER BY id, plan_id DESC),
		found AS (
			SELECT c.table_id, c.integration_id, c.coupled_at, c.last_synced_at, coalesce(c.last_result, '') AS last_result,
				t.display AS table_display, i.display AS integration_display
			FROM couplings c LEFT JOIN shown t ON t.id = c.table_id LEFT JOIN shown i ON i.id = c.integration_id
			WHERE c.mapping = $1 AND ($2 = '' OR strpos(lower(c.table_id), lower($2)) > 0 OR strpos(lower(c.integration_id), lower($2)) > 0
				OR strpos(lower(coalesce(t.display, '')), lower($2)) > 0 OR strpos(lower(coalesce(i.display, '')), lower($2)) > 0))
		SELECT *, count(*) OVER () FROM found ORDER BY table_id LIMIT $3 OFFSET $4`,
		mapping, q, limit, offset)
	if err != nil {
		return page, fmt.Errorf("search couplings of mapping %s: %w", mapping, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r state.CouplingRow
		var synced *time.Time
		var tShow, iShow *string
		if err := rows.Scan(&r.TableID, &r.IntegrationID, &r.CoupledAt, &synced, &r.LastResult, &tShow, &iShow, &page.Total); err != nil {
			return page, fmt.Errorf("search couplings of mapping %s: %w", mapping, err)
		}
		r.CoupledAt = r.CoupledAt.UTC()
		if synced != nil {
			r.LastSynced = synced.UTC()
		}
		if r.TableDisplay, err = parseDisplay(tShow); err == nil {
			r.IntegrationDisplay, err = parseDisplay(iShow)
		}
		if err != nil {
			return page, fmt.Errorf("coupling of %s: display: %w", r.TableID, err)
		}
		page.Rows = append(page.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("search couplings of mapping %s: %w", mapping, err)
	}
	if len(page.Rows) == 0 && offset > 0 {
		// Past the last page: count what there is, for the pager.
		other, err := d.SearchCouplings(ctx, mapping, q, 0, 1)
		page.Total = other.Total
		return page, err
	}
	return page, nil
}

// parseDisplay reads display values saved as JSON text; nil for none.
func parseDisplay(s *string) (plan.Display, error) {
	if s == nil {
		return nil, nil
	}
	var d plan.Display
	if err := json.Unmarshal([]byte(*s), &d); err != nil {
		return nil, err
	}
	return d, nil
}
