package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// Part names one direction of one mapping within a plan: the unit that is
// diffed, listed and applied.
type Part struct {
	PlanID    string
	Mapping   string
	Direction string
}

// DiffSpec says how to compare the staged rows of one mapping.
type DiffSpec struct {
	Part
	// SourceIsTable is true when the table side is the source (to_integration).
	SourceIsTable bool
	// Fields are the destination fields, in staged value order.
	Fields []DestField
	// SyncOnlyCoupled leaves uncoupled source records alone.
	SyncOnlyCoupled bool
	// DestEntity names the destination in reasons, e.g. "accounts".
	DestEntity string
	// OnlyIfChanged plans an update only for a source record modified since
	// its last sync, so that what coupler wrote does not come back as a
	// change; bidirectional mappings need it.
	OnlyIfChanged bool
	// Match, when set, couples an uncoupled source record to the one
	// destination record whose match columns equal its own.
	Match *MatchSpec
	// MatchOnly plans coupling only: coupled records are left alone.
	MatchOnly bool
	// Full is true for a full read: records uncoupled by conflicts.delete:
	// remove_coupling are then synced again like any uncoupled record, as
	// the product's full synchronization does; an incremental plan leaves
	// them while they have not changed since.
	Full bool
	// RepairOneWay, with OnlyIfChanged, still compares the fields that flow
	// one way (not Both) of a record unchanged since its last sync: the
	// source owns them, so a different destination value is drift (or a
	// value the source's service assigned when coupler created the record
	// there), which the plan writes back. Fields that flow both ways are
	// left to the other pass.
	RepairOneWay bool
	// DeletePolicy settles a coupled record whose destination was deleted:
	// "restore", "remove_coupling", DeletePropagated, or "" to fail it.
	DeletePolicy string

	// assigned is set by Diff when the mapping has values a service
	// assigned (assigned_values): only then does the diff look for them.
	assigned bool
}

// DeletePropagated is the delete policy of a pass whose missing destination
// records are deletions the other pass propagates: they are left out.
const DeletePropagated = "propagated"

// MatchSpec configures match-based coupling in a diff.
type MatchSpec struct {
	// Groups lists, in priority order, the match columns that must all be
	// equal for a match; the next group is tried for records with none.
	Groups [][]int
	// Labels names each group's fields, for messages.
	Labels []string
	// CaseSensitive says, per match column, whether case matters.
	CaseSensitive []bool
	// CreateIfNoMatch creates records nothing matches; otherwise they are
	// left out.
	CreateIfNoMatch bool
	// SyncAfter writes the source's values to a record right after
	// coupling it.
	SyncAfter bool
}

// DestField is a destination field as the diff and apply see it.
type DestField struct {
	Name string
	// NotNull keeps the destination's value when the source's is null.
	NotNull bool
	// CreateOnly is written to created and restored records only: a
	// difference on a coupled record is no change.
	CreateOnly bool
	// Both is true for a field that flows both ways: only such fields can
	// make an update conflict.
	Both bool
	// BindSet, when set, makes apply write the value as a reference to a
	// record of that entity set (connectors.Reference), which the
	// connector writes its own way: Dataverse binds it.
	BindSet string
}

