package pgstate

// SchemaVersion is the version of the PostgreSQL state layout: every
// entry of migrations. A state written by a newer coupler is refused
// rather than rewritten, as the DuckDB state's (state.SchemaVersion)
// is; the two count apart, since their histories differ.
const SchemaVersion = 2

// migration moves a state from version Version-1 to Version.
type migration struct {
	Version int
	// SQL runs inside the transaction that also records the new version.
	SQL string
}

// migrations are applied in order. Append only once released: states out
// there are at a released version.
//
// Version 1 is the DuckDB state's layout as of its version 8, table for
// table and column for column, so that a state can be copied from one to
// the other (coupler state migrate) and the same statements read both
// where their dialects agree: VARCHAR is text, TIMESTAMP (UTC by
// convention in DuckDB) is timestamptz. JSON stays text, compared and
// searched as DuckDB's is.
//
// Version 2 adds what reading plans and runs at scale needs: the indexes
// that DuckDB does without (it scans by row group) and the views coupler
// query reads, operations and errors, with the function behind them.
var migrations = []migration{{Version: 1, SQL: `
CREATE TABLE meta (
	key   text PRIMARY KEY,
	value text NOT NULL
);

-- couplings: which table record is which integration record, per mapping.
CREATE TABLE couplings (
	mapping              text NOT NULL,
	table_id             text NOT NULL,
	integration_id       text NOT NULL,
	coupled_at           timestamptz NOT NULL,
	last_synced_at       timestamptz,
	last_result          text,
	table_modified       timestamptz,
	integration_modified timestamptz,
	table_etag           text,
	integration_etag     text,
	PRIMARY KEY (mapping, table_id),
	UNIQUE (mapping, integration_id)
);

-- watermarks: per mapping and side, the latest modified-on already synced.
CREATE TABLE watermarks (
	mapping    text NOT NULL,
	side       text NOT NULL,
	value      timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (mapping, side)
);

-- change_tokens: per mapping and side read through change tracking, the
-- token (an OData delta link) its next read starts from.
CREATE TABLE change_tokens (
	mapping    text NOT NULL,
	side       text NOT NULL,
	token      text NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (mapping, side)
);

-- mapping_definitions: per mapping pass, the fingerprint of what it
-- writes as of the last run that applied it without a failed record.
CREATE TABLE mapping_definitions (
	mapping     text NOT NULL,
	direction   text NOT NULL,
	fingerprint text NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (mapping, direction)
);

-- first_sync_acks: mappings whose first sync may create records in a
-- destination that already holds records (coupler acknowledge).
CREATE TABLE first_sync_acks (
	mapping         text PRIMARY KEY,
	acknowledged_at timestamptz NOT NULL
);

-- uncoupled: source records whose coupling conflicts.delete:
-- remove_coupling removed, with the source's version then.
CREATE TABLE uncoupled (
	mapping         text NOT NULL,
	source_side     text NOT NULL,
	source_id       text NOT NULL,
	source_modified timestamptz,
	source_etag     text,
	uncoupled_at    timestamptz NOT NULL,
	PRIMARY KEY (mapping, source_side, source_id)
);

-- assigned_values: fields a service filled in when coupler created a
-- record there without a value, to write back to the other side.
CREATE TABLE assigned_values (
	mapping     text NOT NULL,
	side        text NOT NULL,
	record_id   text NOT NULL,
	field       text NOT NULL,
	other_field text NOT NULL,
	assigned_at timestamptz NOT NULL,
	PRIMARY KEY (mapping, side, record_id, field)
);

CREATE TABLE plans (
	id          text PRIMARY KEY,
	created_at  timestamptz NOT NULL,
	full_read   boolean NOT NULL,
	fingerprint text NOT NULL,
	status      text NOT NULL,
	applied_at  timestamptz,
	name        text UNIQUE
);

CREATE TABLE plan_mappings (
	plan_id          text NOT NULL,
	position         integer NOT NULL,
	mapping          text NOT NULL,
	direction        text NOT NULL,
	source_side      text NOT NULL,
	source_connector text NOT NULL,
	source_entity    text NOT NULL,
	source_key       text NOT NULL,
	source_modified  text NOT NULL,
	dest_side        text NOT NULL,
	dest_connector   text NOT NULL,
	dest_entity      text NOT NULL,
	dest_key         text NOT NULL,
	dest_modified    text NOT NULL,
	base_watermark   timestamptz,
	since            timestamptz,
	read_started     timestamptz NOT NULL,
	new_watermark    timestamptz,
	records_read     bigint NOT NULL,
	not_modified     bigint NOT NULL,
	record           text,
	dest_read        bigint NOT NULL DEFAULT 0,
	coupled          bigint NOT NULL DEFAULT 0,
	warnings         text,
	needs_approval   text,
	PRIMARY KEY (plan_id, mapping, direction)
);

CREATE TABLE plan_fields (
	plan_id   text NOT NULL,
	mapping   text NOT NULL,
	direction text NOT NULL,
	position  integer NOT NULL,
	field     text NOT NULL,
	bind_set  text,
	PRIMARY KEY (plan_id, mapping, direction, position)
);

CREATE TABLE plan_operations (
	plan_id         text NOT NULL,
	mapping         text NOT NULL,
	direction       text NOT NULL,
	seq             bigint NOT NULL,
	op              text NOT NULL,
	source_id       text NOT NULL,
	dest_id         text,
	etag            text,
	source_etag     text,
	source_modified timestamptz,
	dest_modified   timestamptz,
	reason          text,
	source_display  text,
	dest_display    text,
	PRIMARY KEY (plan_id, mapping, direction, seq)
);

CREATE TABLE plan_changes (
	plan_id   text NOT NULL,
	mapping   text NOT NULL,
	direction text NOT NULL,
	seq       bigint NOT NULL,
	field     text NOT NULL,
	before    text,
	after     text
);

CREATE TABLE plan_change_tokens (
	plan_id    text NOT NULL,
	mapping    text NOT NULL,
	direction  text NOT NULL,
	mode       text NOT NULL,
	base_token text,
	new_token  text,
	removed    bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (plan_id, mapping, direction)
);

CREATE TABLE plan_parts (
	plan_id               text NOT NULL,
	mapping               text NOT NULL,
	direction             text NOT NULL,
	fingerprint           text NOT NULL,
	changed               boolean NOT NULL,
	creates_into_existing boolean NOT NULL,
	PRIMARY KEY (plan_id, mapping, direction)
);

CREATE TABLE plan_approvals (
	plan_id     text PRIMARY KEY,
	approved_by text NOT NULL,
	approved_at timestamptz NOT NULL
);

CREATE TABLE plan_unchanged (
	plan_id   text NOT NULL,
	mapping   text NOT NULL,
	direction text NOT NULL,
	records   bigint NOT NULL,
	PRIMARY KEY (plan_id, mapping, direction)
);

CREATE TABLE plan_unchanged_marks (
	plan_id         text NOT NULL,
	mapping         text NOT NULL,
	direction       text NOT NULL,
	source_id       text NOT NULL,
	dest_id         text NOT NULL,
	source_modified timestamptz,
	source_etag     text
);

CREATE SEQUENCE run_ids START 1;

CREATE TABLE runs (
	id          bigint PRIMARY KEY,
	plan_id     text NOT NULL,
	mapping     text NOT NULL,
	direction   text NOT NULL,
	started_at  timestamptz NOT NULL,
	finished_at timestamptz,
	inserted    bigint NOT NULL DEFAULT 0,
	modified    bigint NOT NULL DEFAULT 0,
	unchanged   bigint NOT NULL DEFAULT 0,
	skipped     bigint NOT NULL DEFAULT 0,
	failed      bigint NOT NULL DEFAULT 0,
	coupled     bigint NOT NULL DEFAULT 0,
	deleted     bigint NOT NULL DEFAULT 0,
	uncoupled   bigint NOT NULL DEFAULT 0
);

CREATE TABLE record_failures (
	mapping         text NOT NULL,
	direction       text NOT NULL,
	source_id       text NOT NULL,
	message         text NOT NULL,
	failures        integer NOT NULL,
	skipped         boolean NOT NULL,
	source_modified timestamptz,
	last_run        bigint NOT NULL,
	PRIMARY KEY (mapping, direction, source_id)
);

CREATE TABLE run_records (
	run_id      bigint NOT NULL,
	seq         bigint NOT NULL,
	source_id   text NOT NULL,
	dest_id     text,
	op          text NOT NULL,
	result      text NOT NULL,
	message     text,
	recorded_at timestamptz NOT NULL
);

CREATE TABLE write_intents (
	run_id          bigint NOT NULL,
	plan_id         text NOT NULL,
	mapping         text NOT NULL,
	direction       text NOT NULL,
	seq             bigint NOT NULL,
	op              text NOT NULL,
	source_id       text NOT NULL,
	dest_id         text,
	client_key      text,
	fields          text NOT NULL,
	source_modified timestamptz,
	source_etag     text,
	created_at      timestamptz NOT NULL
);
`},
	{Version: 2, SQL: `
-- A part's operations, changes and unchanged records are read by plan,
-- mapping and direction, in seq order: apply pages through them.
CREATE INDEX plan_changes_part ON plan_changes (plan_id, mapping, direction, seq);
CREATE INDEX plan_unchanged_marks_part ON plan_unchanged_marks (plan_id, mapping, direction);
CREATE INDEX plan_operations_source ON plan_operations (plan_id, mapping, direction, source_id);
CREATE INDEX plans_created ON plans (created_at, id);
CREATE INDEX runs_part ON runs (plan_id, mapping, direction);
CREATE INDEX run_records_run ON run_records (run_id, seq);
CREATE INDEX write_intents_run ON write_intents (run_id, seq);

-- known_after_apply_json: a change's value (JSON text) as the JSON plan
-- shows it, as the DuckDB state's macro of the same name does: a lookup
-- known only after apply, saved as a placeholder string
-- (plan.KnownAfterApply.Placeholder), becomes
-- {"known_after_apply": {"mapping": ..., "side": ..., "id": ...}}.
CREATE FUNCTION known_after_apply_json(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN starts_with(v, '"\u0000known after apply\u0000') THEN
		regexp_replace(regexp_replace(v,
			'^"\\u0000known after apply\\u0000(.*?)\\u0000t\\u0000(.*)"$', '{"known_after_apply":{"mapping":"\1","side":"table","id":"\2"}}'),
			'^"\\u0000known after apply\\u0000(.*?)\\u0000f\\u0000(.*)"$', '{"known_after_apply":{"mapping":"\1","side":"integration","id":"\2"}}')
	ELSE v END
$$;

-- operations: every operation of every plan, one row per changed field,
-- as the DuckDB state's view.
CREATE VIEW operations AS
	SELECT o.plan_id, o.mapping, o.direction, o.seq, o.op, o.source_id, o.dest_id, o.reason,
		c.field, known_after_apply_json(c.before) AS before, known_after_apply_json(c.after) AS after
	FROM plan_operations o
	LEFT JOIN plan_changes c ON c.plan_id = o.plan_id AND c.mapping = o.mapping AND c.direction = o.direction AND c.seq = o.seq;

-- errors: the failed records of the latest finished run of each mapping
-- and direction, and the skipped records, as the DuckDB state's view.
CREATE VIEW errors AS
	WITH latest AS (SELECT mapping, direction, max(id) AS id FROM runs WHERE finished_at IS NOT NULL GROUP BY mapping, direction)
	SELECT r.mapping, r.direction, rr.run_id, rr.source_id, rr.dest_id, rr.op, rr.message, rr.recorded_at
	FROM latest l JOIN runs r ON r.id = l.id JOIN run_records rr ON rr.run_id = r.id
	WHERE rr.result = 'failure' AND NOT EXISTS (SELECT 1 FROM record_failures f
		WHERE f.mapping = r.mapping AND f.direction = r.direction AND f.source_id = rr.source_id AND f.skipped)
	UNION ALL
	SELECT f.mapping, f.direction, f.last_run, f.source_id,
		(SELECT max(rr.dest_id) FROM run_records rr WHERE rr.run_id = f.last_run AND rr.source_id = f.source_id),
		'skipped',
		'skipped after failing ' || f.failures || ' runs in a row with: ' || f.message || '; coupler retry ' || f.mapping || ' ' || f.source_id || ' once fixed',
		coalesce((SELECT max(rr.recorded_at) FROM run_records rr WHERE rr.run_id = f.last_run AND rr.source_id = f.source_id),
			(SELECT started_at FROM runs WHERE id = f.last_run), TIMESTAMPTZ '1970-01-01 00:00:00+00')
	FROM record_failures f WHERE f.skipped;
`},
}
