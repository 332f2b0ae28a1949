package state

import "github.com/couplerhq/coupler/engine/plan"

// The couplings' columns of each side, by a pass's source and destination:
// the layout every implementation of the state shares (pgstate uses them
// too), so that its SQL names them alike.

// CouplingColumns names the coupling columns holding a pass's source and
// destination ids.
func CouplingColumns(sourceIsTable bool) (src, dst string) {
	if sourceIsTable {
		return "table_id", "integration_id"
	}
	return "integration_id", "table_id"
}

// ModifiedColumns names the coupling columns holding the source's and the
// destination's modified-on as of the last sync.
func ModifiedColumns(sourceIsTable bool) (src, dst string) {
	if sourceIsTable {
		return "table_modified", "integration_modified"
	}
	return "integration_modified", "table_modified"
}

// EtagColumns names the coupling columns holding the source's and the
// destination's ETag as of the last sync.
func EtagColumns(sourceIsTable bool) (src, dst string) {
	if sourceIsTable {
		return "table_etag", "integration_etag"
	}
	return "integration_etag", "table_etag"
}

// SourceSide names the side a pass reads from, as record failures and
// assigned values store it.
func SourceSide(sourceIsTable bool) string {
	if sourceIsTable {
		return plan.SideTable
	}
	return plan.SideIntegration
}

// MarkUnchangedSyncedSQL is the statement that notes, on the couplings of
// a part's unchanged records, the source version its plan read ($1 plan
// id, $2 mapping, $3 direction): plan_unchanged_marks holds the unchanged
// records whose version the coupling lacks; plans saved before DuckDB's
// schema version 8 list every unchanged record in plan_operations.
func MarkUnchangedSyncedSQL(sourceIsTable bool) string {
	src, dst := CouplingColumns(sourceIsTable)
	srcMod, _ := ModifiedColumns(sourceIsTable)
	srcTag, _ := EtagColumns(sourceIsTable)
	return `UPDATE couplings SET ` + srcMod + ` = o.source_modified, ` + srcTag + ` = o.source_etag
		FROM (SELECT plan_id, mapping, source_id, dest_id, source_modified, source_etag FROM plan_unchanged_marks
				WHERE plan_id = $1 AND mapping = $2 AND direction = $3
			UNION ALL SELECT plan_id, mapping, source_id, dest_id, source_modified, source_etag FROM plan_operations
				WHERE plan_id = $1 AND mapping = $2 AND direction = $3 AND op = 'unchanged') o
		WHERE couplings.mapping = o.mapping AND couplings.` + src + ` = o.source_id AND couplings.` + dst + ` = o.dest_id
			-- A record the other pass of this plan wrote already carries that
			-- write's marks; the plan's older reading must not overwrite them.
			AND (couplings.last_synced_at IS NULL OR couplings.last_synced_at < (SELECT created_at FROM plans WHERE id = o.plan_id))`
}
