package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// CouplingRow is one coupling as coupler serve's couplings view lists it.
type CouplingRow struct {
	TableID, IntegrationID string
	CoupledAt              time.Time
	// LastSynced is zero when no run has written the pair since it was
	// coupled; LastResult is empty then.
	LastSynced time.Time
	LastResult string
	// TableDisplay and IntegrationDisplay are each record's display fields
	// as the latest plan that read them saw them; nil when none did.
	TableDisplay, IntegrationDisplay plan.Display
}

// CouplingPage is one page of a coupling search.
type CouplingPage struct {
	Rows []CouplingRow
	// Total counts every coupling the search matched.
	Total int64
}

// SearchCouplings lists the couplings of mapping whose table or
// integration id, or either record's display values, contain q (case
// folded; every coupling when q is empty), ordered by table id: limit rows
// from offset. The display values are those plans saved
// (plan_operations); a record no plan read since display fields were
// declared is found by its ids only.
func (d *DB) SearchCouplings(ctx context.Context, mapping, q string, offset, limit int) (CouplingPage, error) {
	var page CouplingPage
	// The latest display of each record on either side, whichever side of
	// an operation it was on: plan ids sort by time.
	rows, err := d.db.QueryContext(ctx, `WITH shown AS (
			SELECT id, arg_max(display, plan_id) AS display FROM (
				SELECT plan_id, source_id AS id, source_display AS display FROM plan_operations WHERE mapping = ? AND source_display IS NOT NULL
				UNION ALL
				SELECT plan_id, dest_id, dest_display FROM plan_operations WHERE mapping = ? AND dest_display IS NOT NULL AND dest_id IS NOT NULL)
			GROUP BY id),
		found AS (
			SELECT c.table_id, c.integration_id, c.coupled_at, c.last_synced_at, coalesce(c.last_result, '') AS last_result,
				t.display AS table_display, i.display AS integration_display
			FROM couplings c LEFT JOIN shown t ON t.id = c.table_id LEFT JOIN shown i ON i.id = c.integration_id
			WHERE c.mapping = ? AND (? = '' OR strpos(lower(c.table_id), lower(?)) > 0 OR strpos(lower(c.integration_id), lower(?)) > 0
				OR strpos(lower(coalesce(t.display, '')), lower(?)) > 0 OR strpos(lower(coalesce(i.display, '')), lower(?)) > 0))
		SELECT *, count(*) OVER () FROM found ORDER BY table_id LIMIT ? OFFSET ?`,
		mapping, mapping, mapping, q, q, q, q, q, limit, offset)
	if err != nil {
		return page, fmt.Errorf("search couplings of mapping %s: %w", mapping, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r CouplingRow
		var synced sql.NullTime
		var tShow, iShow sql.NullString
		if err := rows.Scan(&r.TableID, &r.IntegrationID, &r.CoupledAt, &synced, &r.LastResult, &tShow, &iShow, &page.Total); err != nil {
			return page, fmt.Errorf("search couplings of mapping %s: %w", mapping, err)
		}
		r.CoupledAt, r.LastSynced = r.CoupledAt.UTC(), synced.Time.UTC()
		if !synced.Valid {
			r.LastSynced = time.Time{}
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
		return page, err
	}
	if len(page.Rows) == 0 && offset > 0 {
		// Past the last page: count what there is, for the pager.
		other, err := d.SearchCouplings(ctx, mapping, q, 0, 1)
		page.Total = other.Total
		return page, err
	}
	return page, nil
}