// Diff compares the staged source rows with the couplings and the staged
// destination rows, entirely in SQL, and saves one operation per source row
// (and the field changes of creates and updates) under the plan. It returns
// the count of each kind.
func (d *DB) Diff(ctx context.Context, s DiffSpec) (plan.Counts, error) {
	for _, r := range []Role{SourceRows, DestRows} {
		if err := d.dedupe(ctx, r); err != nil {
			return nil, err
		}
	}
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM assigned_values WHERE mapping = ?`, s.Mapping).Scan(&s.assigned); err != nil {
		return nil, fmt.Errorf("values assigned in mapping %s: %w", s.Mapping, err)
	}
	src, dst := CouplingColumns(s.SourceIsTable)
	srcMod, _ := ModifiedColumns(s.SourceIsTable)
	srcTag, _ := EtagColumns(s.SourceIsTable)
	unchangedSinceSync := "false"
	if s.OnlyIfChanged {
		// The ETag decides when both are known: it changes with every
		// write, even within one second of modified-on.
		unchangedSinceSync = "(CASE WHEN c." + srcTag + " IS NOT NULL AND s.etag IS NOT NULL THEN s.etag = c." + srcTag +
			" ELSE c." + srcMod + " IS NOT NULL AND s.modified IS NOT NULL AND s.modified <= c." + srcMod + " END)"
	}
	var distinct, oneWay, writeBacks []string
	for i, f := range s.Fields {
		distinct = append(distinct, s.changedSQL(i, f))
		if !f.Both {
			oneWay = append(oneWay, changedSQL(i, f))
		} else if wb := s.writeBackSQL(i, f); wb != "false" {
			writeBacks = append(writeBacks, wb)
		}
	}
	changed := "false"
	if len(distinct) > 0 {
		changed = strings.Join(distinct, " OR ")
	}
	// A record unchanged since its last sync is still updated to write
	// back what its service assigned when coupler created it.
	writeBack := "false"
	if s.OnlyIfChanged && len(writeBacks) > 0 {
		writeBack = "(" + strings.Join(writeBacks, " OR ") + ")"
	}
	drifted := "false"
	if s.OnlyIfChanged && s.RepairOneWay && len(oneWay) > 0 {
		drifted = "(" + strings.Join(oneWay, " OR ") + ")"
	}
	// The values are compared only for the pairs of records whose values
	// differ at all, found first by the digest staged with each row
	// (Stage.rowDigest, compared in diff_pairs):
	// one join of the source rows with the couplings and the destination
	// rows, all with their values, built two tables of a million rows at
	// a million records, which ran out of memory at 192MiB. Without a
	// difference every changed, drifted and written-back term is false, so
	// each is guarded by there being one (d.key).
	guard := func(expr string) string {
		if expr == "false" {
			return expr
		}
		return "(d.key IS NOT NULL AND (" + expr + "))"
	}
	opsChanged, opsDrifted, opsWriteBack := guard(changed), guard(drifted), guard(writeBack)
	differs, same := "false", "true"
	if len(digested(s.Fields)) > 0 {
		differs, same = "d.key IS NOT NULL AND s.h IS DISTINCT FROM d.h", "s.h = d.h"
	}
	// A quiet source record, the steady state of nearly every one, is
	// coupled to a destination record with the same values, both within
	// their filters, unchanged since its last sync and without a failure:
	// its operation is unchanged with nothing to note, which the plan
	// counts (plan_unchanged) but does not store. Leaving such records out
	// of diff_pairs, and the main join reading only the records in it,
	// made the diff of 100,000 unchanged records twice as fast. Under
	// match_only a coupled record is skipped, so none is quiet.
	quiet := "false"
	if !s.MatchOnly {
		quiet = "s.in_filter AND s.err IS NULL AND c." + dst + " IS NOT NULL AND d.key IS NOT NULL AND d.in_filter AND " + same +
			" AND c." + srcMod + " IS NOT DISTINCT FROM s.modified AND c." + srcTag + " IS NOT DISTINCT FROM s.etag AND sk.source_id IS NULL"
	}
	// Each source record that is not quiet, with its coupling and coupled
	// destination record (what the diff needs of them, without the
	// values), first: the main join then has one large table to build,
	// not two.
	diffPairs := `
CREATE OR REPLACE TEMP TABLE diff_pairs AS
SELECT * EXCLUDE (quiet) FROM (
	SELECT s.key AS skey, c.` + dst + `, c.` + srcMod + `, c.` + srcTag + `,
		d.key AS dest_key, d.etag AS dest_etag, d.modified AS dest_modified, d.display AS dest_display, d.in_filter AS dest_in_filter,
		` + differs + ` AS differs, ` + quiet + ` AS quiet
	FROM ` + stagingTable(SourceRows) + ` s
	LEFT JOIN couplings c ON c.mapping = ? AND c.` + src + ` = s.key
	LEFT JOIN ` + stagingTable(DestRows) + ` d ON d.key = c.` + dst + `
	LEFT JOIN record_failures sk ON sk.mapping = ` + sqlString(s.Mapping) + ` AND sk.direction = ` + sqlString(s.Direction) + ` AND sk.source_id = s.key
) WHERE quiet IS NOT TRUE`
	valuesJoin := `(SELECT p.skey, v.* FROM diff_pairs p JOIN ` + stagingTable(DestRows) + ` v ON v.key = p.dest_key WHERE p.differs) d ON d.skey = s.key`
	// The destination record of an operation: the coupled one, or the one
	// a match found (which only an uncoupled record has).
	dn := func(col string) string { return "c.dest_" + col }
	matchedJoin := ""
	if s.Match != nil && len(s.Match.Groups) > 0 {
		dn = func(col string) string {
			return "CASE WHEN c." + dst + " IS NOT NULL THEN c.dest_" + col + " ELSE dm." + col + " END"
		}
		matchedJoin = `
	LEFT JOIN (SELECT key, etag, modified, display, in_filter FROM ` + stagingTable(DestRows) + `
		WHERE key IN (SELECT dkey FROM matches WHERE n = 1)) dm ON c.` + dst + ` IS NULL AND mt.n = 1 AND dm.key = mt.dkey`
	}
	missingOp, missing := "'fail'", sqlString(fmt.Sprintf("deletion conflict: the coupled %s record no longer exists; set conflicts.delete to restore it or to remove the coupling", s.DestEntity))
	switch s.DeletePolicy {
	case "restore":
		missingOp, missing = "'restore'", sqlString(fmt.Sprintf("the coupled %s record was deleted: restored by conflicts.delete: restore", s.DestEntity))
	case "remove_coupling":
		missingOp, missing = "'uncouple'", sqlString(fmt.Sprintf("the coupled %s record was deleted: coupling removed by conflicts.delete: remove_coupling", s.DestEntity))
	case DeletePropagated:
		missingOp, missing = "'skip'", sqlString(fmt.Sprintf("the coupled %s record was deleted; a full plan deletes this one too (propagate_deletes)", s.DestEntity))
	}
	matchCTE, matchJoin, matchCases, matchReasons := matchSQL(s, src, dst)
	// A source record uncoupled by remove_coupling and unchanged since.
	leftUncoupled := "false"
	if !s.Full {
		leftUncoupled = "(u.source_id IS NOT NULL AND CASE WHEN u.source_etag IS NOT NULL AND s.etag IS NOT NULL THEN s.etag = u.source_etag" +
			" ELSE u.source_modified IS NOT NULL AND s.modified IS NOT NULL AND s.modified <= u.source_modified END)"
	}
	matchOnly := "false"
	if s.MatchOnly {
		matchOnly = "true"
	}
	// Each source record's operation is decided once, into diff_ops, but
	// for the quiet ones; an unchanged record is kept there only when
	// apply has something to note for it (see plan_unchanged_marks), so
	// that the rows a plan stores are its changes, not its records.
	ops := `
CREATE OR REPLACE TEMP TABLE diff_ops AS
` + matchCTE + `
SELECT * FROM (
	SELECT s.key AS source_id, ` + dn("key") + ` AS dest_id, c.` + dst + ` AS coupled_id, ` + dn("etag") + ` AS etag, s.etag AS source_etag, s.modified AS source_modified, ` + dn("modified") + ` AS dest_modified,
		s.display AS source_display, ` + dn("display") + ` AS dest_display,
		CASE
			WHEN NOT s.in_filter THEN 'skip'
			WHEN sk.skipped THEN 'skipped'
			WHEN s.err IS NOT NULL THEN 'fail'
			WHEN ` + matchOnly + ` AND c.` + dst + ` IS NOT NULL THEN 'skip'` + matchCases + `
			WHEN c.` + dst + ` IS NULL AND ? THEN 'skip'
			WHEN c.` + dst + ` IS NULL AND ` + leftUncoupled + ` THEN 'skip'
			WHEN c.` + dst + ` IS NULL THEN 'create'
			WHEN ` + dn("key") + ` IS NULL THEN ` + missingOp + `
			WHEN NOT ` + dn("in_filter") + ` THEN 'skip'
			WHEN ` + unchangedSinceSync + ` AND NOT ` + opsDrifted + ` AND NOT ` + opsWriteBack + ` THEN 'unchanged'
			WHEN ` + opsChanged + ` THEN 'update'
			ELSE 'unchanged'
		END AS op,
		CASE
			WHEN NOT s.in_filter THEN 'left out by filter'
			WHEN sk.skipped THEN ` + skippedReason("sk") + `
			WHEN s.err IS NOT NULL THEN s.err
			WHEN ` + matchOnly + ` AND c.` + dst + ` IS NOT NULL THEN 'already coupled'` + matchReasons + `
			WHEN c.` + dst + ` IS NULL AND ? THEN 'not coupled (sync_only_coupled)'
			WHEN c.` + dst + ` IS NULL AND ` + leftUncoupled + ` THEN 'not coupled since its counterpart was deleted (conflicts.delete: remove_coupling) and not changed since; a change to it or plan --full creates the counterpart again'
			WHEN c.` + dst + ` IS NULL THEN NULL
			WHEN ` + dn("key") + ` IS NULL THEN ` + missing + `
			WHEN NOT ` + dn("in_filter") + ` THEN 'the coupled record is left out by the destination''s filter'
			WHEN ` + unchangedSinceSync + ` AND NOT ` + opsDrifted + ` AND NOT ` + opsWriteBack + ` THEN 'not changed since the last sync'
			WHEN ` + unchangedSinceSync + ` AND ` + opsWriteBack + ` THEN ` + sqlString(fmt.Sprintf("not changed since the last sync, but its service assigned a value when coupler created it (a number series): written back to the coupled %s record", s.DestEntity)) + `
			WHEN ` + unchangedSinceSync + ` THEN 'not changed since the last sync, but a field it owns differs on the destination: written again'
		END AS reason,
		-- what apply notes for an unchanged record: the source's version
		-- on its coupling (MarkUnchangedSynced), a failure cleared
		-- (TrackFailures)
		c.` + srcMod + ` IS DISTINCT FROM s.modified OR c.` + srcTag + ` IS DISTINCT FROM s.etag OR sk.source_id IS NOT NULL AS note
	FROM ` + stagingTable(SourceRows) + ` s
	JOIN diff_pairs c ON c.skey = s.key
	LEFT JOIN record_failures sk ON sk.mapping = ` + sqlString(s.Mapping) + ` AND sk.direction = ? AND sk.source_id = s.key
	LEFT JOIN uncoupled u ON u.mapping = ` + sqlString(s.Mapping) + ` AND u.source_side = ` + sqlString(SourceSide(s.SourceIsTable)) + ` AND u.source_id = s.key` + matchJoin + `
` + matchedJoin + `
	LEFT JOIN ` + valuesJoin + `
) WHERE op <> 'unchanged' OR note`
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// A part is diffed once: its operations again would be applied
	// twice. The keys of plan_unchanged and plan_fields refused a second
	// diff until schema version 13; every diff counts its unchanged
	// records, so a row there is a diff made.
	var diffed bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM plan_unchanged WHERE plan_id = ? AND mapping = ? AND direction = ?`,
		s.PlanID, s.Mapping, s.Direction).Scan(&diffed); err != nil {
		return nil, fmt.Errorf("diff mapping %s: %w", s.Mapping, err)
	}
	if diffed {
		return nil, fmt.Errorf("diff mapping %s (%s): plan %s has its diff already", s.Mapping, s.Direction, s.PlanID)
	}
	args := []any{}
	if s.Match != nil {
		args = append(args, s.Mapping)
	}
	args = append(args, s.SyncOnlyCoupled, s.SyncOnlyCoupled, s.Direction)
	if _, err := tx.ExecContext(ctx, diffPairs, s.Mapping); err != nil {
		return nil, fmt.Errorf("diff mapping %s: pair the coupled records: %w", s.Mapping, err)
	}
	if _, err := tx.ExecContext(ctx, ops, args...); err != nil {
		return nil, fmt.Errorf("diff mapping %s: %w", s.Mapping, err)
	}
	// Operations are numbered in report order: creates, updates, failures,
	// then skips, each by source key.
	_, err = tx.ExecContext(ctx, `
INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id, dest_id, etag, source_etag, source_modified, dest_modified, reason, source_display, dest_display)
SELECT ?, ?, ?, row_number() OVER (ORDER BY CASE op WHEN 'create' THEN 1 WHEN 'restore' THEN 1 WHEN 'couple' THEN 2 WHEN 'update' THEN 3 WHEN 'uncouple' THEN 4
		WHEN 'fail' THEN 5 WHEN 'skipped' THEN 5 WHEN 'skip' THEN 6 ELSE 7 END, source_id), op, source_id, CASE WHEN op = 'create' THEN NULL WHEN op IN ('restore', 'uncouple') THEN coupled_id ELSE dest_id END,
	etag, source_etag, source_modified, dest_modified, reason, source_display, CASE WHEN op = 'create' THEN NULL ELSE dest_display END
FROM diff_ops WHERE op <> 'unchanged'`, s.PlanID, s.Mapping, s.Direction)
	if err != nil {
		return nil, fmt.Errorf("save operations of mapping %s: %w", s.Mapping, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO plan_unchanged_marks (plan_id, mapping, direction, source_id, dest_id, source_modified, source_etag)
		SELECT ?, ?, ?, source_id, dest_id, source_modified, source_etag FROM diff_ops WHERE op = 'unchanged'`, s.PlanID, s.Mapping, s.Direction)
	if err != nil {
		return nil, fmt.Errorf("save unchanged records of mapping %s: %w", s.Mapping, err)
	}
	// Every staged source record (one per key: dedupe) has one operation:
	// those not saved, the quiet ones included, are unchanged.
	_, err = tx.ExecContext(ctx, `INSERT INTO plan_unchanged (plan_id, mapping, direction, records)
		SELECT ?, ?, ?, (SELECT count(*) FROM `+stagingTable(SourceRows)+`) - (SELECT count(*) FROM diff_ops WHERE op <> 'unchanged')`,
		s.PlanID, s.Mapping, s.Direction)
	if err != nil {
		return nil, fmt.Errorf("count unchanged records of mapping %s: %w", s.Mapping, err)
	}
	// A record coupled by matching gets the source's values right away when
	// the mapping says sync_after.
	syncAfter := "NULL"
	if s.Match != nil && s.Match.SyncAfter {
		syncAfter = "'couple'"
	}
	// Without an operation that writes values, the field changes are not
	// looked for: their join still read both sides' rows. Creates (and
	// restores) and updates are counted apart: packed, the creates'
	// changes have a statement of their own, and the row statement, which
	// reads both sides' rows whether it finds an operation or not (5 ms at
	// 10,000 records), runs only when some operation's changes are rows.
	var creates, updates int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE op IN ('create', 'restore')), count(*) FILTER (WHERE op IN ('update', `+syncAfter+`))
		FROM diff_ops`).Scan(&creates, &updates); err != nil {
		return nil, fmt.Errorf("count writes of mapping %s: %w", s.Mapping, err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE diff_ops; DROP TABLE diff_pairs`); err != nil {
		return nil, err
	}
	if len(s.Fields) > 0 {
		// One statement for the part's fields: a statement each cost as
		// much again (3.4 to 5.8 ms against 2.1 to 3.1 for ten fields).
		rows := make([]string, len(s.Fields))
		args := make([]any, 0, 6*len(s.Fields))
		for i, f := range s.Fields {
			rows[i] = "(?, ?, ?, ?, ?, ?)"
			args = append(args, s.PlanID, s.Mapping, s.Direction, i, f.Name, nullString(f.BindSet))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO plan_fields VALUES `+strings.Join(rows, ", "), args...); err != nil {
			return nil, fmt.Errorf("save fields of mapping %s: %w", s.Mapping, err)
		}
	}
	if len(s.Fields) > 0 && creates+updates > 0 {
		// An update of a record unchanged since its last sync repairs its
		// one-way fields only (RepairOneWay), and writes back the values
		// its service assigned.
		couplingJoin, repairOnly := "", "false"
		if drifted != "false" || writeBack != "false" {
			couplingJoin = "\n\tLEFT JOIN couplings c ON c.mapping = o.mapping AND c." + src + " = o.source_id"
			repairOnly = unchangedSinceSync
		}
		// One join of the operations with both sides, each row then
		// unnested into its fields: a SELECT per field joined alike and
		// UNION ALLed built two hash tables a field, all at once, which
		// took more memory with every field and DuckDB thread than the
		// records did (a 24-field mapping over 10 records ran out at
		// 128MiB on 2 threads).
		var cols, names, befores, afters, keeps []string
		for i, f := range s.Fields {
			changedHere := s.changedSQL(i, f)
			if f.Both {
				changedHere = "((" + changedHere + " AND NOT " + repairOnly + ") OR " + s.writeBackSQL(i, f) + ")"
			}
			cols = append(cols, fmt.Sprintf(`
		CASE WHEN o.op IN ('create', 'restore') THEN NULL ELSE d.v%[1]d END AS b%[1]d, s.v%[1]d AS a%[1]d,
		(o.op IN ('create', 'restore') AND %[3]s) OR (o.op IN ('update', %[2]s) AND %[4]s) AS k%[1]d`,
				i, syncAfter, createsSQL(i, f), changedHere))
			names = append(names, sqlString(f.Name))
			befores = append(befores, fmt.Sprintf("b%d", i))
			afters = append(afters, fmt.Sprintf("a%d", i))
			keeps = append(keeps, fmt.Sprintf("k%d", i))
		}
		// A part's creates and restores go a row each into
		// plan_create_values (packCreatesSQL), unless a field's name
		// holds one of its separators.
		rowOps, packed := "'create', 'restore', 'update', "+syncAfter, packableFields(s.Fields)
		if packed {
			rowOps = "'update', " + syncAfter
		}
		q := `INSERT INTO plan_change_values (part, seq, field, before, after)
SELECT ?, seq, field, before, after FROM (
	SELECT seq, unnest([` + strings.Join(names, ", ") + `]) AS field, unnest([` + strings.Join(befores, ", ") + `]) AS before,
		unnest([` + strings.Join(afters, ", ") + `]) AS after, unnest([` + strings.Join(keeps, ", ") + `]) AS keep
	FROM (
		SELECT o.seq,` + strings.Join(cols, ",") + `
		FROM plan_operations o
		JOIN ` + stagingTable(SourceRows) + ` s ON s.key = o.source_id
		LEFT JOIN ` + stagingTable(DestRows) + ` d ON d.key = o.dest_id AND o.op NOT IN ('restore', 'uncouple')` + couplingJoin + `
		WHERE o.plan_id = ? AND o.mapping = ? AND o.direction = ? AND o.op IN (` + rowOps + `)))
WHERE keep`
		part, err := numberPart(ctx, tx, s.Part)
		if err != nil {
			return nil, err
		}
		if updates > 0 || !packed && creates > 0 {
			if _, err := tx.ExecContext(ctx, q, part, s.PlanID, s.Mapping, s.Direction); err != nil {
				return nil, fmt.Errorf("diff fields of mapping %s: %w", s.Mapping, err)
			}
		}
		if packed && creates > 0 {
			if _, err := tx.ExecContext(ctx, packCreatesSQL(s.Fields), part, s.PlanID, s.Mapping, s.Direction); err != nil {
				return nil, fmt.Errorf("diff fields of mapping %s, creates: %w", s.Mapping, err)
			}
		}
	}
	counts, err := countOps(ctx, tx, s.Part)
	if err != nil {
		return nil, err
	}
	return counts, tx.Commit()
}

