package pgstate

// SchemaVersion is the version of the PostgreSQL state layout: every
// entry of migrations. A state written by a newer coupler is refused
// rather than rewritten, as the DuckDB state's (state.SchemaVersion)
// is; the two count apart, since their histories differ.
const SchemaVersion = 1

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
// searched as DuckDB's is. The views of coupler query (operations,
// errors) are not here yet.
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
`}}