// Separators of plan_create_values.fields: between changes, and between a
// change's field name and its value.
const (
	changeSeparator = "\x1e"
	valueSeparator  = "\x1f"
)

// packableFields reports whether the changes of a part with these fields
// can be packed into plan_create_values: none of the names holds a
// separator. A value's JSON text holds none, its control characters
// escaped.
func packableFields(fields []DestField) bool {
	for _, f := range fields {
		if f.Name == "" || strings.ContainsAny(f.Name, changeSeparator+valueSeparator) {
			return false
		}
	}
	return true
}

// packCreatesSQL is the statement that saves the field changes of a
// part's creates and restores into plan_create_values, a row per
// operation with a change ($1 part number, $2 plan id, $3 mapping, $4
// direction): the fields a create writes (createsSQL) in the order of
// their names, each with its value's JSON text, or without for a NULL.
// Concatenated, so that each value's text is kept byte for byte.
//
// An operation has a change unless every field it writes is left out
// (not_null and NULL), which is asked of the staged values: a filter on
// the packed text made DuckDB pack every row twice, once to filter, once
// to insert (EXPLAIN ANALYZE: 10 of the statement's 22 ms at 10,000
// creates of ten fields).
func packCreatesSQL(fields []DestField) string {
	byName := make([]int, len(fields))
	for i := range byName {
		byName[i] = i
	}
	slices.SortStableFunc(byName, func(a, b int) int { return strings.Compare(fields[a].Name, fields[b].Name) })
	items := make([]string, len(byName))
	writes := make([]string, 0, len(byName))
	for j, i := range byName {
		w := createsSQL(i, fields[i])
		items[j] = fmt.Sprintf("CASE WHEN %s THEN %s || coalesce(chr(31) || s.v%d, '') END", w, sqlString(fields[i].Name), i)
		writes = append(writes, w)
	}
	where := ""
	if !slices.Contains(writes, "true") {
		where = " AND (" + strings.Join(writes, " OR ") + ")"
	}
	return `INSERT INTO plan_create_values (part, seq, fields)
SELECT ?, o.seq, concat_ws(chr(30), ` + strings.Join(items, ", ") + `)
FROM plan_operations o
JOIN ` + stagingTable(SourceRows) + ` s ON s.key = o.source_id
WHERE o.plan_id = ? AND o.mapping = ? AND o.direction = ? AND o.op IN ('create', 'restore')` + where + `
ORDER BY o.seq`
}

// CoupledNotStaged returns the source ids of a mapping's couplings whose
// source record a full read did not return: deleted, or outside a filter
// the server applied.
func (d *DB) CoupledNotStaged(ctx context.Context, mapping string, sourceIsTable bool) ([]string, error) {
	src, _ := CouplingColumns(sourceIsTable)
	rows, err := d.db.QueryContext(ctx, `SELECT c.`+src+` FROM couplings c WHERE c.mapping = ?
		AND NOT EXISTS (SELECT 1 FROM `+stagingTable(SourceRows)+` s WHERE s.key = c.`+src+`) ORDER BY 1`, mapping)
	if err != nil {
		return nil, fmt.Errorf("coupled records of mapping %s not read: %w", mapping, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// PlanDeletes adds to a part of a plan one delete operation per deleted
// source id: its coupled destination record is deleted, with the version
// staged for it, and the coupling removed.
func (d *DB) PlanDeletes(ctx context.Context, part Part, sourceIsTable bool, deleted []string) error {
	if len(deleted) == 0 {
		return nil
	}
	src, dst := CouplingColumns(sourceIsTable)
	args := []any{part.PlanID, part.Mapping, part.Direction, part.PlanID, part.Mapping, part.Direction, part.Mapping}
	for _, id := range deleted {
		args = append(args, id)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id, dest_id, etag, dest_modified, reason, dest_display)
		SELECT ?, ?, ?, (SELECT coalesce(max(seq), 0) FROM plan_operations WHERE plan_id = ? AND mapping = ? AND direction = ?) + row_number() OVER (ORDER BY c.`+src+`),
			'delete', c.`+src+`, c.`+dst+`, dd.etag, dd.modified, 'the source record was deleted (propagate_deletes)', dd.display
		FROM couplings c LEFT JOIN `+stagingTable(DestRows)+` dd ON dd.key = c.`+dst+`
		WHERE (dd.key IS NULL OR dd.in_filter) AND c.mapping = ? AND c.`+src+` IN (`+strings.TrimSuffix(strings.Repeat("?,", len(deleted)), ",")+`)`, args...)
	if err != nil {
		return fmt.Errorf("plan deletes of mapping %s: %w", part.Mapping, err)
	}
	return nil
}

// Counts returns how many operations of each kind a part of a plan has.
func (d *DB) Counts(ctx context.Context, part Part) (plan.Counts, error) {
	return countOps(ctx, d.db, part)
}

// ConflictSpec says how to settle the update conflicts of one
// bidirectional mapping in a plan.
type ConflictSpec struct {
	PlanID  string
	Mapping string
	// Policy is "send_to_integration", "get_from_integration" or "" (none).
	Policy string
	// ToBoth and FromBoth are the destination fields of each pass that flow
	// both ways: only a change to one of them on each side is a conflict.
	ToBoth, FromBoth []string
	// By says what chose the policy, for the reasons: "conflicts.update:
	// send_to_integration" or "--prefer table", say.
	By string
	// TableConnector and IntegrationConnector name the sides in reasons.
	TableConnector, IntegrationConnector string
}

// SettleConflicts finds the records of a bidirectional mapping that both
// passes of a plan would update in a field that flows both ways: changed on
// both sides since the last sync. With a policy, the losing side's
// operation becomes settled: its changes to those fields are dropped, each
// named in the reason with the value kept and the value dropped (its
// one-way fields still go); without one, both records become conflicts and
// neither side is written.
func (d *DB) SettleConflicts(ctx context.Context, c ConflictSpec) error {
	const to, from = "to_integration", "from_integration"
	if len(c.ToBoth) == 0 || len(c.FromBoth) == 0 {
		return nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	in := func(fields []string) (string, []any) {
		args := make([]any, len(fields))
		for i, f := range fields {
			args[i] = f
		}
		return strings.TrimSuffix(strings.Repeat("?,", len(fields)), ","), args
	}
	toIn, toArgs := in(c.ToBoth)
	fromIn, fromArgs := in(c.FromBoth)
	pairs := `CREATE OR REPLACE TEMP TABLE conflict_pairs AS
		SELECT a.seq AS to_seq, b.seq AS from_seq,
			(SELECT string_agg(field || ' ' || coalesce(x.before, 'null') || ' -> ' || coalesce(x.after, 'null'), ', ' ORDER BY field) FROM plan_changes x
				WHERE x.plan_id = a.plan_id AND x.mapping = a.mapping AND x.direction = a.direction AND x.seq = a.seq AND NOT ` + writtenBackSQL("a", "x") + ` AND x.field IN (` + toIn + `)) AS to_fields,
			(SELECT string_agg(field || ' ' || coalesce(x.before, 'null') || ' -> ' || coalesce(x.after, 'null'), ', ' ORDER BY field) FROM plan_changes x
				WHERE x.plan_id = b.plan_id AND x.mapping = b.mapping AND x.direction = b.direction AND x.seq = b.seq AND NOT ` + writtenBackSQL("b", "x") + ` AND x.field IN (` + fromIn + `)) AS from_fields,
			-- What settling drops, for the losing side's reason: each field
			-- with the value its destination keeps and the one not written.
			(SELECT string_agg(field || ' ' || coalesce(x.before, 'null') || ' kept, ' || coalesce(x.after, 'null') || ' dropped', '; ' ORDER BY field) FROM plan_changes x
				WHERE x.plan_id = a.plan_id AND x.mapping = a.mapping AND x.direction = a.direction AND x.seq = a.seq AND NOT ` + writtenBackSQL("a", "x") + ` AND x.field IN (` + toIn + `)) AS to_settled,
			(SELECT string_agg(field || ' ' || coalesce(x.before, 'null') || ' kept, ' || coalesce(x.after, 'null') || ' dropped', '; ' ORDER BY field) FROM plan_changes x
				WHERE x.plan_id = b.plan_id AND x.mapping = b.mapping AND x.direction = b.direction AND x.seq = b.seq AND NOT ` + writtenBackSQL("b", "x") + ` AND x.field IN (` + fromIn + `)) AS from_settled
		FROM plan_operations a JOIN plan_operations b
			ON b.plan_id = a.plan_id AND b.mapping = a.mapping AND b.direction = ? AND b.op = 'update'
			AND b.source_id = a.dest_id AND b.dest_id = a.source_id
		WHERE a.plan_id = ? AND a.mapping = ? AND a.direction = ? AND a.op = 'update'`
	args := append(append(append(append(append([]any{}, toArgs...), fromArgs...), toArgs...), fromArgs...), from, c.PlanID, c.Mapping, to)
	if _, err := tx.ExecContext(ctx, pairs, args...); err != nil {
		return fmt.Errorf("find update conflicts of mapping %s: %w", c.Mapping, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM conflict_pairs WHERE to_fields IS NULL OR from_fields IS NULL`); err != nil {
		return err
	}
	exec := func(q string, args ...any) {
		if err == nil {
			_, err = tx.ExecContext(ctx, q, args...)
		}
	}
	switch c.Policy {
	case "send_to_integration", "get_from_integration":
		// The losing side's operation is settled, not dropped without a
		// word: coupler keeps no copy of the values last synced, so it
		// cannot tell which side edited a field, and the winner's update
		// writes every two-way field that differs (as the product sends
		// the whole record). The reason names each value dropped, a field
		// only the loser edited included.
		loser, loserSeq, loserIn, loserArgs, settled := from, "from_seq", fromIn, fromArgs, "from_settled"
		winner, other := "the table side", "the integration side"
		if c.TableConnector != "" {
			winner, other = winner+" ("+c.TableConnector+")", other+" ("+c.IntegrationConnector+")"
		}
		if c.Policy == "get_from_integration" {
			loser, loserSeq, loserIn, loserArgs, settled = to, "to_seq", toIn, toArgs, "to_settled"
			winner, other = other, winner
		}
		by := c.By
		if by == "" {
			by = "conflicts.update: " + c.Policy
		}
		prefix := "conflict settled by " + by + ": " + winner + " wins, " + other + "'s values are dropped: "
		exec(`UPDATE plan_operations SET op = 'settled', reason =
				(SELECT ? || p.`+settled+` FROM conflict_pairs p WHERE p.`+loserSeq+` = plan_operations.seq)
			WHERE plan_id = ? AND mapping = ? AND direction = ? AND seq IN (SELECT `+loserSeq+` FROM conflict_pairs)`,
			prefix, c.PlanID, c.Mapping, loser)
		exec(`DELETE FROM plan_change_values WHERE part = (SELECT id FROM plan_change_parts WHERE plan_id = ? AND mapping = ? AND direction = ?)
			AND seq IN (SELECT `+loserSeq+` FROM conflict_pairs) AND field IN (`+loserIn+`)
			AND NOT EXISTS (SELECT 1 FROM plan_operations o WHERE o.plan_id = ? AND o.mapping = ?
				AND o.direction = ? AND o.seq = plan_change_values.seq AND `+writtenBackSQL("o", "plan_change_values")+`)`,
			slices.Concat([]any{c.PlanID, c.Mapping, loser}, loserArgs, []any{c.PlanID, c.Mapping, loser})...)
	default:
		for _, side := range []struct{ direction, seq string }{{to, "to_seq"}, {from, "from_seq"}} {
			exec(`UPDATE plan_operations SET op = 'conflict', reason =
				(SELECT 'changed on both sides since the last sync: the table side would write ' || to_fields ||
					' to the integration, the integration side ' || from_fields || ' to the table; set conflicts.update to settle such conflicts'
					FROM conflict_pairs p WHERE p.`+side.seq+` = plan_operations.seq)
				WHERE plan_id = ? AND mapping = ? AND direction = ? AND seq IN (SELECT `+side.seq+` FROM conflict_pairs)`,
				c.PlanID, c.Mapping, side.direction)
		}
	}
	exec(`DROP TABLE conflict_pairs`)
	if err != nil {
		return fmt.Errorf("settle update conflicts of mapping %s: %w", c.Mapping, err)
	}
	return tx.Commit()
}

// writtenBackSQL is true when plan change x of operation op writes back a
// value the service of op's source assigned when coupler created the
// record (assigned_values): no edit, so never part of an update conflict.
func writtenBackSQL(op, x string) string {
	return "EXISTS (SELECT 1 FROM assigned_values av WHERE av.mapping = " + op + ".mapping AND av.side = CASE " + op +
		".direction WHEN 'to_integration' THEN 'table' ELSE 'integration' END AND av.record_id = " + op + ".source_id AND av.other_field = " + x + ".field)"
}

// NotModified counts the coupled records of a part's mapping that an
// incremental read did not return: they have not changed since the
// watermark. A skipped record the part lists (PlanSkipped) is counted
// there, not here.
//
// It subtracts from the mapping's couplings those of the records read and
// of the skipped ones not read, rather than look for every coupling in
// what was read: the read of an incremental plan is small, the couplings
// many, and anti-joins over a million of them took 0.3 to 1.2 s, the
// subtraction 40 ms. A record has one coupling per mapping, so the
// counts are of distinct keys.
func (d *DB) NotModified(ctx context.Context, part Part, sourceIsTable bool) (int64, error) {
	src, _ := CouplingColumns(sourceIsTable)
	staged := stagingTable(SourceRows)
	var n int64
	err := d.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM couplings WHERE mapping = ?)
		- (SELECT count(DISTINCT s.key) FROM `+staged+` s WHERE EXISTS (SELECT 1 FROM couplings c WHERE c.mapping = ? AND c.`+src+` = s.key))
		- (SELECT count(DISTINCT o.source_id) FROM plan_operations o WHERE o.plan_id = ? AND o.mapping = ? AND o.direction = ? AND o.op = 'skipped'
			AND EXISTS (SELECT 1 FROM couplings c WHERE c.mapping = ? AND c.`+src+` = o.source_id)
			AND NOT EXISTS (SELECT 1 FROM `+staged+` s WHERE s.key = o.source_id))`,
		part.Mapping, part.Mapping, part.PlanID, part.Mapping, part.Direction, part.Mapping).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count unmodified records of mapping %s: %w", part.Mapping, err)
	}
	return n, nil
}

// PlanSkipped adds to a part of a plan one skipped operation per record of
// its mapping and direction that is skipped after failing (TrackFailures)
// and that the plan did not read. The watermark moves on past a skipped
// record, so later plans seldom read it again: listing it in every plan
// keeps it in sight until coupler retry.
func (d *DB) PlanSkipped(ctx context.Context, part Part, sourceIsTable bool) error {
	src, dst := CouplingColumns(sourceIsTable)
	_, err := d.db.ExecContext(ctx, `INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id, dest_id, source_modified, reason)
		SELECT ?, ?, ?, (SELECT coalesce(max(seq), 0) FROM plan_operations WHERE plan_id = ? AND mapping = ? AND direction = ?) + row_number() OVER (ORDER BY f.source_id),
			'skipped', f.source_id, c.`+dst+`, f.source_modified, `+skippedReason("f")+`
		FROM record_failures f LEFT JOIN couplings c ON c.mapping = f.mapping AND c.`+src+` = f.source_id
		WHERE f.mapping = ? AND f.direction = ? AND f.skipped
			AND NOT EXISTS (SELECT 1 FROM plan_operations o WHERE o.plan_id = ? AND o.mapping = ? AND o.direction = ? AND o.source_id = f.source_id)`,
		part.PlanID, part.Mapping, part.Direction, part.PlanID, part.Mapping, part.Direction,
		part.Mapping, part.Direction, part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return fmt.Errorf("list skipped records of mapping %s: %w", part.Mapping, err)
	}
	return nil
}

// skippedReason is the SQL of a skipped record's reason, from the
// record_failures row aliased a.
func skippedReason(a string) string {
	return `'skipped: failed ' || ` + a + `.failures || ' runs in a row with: ' || ` + a + `.message || '; coupler retry ' || ` +
		a + `.mapping || ' ' || ` + a + `.source_id || ' to try again once fixed'`
}

// LatestSourceModified returns the latest modified-on among the staged source
// rows, zero when there are none or none carry a timestamp.
func (d *DB) LatestSourceModified(ctx context.Context) (time.Time, error) {
	var t *time.Time
	if err := d.db.QueryRowContext(ctx, `SELECT max(modified) FROM `+stagingTable(SourceRows)).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("latest modified source row: %w", err)
	}
	if t == nil {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

// DropStaging removes the staging tables once a plan no longer needs them,
// so that the state file does not keep a copy of both systems.
func (d *DB) DropStaging(ctx context.Context) error {
	for _, r := range []Role{SourceRows, DestRows} {
		if _, err := d.db.ExecContext(ctx, `DROP TABLE IF EXISTS `+stagingTable(r)); err != nil {
			return fmt.Errorf("drop %s: %w", stagingTable(r), err)
		}
	}
	return nil
}

// matchSQL builds the parts of the diff that couple uncoupled source
// records to destination records with equal match columns: a CTE ranking
// the matches of each priority group, its join, the CASE branches deciding
// couple or fail, and their reasons.
func matchSQL(s DiffSpec, src, dst string) (cte, join, cases, reasons string) {
	if s.Match == nil || len(s.Match.Groups) == 0 {
		return "", "", "", ""
	}
	var groups []string
	for gi, cols := range s.Match.Groups {
		var on []string
		for _, c := range cols {
			if c < len(s.Match.CaseSensitive) && s.Match.CaseSensitive[c] {
				on = append(on, fmt.Sprintf("d.m%d = s.m%d", c, c))
			} else {
				on = append(on, fmt.Sprintf("lower(d.m%d) = lower(s.m%d)", c, c))
			}
		}
		groups = append(groups, fmt.Sprintf(`g%d AS (
	SELECT s.key AS skey, count(*) AS n, min(d.key) AS dkey, bool_or(d.coupled) AS coupled
	FROM src_free s JOIN dest_rows d ON %s GROUP BY s.key)`, gi, strings.Join(on, " AND ")))
	}
	pick := func(col string) string {
		var whens []string
		for gi := range s.Match.Groups {
			whens = append(whens, fmt.Sprintf("WHEN g%d.n IS NOT NULL THEN g%d.%s", gi, gi, col))
		}
		return "CASE " + strings.Join(whens, " ") + " END"
	}
	var label []string
	for gi := range s.Match.Groups {
		label = append(label, fmt.Sprintf("WHEN g%d.n IS NOT NULL THEN %s", gi, sqlString(s.Match.Labels[gi])))
	}
	var joins []string
	for gi := range s.Match.Groups {
		joins = append(joins, fmt.Sprintf("LEFT JOIN g%d ON g%d.skey = s.key", gi, gi))
	}
	// Only source records that can be coupled take part: a record outside
	// the filter, failing, skipped or coupled must not claim a match.
	mapping, direction := sqlString(s.Mapping), sqlString(s.Direction)
	cte = `WITH dest_rows AS (
	SELECT d.*, EXISTS (SELECT 1 FROM couplings c WHERE c.mapping = ? AND c.` + dst + ` = d.key) AS coupled
	FROM ` + stagingTable(DestRows) + ` d WHERE d.in_filter),
src_free AS (
	SELECT s.* FROM ` + stagingTable(SourceRows) + ` s
	WHERE s.in_filter AND s.err IS NULL
		AND NOT EXISTS (SELECT 1 FROM couplings c WHERE c.mapping = ` + mapping + ` AND c.` + src + ` = s.key)
		AND NOT EXISTS (SELECT 1 FROM record_failures f WHERE f.mapping = ` + mapping + ` AND f.direction = ` + direction + `
			AND f.source_id = s.key AND f.skipped)),
` + strings.Join(groups, ",\n") + `,
matches AS (
	SELECT s.key AS skey, ` + pick("n") + ` AS n, ` + pick("dkey") + ` AS dkey, ` + pick("coupled") + ` AS coupled,
		CASE ` + strings.Join(label, " ") + ` END AS on_fields
	FROM ` + stagingTable(SourceRows) + ` s ` + strings.Join(joins, " ") + `),
claims AS (SELECT dkey, count(*) AS k FROM matches WHERE n = 1 AND NOT coupled GROUP BY dkey)`
	join = `
	LEFT JOIN matches mt ON mt.skey = s.key AND c.` + dst + ` IS NULL
	LEFT JOIN claims cl ON cl.dkey = mt.dkey`
	create := "'skip'"
	noMatch := "'nothing matches on the match fields, and create_if_no_match is off'"
	if s.Match.CreateIfNoMatch {
		create, noMatch = "'create'", "NULL"
	}
	cases = `
			WHEN c.` + dst + ` IS NULL AND mt.n = 1 AND NOT mt.coupled AND cl.k = 1 THEN 'couple'
			WHEN c.` + dst + ` IS NULL AND mt.n >= 1 THEN 'fail'
			WHEN c.` + dst + ` IS NULL THEN ` + create
	entity := sqlString(s.DestEntity)
	reasons = `
			WHEN c.` + dst + ` IS NULL AND mt.n = 1 AND NOT mt.coupled AND cl.k = 1 THEN 'matched on ' || mt.on_fields
			WHEN c.` + dst + ` IS NULL AND mt.n = 1 AND mt.coupled THEN 'matches ' || ` + entity + ` || ' ' || mt.dkey || ' on ' || mt.on_fields || ', which is coupled to another record'
			WHEN c.` + dst + ` IS NULL AND mt.n = 1 THEN cl.k || ' records match the same ' || ` + entity + ` || ' ' || mt.dkey || ' on ' || mt.on_fields
			WHEN c.` + dst + ` IS NULL AND mt.n > 1 THEN mt.n || ' ' || ` + entity + ` || ' records match on ' || mt.on_fields
			WHEN c.` + dst + ` IS NULL THEN ` + noMatch
	return cte, join, cases, reasons
}

// changedSQL is true when staged value i differs between source and
// destination. An empty string and null are the same value here: Business
// Central returns "" where Dataverse stores null, and treating them as
// different would update such fields on every run. A not_null field never
// counts a null source as a change, a create_only field nothing.
func changedSQL(i int, f DestField) string {
	if f.CreateOnly {
		return "false"
	}
	c := fmt.Sprintf(`coalesce(s.v%d, '""') IS DISTINCT FROM coalesce(d.v%d, '""')`, i, i)
	if f.NotNull {
		c = fmt.Sprintf("(s.v%d IS NOT NULL AND %s)", i, c)
	}
	return c
}

// changedSQL is changedSQL for one pass: a field that flows both ways
// whose value the destination's service assigned when coupler created the
// record there is not changed by the source's blank, which is only
// waiting for the write-back (assigned_values).
func (s DiffSpec) changedSQL(i int, f DestField) string {
	c := changedSQL(i, f)
	if !f.Both || !s.assigned || c == "false" {
		return c
	}
	return fmt.Sprintf(`(%s AND NOT (coalesce(s.v%d, '""') = '""' AND %s))`, c, i,
		assignedSQL(s.Mapping, SourceSide(!s.SourceIsTable), "d.key", "field", f.Name))
}

// writeBackSQL is true when field i, which flows both ways, differs and
// the source record holds in it a value its service assigned when coupler
// created it: the value goes back to the record it was created from.
func (s DiffSpec) writeBackSQL(i int, f DestField) string {
	c := changedSQL(i, f)
	if !s.assigned || c == "false" {
		return "false"
	}
	return "(" + c + " AND " + assignedSQL(s.Mapping, SourceSide(s.SourceIsTable), "s.key", "other_field", f.Name) + ")"
}

// assignedSQL is true when the record whose key is the SQL expression key,
// on side, holds a value its service assigned, in the field named name by
// column ("field": that record's, "other_field": the coupled record's).
func assignedSQL(mapping, side, key, column, name string) string {
	return "EXISTS (SELECT 1 FROM assigned_values av WHERE av.mapping = " + sqlString(mapping) + " AND av.side = " + sqlString(side) +
		" AND av.record_id = " + key + " AND av." + column + " = " + sqlString(name) + ")"
}

// digested returns the fields whose values the diff compares, by index:
// those a record's digest covers (Stage.rowDigest), so that two records
// with the same digest have no change to look for.
func digested(fields []DestField) []int {
	var out []int
	for i, f := range fields {
		if changedSQL(i, f) != "false" {
			out = append(out, i)
		}
	}
	return out
}

// createsSQL is true when a create writes staged value i. A null source
// value is written as an update would write it, so that the destination ends
// with the same value whether coupler created the record or updated it (left
// out, the field would keep the service's default until the first update).
// A not_null field never writes null, on create either.
func createsSQL(i int, f DestField) string {
	if f.NotNull {
		return fmt.Sprintf("s.v%d IS NOT NULL", i)
	}
	return "true"
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
