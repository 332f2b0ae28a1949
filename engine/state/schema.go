package state

// SchemaVersion is the version of the state database layout: schema (the
// version 1 layout) followed by every entry of migrations. A state file
// written by a newer coupler is refused rather than rewritten.
const SchemaVersion = 14

// migration moves a state database from version Version-1 to Version.
type migration struct {
	Version int
	// SQL runs inside the transaction that also records the new version,
	// so that a migration interrupted half way leaves the old version.
	SQL string
}

// migrations are applied in order to a database of an older version, and
// after schema to a new one. Append only: a released migration never
// changes, since state files out there are at its version.
var migrations = []migration{
	{Version: 2, SQL: `
-- write_intents: the writes of a batch being applied, recorded before the
-- batch is sent and removed in the transaction that records its results.
-- A row left behind means the process stopped while the batch was in
-- flight: whether each write happened is found out (by its client key, or
-- by reading the destination) before anything else is written.
CREATE TABLE IF NOT EXISTS write_intents (
	run_id          BIGINT NOT NULL,
	plan_id         VARCHAR NOT NULL,
	mapping         VARCHAR NOT NULL,
	direction       VARCHAR NOT NULL,
	seq             BIGINT NOT NULL,
	op              VARCHAR NOT NULL,
	source_id       VARCHAR NOT NULL,
	dest_id         VARCHAR,
	-- the key a create sends for the new record (client_keys), else NULL
	client_key      VARCHAR,
	-- the fields written, as a JSON object
	fields          VARCHAR NOT NULL,
	source_modified TIMESTAMP,
	source_etag     VARCHAR,
	created_at      TIMESTAMP NOT NULL
);
`},
	{Version: 3, SQL: `
-- change_tokens: per mapping and side read through the service's change
-- tracking (changes: track), the token its next read starts from (an OData
-- delta link). State like a watermark: moved only when apply finishes the
-- run that read up to it.
CREATE TABLE IF NOT EXISTS change_tokens (
	mapping    VARCHAR NOT NULL,
	side       VARCHAR NOT NULL,
	token      VARCHAR NOT NULL,
	updated_at TIMESTAMP NOT NULL,
	PRIMARY KEY (mapping, side)
);

-- plan_change_tokens: per part of a plan whose source was read through
-- change tracking, how (start, delta, restart), the token it read from, the
-- token apply stores when the run ends, and how many records the service
-- reported deleted.
CREATE TABLE IF NOT EXISTS plan_change_tokens (
	plan_id    VARCHAR NOT NULL,
	mapping    VARCHAR NOT NULL,
	direction  VARCHAR NOT NULL,
	mode       VARCHAR NOT NULL,
	base_token VARCHAR,
	new_token  VARCHAR,
	removed    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (plan_id, mapping, direction)
);
`},
	{Version: 4, SQL: `
-- mapping_definitions: per mapping pass, the fingerprint of what it writes
-- (sides, filters, field flows) as of the last run that applied it without
-- a failed record. A plan whose pass differs reads and compares every
-- record: an edited mapping reaches the records synced before the edit.
CREATE TABLE IF NOT EXISTS mapping_definitions (
	mapping     VARCHAR NOT NULL,
	direction   VARCHAR NOT NULL,
	fingerprint VARCHAR NOT NULL,
	updated_at  TIMESTAMP NOT NULL,
	PRIMARY KEY (mapping, direction)
);

-- uncoupled: the source records whose coupling conflicts.delete:
-- remove_coupling removed (their counterpart was deleted), with the source's
-- version then. An incremental plan leaves such a record alone while its
-- version is the same, rather than create the deleted counterpart again
-- only because the record was read once more; a change to it, or a full
-- plan, syncs it again like any uncoupled record, as the product does.
CREATE TABLE IF NOT EXISTS uncoupled (
	mapping         VARCHAR NOT NULL,
	source_side     VARCHAR NOT NULL,
	source_id       VARCHAR NOT NULL,
	source_modified TIMESTAMP,
	source_etag     VARCHAR,
	uncoupled_at    TIMESTAMP NOT NULL,
	PRIMARY KEY (mapping, source_side, source_id)
);

-- plan_parts: per part of a plan, the fingerprint of the pass it was made
-- with, which apply keeps, whether it differed from the kept one, and
-- whether the part is a first sync that would create records in a
-- destination already holding records, which apply refuses unacknowledged.
CREATE TABLE IF NOT EXISTS plan_parts (
	plan_id               VARCHAR NOT NULL,
	mapping               VARCHAR NOT NULL,
	direction             VARCHAR NOT NULL,
	fingerprint           VARCHAR NOT NULL,
	changed               BOOLEAN NOT NULL,
	creates_into_existing BOOLEAN NOT NULL,
	PRIMARY KEY (plan_id, mapping, direction)
);

-- first_sync_acks: mappings whose first sync may create records in a
-- destination that already holds records (coupler acknowledge): the user
-- chose to create them rather than declare match fields or couple.
CREATE TABLE IF NOT EXISTS first_sync_acks (
	mapping         VARCHAR PRIMARY KEY,
	acknowledged_at TIMESTAMP NOT NULL
);
`},
	{Version: 5, SQL: `
-- assigned_values: fields that flow both ways and that a service filled in
-- when coupler created a record there without a value (Business Central's
-- number series numbering a customer made from an account without a
-- number). side and record_id name that record, field its field, and
-- other_field the field of the coupled record on the other side, which the
-- next plan writes the value back to; until then the other side's blank
-- is not written over it. The row goes when the write-back succeeds.
CREATE TABLE IF NOT EXISTS assigned_values (
	mapping     VARCHAR NOT NULL,
	side        VARCHAR NOT NULL,
	record_id   VARCHAR NOT NULL,
	field       VARCHAR NOT NULL,
	other_field VARCHAR NOT NULL,
	assigned_at TIMESTAMP NOT NULL,
	PRIMARY KEY (mapping, side, record_id, field)
);

-- known_after_apply_json: a change's value (JSON text) as the JSON plan
-- shows it. A lookup known only after apply is saved as a placeholder
-- string (plan.KnownAfterApply.Placeholder: NUL, "known after apply", NUL,
-- the mapping, NUL, t or f, NUL, the id), which becomes
-- {"known_after_apply": {"mapping": ..., "side": ..., "id": ...}}
-- (schemas/plan.schema.json). The parts are cut from the JSON text, where
-- they are escaped already; the id is the rest, whatever it holds.
CREATE OR REPLACE MACRO known_after_apply_json(v) AS
	CASE WHEN starts_with(v, '"\u0000known after apply\u0000') THEN
		regexp_replace(regexp_replace(v,
			'^"\\u0000known after apply\\u0000(.*?)\\u0000t\\u0000(.*)"$', '{"known_after_apply":{"mapping":"\1","side":"table","id":"\2"}}'),
			'^"\\u0000known after apply\\u0000(.*?)\\u0000f\\u0000(.*)"$', '{"known_after_apply":{"mapping":"\1","side":"integration","id":"\2"}}')
	ELSE v END;

-- operations: every operation of every plan, one row per changed field
-- (field, before and after NULL for an operation that changes none);
-- before and after are JSON text, a lookup known only after apply as its
-- known_after_apply object.
CREATE OR REPLACE VIEW operations AS
	SELECT o.plan_id, o.mapping, o.direction, o.seq, o.op, o.source_id, o.dest_id, o.reason,
		c.field, known_after_apply_json(c.before) AS before, known_after_apply_json(c.after) AS after
	FROM plan_operations o
	LEFT JOIN plan_changes c ON c.plan_id = o.plan_id AND c.mapping = o.mapping AND c.direction = o.direction AND c.seq = o.seq;
`},
	{Version: 6, SQL: `
-- plan_operations.source_display and dest_display: the record's display
-- fields (a mapping side's display:) on each side as the plan read them,
-- as the JSON text of [{"field": ..., "value": ...}, ...]; NULL when the
-- side names none or the record was not read there (a create's
-- destination). Reports show them beside the ids, and coupler errors
-- beside the ids of a failed record, through its run's plan.
ALTER TABLE plan_operations ADD COLUMN IF NOT EXISTS source_display VARCHAR;
ALTER TABLE plan_operations ADD COLUMN IF NOT EXISTS dest_display VARCHAR;
`},
	{Version: 7, SQL: `
-- plan_mappings.needs_approval: why a part of a plan waits for a
-- person's approval before coupler serve applies it, one reason a line
-- (plan.MappingPlan.NeedsApproval); NULL when it need not.
ALTER TABLE plan_mappings ADD COLUMN IF NOT EXISTS needs_approval VARCHAR;

-- plan_approvals: who approved a plan that needed it, and when (coupler
-- approve, or the Approve button of serve's page).
CREATE TABLE IF NOT EXISTS plan_approvals (
	plan_id     VARCHAR PRIMARY KEY,
	approved_by VARCHAR NOT NULL,
	approved_at TIMESTAMP NOT NULL
);
`},
	{Version: 8, SQL: `
-- plan_unchanged: per part of a plan, how many records it found unchanged.
-- They are counted here instead of listed in plan_operations, a row each:
-- most records of a plan are unchanged, and a row each made every no-op
-- plan of 100,000 records grow the state file by 10 MB (plans saved
-- before version 8 keep their unchanged rows, which count too).
CREATE TABLE IF NOT EXISTS plan_unchanged (
	plan_id   VARCHAR NOT NULL,
	mapping   VARCHAR NOT NULL,
	direction VARCHAR NOT NULL,
	records   BIGINT NOT NULL,
	PRIMARY KEY (plan_id, mapping, direction)
);

-- plan_unchanged_marks: the unchanged records apply still has something
-- to note for: a source version (modified-on, ETag) other than the one
-- its coupling holds, which apply notes there (echo suppression compares
-- it), or a failure on record, which apply clears. In the steady state of
-- a sync it is empty.
-- The staging tables live in an attached in-memory database since
-- version 8 (stagingCatalog); a plan stopped before dropping them left
-- them here.
DROP TABLE IF EXISTS staging_source;
DROP TABLE IF EXISTS staging_dest;

CREATE TABLE IF NOT EXISTS plan_unchanged_marks (
	plan_id         VARCHAR NOT NULL,
	mapping         VARCHAR NOT NULL,
	direction       VARCHAR NOT NULL,
	source_id       VARCHAR NOT NULL,
	dest_id         VARCHAR NOT NULL,
	source_modified TIMESTAMP,
	source_etag     VARCHAR
);
`},
	{Version: 9, SQL: `
-- plan_changes becomes a view over two tables: plan_change_parts numbers
-- the parts of plans, and plan_change_values holds each change under its
-- part's number. A first sync of 100,000 records of ten fields writes a
-- million changes; with the plan, mapping and direction repeated on each,
-- inserting them took twice as long, and so did checkpointing them.
CREATE SEQUENCE IF NOT EXISTS plan_change_part_ids START 1;
CREATE TABLE IF NOT EXISTS plan_change_parts (
	id        INTEGER PRIMARY KEY DEFAULT nextval('plan_change_part_ids'),
	plan_id   VARCHAR NOT NULL,
	mapping   VARCHAR NOT NULL,
	direction VARCHAR NOT NULL,
	UNIQUE (plan_id, mapping, direction)
);
CREATE TABLE IF NOT EXISTS plan_change_values (
	part   INTEGER NOT NULL,
	seq    BIGINT NOT NULL,
	field  VARCHAR NOT NULL,
	before VARCHAR,
	after  VARCHAR
);
INSERT INTO plan_change_parts (plan_id, mapping, direction)
	SELECT DISTINCT plan_id, mapping, direction FROM plan_changes ORDER BY ALL;
INSERT INTO plan_change_values
	SELECT p.id, c.seq, c.field, c.before, c.after
	FROM plan_changes c JOIN plan_change_parts p USING (plan_id, mapping, direction)
	ORDER BY p.id, c.seq, c.field;
DROP TABLE plan_changes;

-- plan_changes: per create or update, each destination field that changes,
-- as JSON text before and after. The operations view reads it by name, as
-- it read the table.
CREATE VIEW plan_changes AS
	SELECT p.plan_id, p.mapping, p.direction, c.seq, c.field, c.before, c.after
	FROM plan_change_values c JOIN plan_change_parts p ON p.id = c.part;
`},
	{Version: 10, SQL: `
-- plan_operations without its primary key. DuckDB read nothing through
-- it (every query scans, skipping the row groups of other plans), and
-- each checkpoint after a plan was saved wrote the whole index again: the
-- checkpoint before a plan's first write grew with every plan kept, from
-- 23 ms with 10,000 operations in the file to 139 ms with 120,000. The
-- diff numbers a part's operations, one seq each.
CREATE TABLE plan_operations_v10 (
	plan_id         VARCHAR NOT NULL,
	mapping         VARCHAR NOT NULL,
	direction       VARCHAR NOT NULL,
	seq             BIGINT NOT NULL,
	op              VARCHAR NOT NULL,
	source_id       VARCHAR NOT NULL,
	dest_id         VARCHAR,
	etag            VARCHAR,
	source_etag     VARCHAR,
	source_modified TIMESTAMP,
	dest_modified   TIMESTAMP,
	reason          VARCHAR,
	source_display  VARCHAR,
	dest_display    VARCHAR
);
INSERT INTO plan_operations_v10
	SELECT plan_id, mapping, direction, seq, op, source_id, dest_id, etag, source_etag, source_modified, dest_modified, reason, source_display, dest_display
	FROM plan_operations ORDER BY plan_id, mapping, direction, seq;
DROP TABLE plan_operations;
ALTER TABLE plan_operations_v10 RENAME TO plan_operations;
`},
	{Version: 11, SQL: `
-- runs without its primary key, for the reason of version 10: the run log
-- is never pruned, and each checkpoint after a run was started wrote the
-- key's index whole again, 30 to 58 ms a checkpoint once the log held
-- 50,000 runs (2 to 6 ms without it); an apply checkpoints each run's
-- start. Ids come from run_ids, and StartRun refuses one taken.
CREATE TABLE runs_v11 (
	id          BIGINT NOT NULL,
	plan_id     VARCHAR NOT NULL,
	mapping     VARCHAR NOT NULL,
	direction   VARCHAR NOT NULL,
	started_at  TIMESTAMP NOT NULL,
	finished_at TIMESTAMP,
	inserted    BIGINT NOT NULL DEFAULT 0,
	modified    BIGINT NOT NULL DEFAULT 0,
	unchanged   BIGINT NOT NULL DEFAULT 0,
	skipped     BIGINT NOT NULL DEFAULT 0,
	failed      BIGINT NOT NULL DEFAULT 0,
	coupled     BIGINT NOT NULL DEFAULT 0,
	deleted     BIGINT NOT NULL DEFAULT 0,
	uncoupled   BIGINT NOT NULL DEFAULT 0
);
INSERT INTO runs_v11
	SELECT id, plan_id, mapping, direction, started_at, finished_at, inserted, modified, unchanged, skipped, failed, coupled, deleted, uncoupled
	FROM runs ORDER BY id;
DROP TABLE runs;
ALTER TABLE runs_v11 RENAME TO runs;
`},
	{Version: 12, SQL: `
-- couplings without its primary key (mapping, table_id) and its unique
-- (mapping, integration_id), for the reason of version 10: no query reads
-- through them (lookups scan or hash-join), and each checkpoint after a
-- record was coupled wrote both indexes whole again: 76 to 79 ms with
-- 100,000 couplings, 2 to 3 ms without them (4 to 5 ms either way with
-- 1,000: BenchmarkCheckpointCouplingAdded). An apply checkpoints at each
-- run's start and end, and DuckDB whenever its log passes 16 MiB. That a
-- record is coupled once per mapping on each side is kept by the code
-- instead: every transaction that adds couplings holds DB.couplingsMu
-- from before it begins until it commits, and checks the couplings it
-- adds against those it then sees (couplingTx).
CREATE TABLE couplings_v12 (
	mapping        VARCHAR NOT NULL,
	table_id       VARCHAR NOT NULL,
	integration_id VARCHAR NOT NULL,
	coupled_at     TIMESTAMP NOT NULL,
	last_synced_at TIMESTAMP,
	last_result    VARCHAR,
	table_modified       TIMESTAMP,
	integration_modified TIMESTAMP,
	table_etag           VARCHAR,
	integration_etag     VARCHAR
);
INSERT INTO couplings_v12
	SELECT mapping, table_id, integration_id, coupled_at, last_synced_at, last_result, table_modified, integration_modified, table_etag, integration_etag
	FROM couplings ORDER BY mapping, table_id;
DROP TABLE couplings;
ALTER TABLE couplings_v12 RENAME TO couplings;
`},
	{Version: 13, SQL: `
-- plan_mappings, plan_parts, plan_fields and plan_unchanged without their
-- primary keys, for the reason of version 10: nothing reads through them
-- (each read scans for one plan's few rows), and each of the four
-- indexes took a block of its own at every checkpoint after a plan was
-- saved: 4 of the 16 blocks of 64 KiB that a plan finding 100,000 records
-- unchanged added to the file. Each part of a plan is saved once, its
-- rows with it: SavePlan inserts the plan's parts, Diff each part's
-- fields and count.
CREATE TABLE plan_mappings_v13 (
	plan_id            VARCHAR NOT NULL,
	position           INTEGER NOT NULL,
	mapping            VARCHAR NOT NULL,
	direction          VARCHAR NOT NULL,
	source_side        VARCHAR NOT NULL,
	source_connector   VARCHAR NOT NULL,
	source_entity      VARCHAR NOT NULL,
	source_key         VARCHAR NOT NULL,
	source_modified    VARCHAR NOT NULL,
	dest_side          VARCHAR NOT NULL,
	dest_connector     VARCHAR NOT NULL,
	dest_entity        VARCHAR NOT NULL,
	dest_key           VARCHAR NOT NULL,
	dest_modified      VARCHAR NOT NULL,
	base_watermark     TIMESTAMP,
	since              TIMESTAMP,
	read_started       TIMESTAMP NOT NULL,
	new_watermark      TIMESTAMP,
	records_read       BIGINT NOT NULL,
	not_modified       BIGINT NOT NULL,
	record             VARCHAR,
	dest_read          BIGINT NOT NULL DEFAULT 0,
	coupled            BIGINT NOT NULL DEFAULT 0,
	warnings           VARCHAR,
	needs_approval     VARCHAR
);
INSERT INTO plan_mappings_v13 SELECT * FROM plan_mappings ORDER BY plan_id, position;
DROP TABLE plan_mappings;
ALTER TABLE plan_mappings_v13 RENAME TO plan_mappings;
CREATE TABLE plan_parts_v13 (
	plan_id               VARCHAR NOT NULL,
	mapping               VARCHAR NOT NULL,
	direction             VARCHAR NOT NULL,
	fingerprint           VARCHAR NOT NULL,
	changed               BOOLEAN NOT NULL,
	creates_into_existing BOOLEAN NOT NULL
);
INSERT INTO plan_parts_v13 SELECT * FROM plan_parts ORDER BY plan_id, mapping, direction;
DROP TABLE plan_parts;
ALTER TABLE plan_parts_v13 RENAME TO plan_parts;
CREATE TABLE plan_fields_v13 (
	plan_id   VARCHAR NOT NULL,
	mapping   VARCHAR NOT NULL,
	direction VARCHAR NOT NULL,
	position  INTEGER NOT NULL,
	field     VARCHAR NOT NULL,
	bind_set  VARCHAR
);
INSERT INTO plan_fields_v13 SELECT * FROM plan_fields ORDER BY plan_id, mapping, direction, position;
DROP TABLE plan_fields;
ALTER TABLE plan_fields_v13 RENAME TO plan_fields;
CREATE TABLE plan_unchanged_v13 (
	plan_id   VARCHAR NOT NULL,
	mapping   VARCHAR NOT NULL,
	direction VARCHAR NOT NULL,
	records   BIGINT NOT NULL
);
INSERT INTO plan_unchanged_v13 SELECT * FROM plan_unchanged ORDER BY plan_id, mapping, direction;
DROP TABLE plan_unchanged;
ALTER TABLE plan_unchanged_v13 RENAME TO plan_unchanged;
`},
	{Version: 14, SQL: `
-- plan_create_values: the field changes of a plan's creates and restores,
-- one row per operation rather than one per change (plan_change_values
-- keeps the others', and the creates of plans saved before version 14).
-- Their changes have no before value, and they are most of a first
-- sync's: 100,000 rows for 10,000 records of ten fields, which took 38 to
-- 42 ms to insert and 46 to 50 ms to checkpoint, against 20 to 24 and 15
-- to 22 ms a row per operation, and which apply read back a row each.
-- fields holds the changes in the order of their fields' names,
-- separated by U+001E; each is the field's name, then U+001F and the
-- value's JSON text, or the name alone for a NULL value. JSON text
-- escapes every control character, and the diff packs no field whose
-- name holds one of the two (packableFields).
CREATE TABLE plan_create_values (
	part   INTEGER NOT NULL,
	seq    BIGINT NOT NULL,
	fields VARCHAR NOT NULL
);
-- plan_changes: every field change of every plan, a row each, unpacked.
CREATE OR REPLACE VIEW plan_changes AS
	SELECT p.plan_id, p.mapping, p.direction, c.seq, c.field, c.before, c.after
	FROM plan_change_values c JOIN plan_change_parts p ON p.id = c.part
	UNION ALL
	SELECT p.plan_id, p.mapping, p.direction, c.seq, split_part(c.item, chr(31), 1) AS field, NULL::VARCHAR AS before,
		CASE WHEN strpos(c.item, chr(31)) > 0 THEN substr(c.item, strpos(c.item, chr(31)) + 1) END AS after
	FROM (SELECT part, seq, unnest(string_split(fields, chr(30))) AS item FROM plan_create_values) c
	JOIN plan_change_parts p ON p.id = c.part;
`},
}

// schema creates every table of the state database. Every statement that
// touches these tables lives in this package.
const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   VARCHAR PRIMARY KEY,
	value VARCHAR NOT NULL
);

-- couplings: which table record is which integration record, per mapping;
-- without its keys since version 12 (see there), one to one all the same.
CREATE TABLE IF NOT EXISTS couplings (
	mapping        VARCHAR NOT NULL,
	table_id       VARCHAR NOT NULL,
	integration_id VARCHAR NOT NULL,
	coupled_at     TIMESTAMP NOT NULL,
	last_synced_at TIMESTAMP,
	last_result    VARCHAR,
	-- the modified-on of each side as of the last sync: a side whose record
	-- is not newer has not changed since (echo suppression)
	table_modified       TIMESTAMP,
	integration_modified TIMESTAMP,
	-- and each side's ETag, which tells a change apart even within the
	-- second that Dataverse stamps modified-on with
	table_etag           VARCHAR,
	integration_etag     VARCHAR,
	PRIMARY KEY (mapping, table_id),
	UNIQUE (mapping, integration_id)
);

-- watermarks: per mapping and side, the latest modified-on already synced.
CREATE TABLE IF NOT EXISTS watermarks (
	mapping    VARCHAR NOT NULL,
	side       VARCHAR NOT NULL,
	value      TIMESTAMP NOT NULL,
	updated_at TIMESTAMP NOT NULL,
	PRIMARY KEY (mapping, side)
);

CREATE TABLE IF NOT EXISTS plans (
	id          VARCHAR PRIMARY KEY,
	created_at  TIMESTAMP NOT NULL,
	full_read   BOOLEAN NOT NULL,
	fingerprint VARCHAR NOT NULL,
	status      VARCHAR NOT NULL,
	applied_at  TIMESTAMP,
	-- name is what plan --out called the plan, to show or apply it by
	name        VARCHAR UNIQUE
);

-- plan_mappings: the parts of a plan; without its key since version 13
-- (see there), as are plan_fields, plan_parts and plan_unchanged.
CREATE TABLE IF NOT EXISTS plan_mappings (
	plan_id            VARCHAR NOT NULL,
	position           INTEGER NOT NULL,
	mapping            VARCHAR NOT NULL,
	direction          VARCHAR NOT NULL,
	source_side        VARCHAR NOT NULL,
	source_connector   VARCHAR NOT NULL,
	source_entity      VARCHAR NOT NULL,
	source_key         VARCHAR NOT NULL,
	source_modified    VARCHAR NOT NULL,
	dest_side          VARCHAR NOT NULL,
	dest_connector     VARCHAR NOT NULL,
	dest_entity        VARCHAR NOT NULL,
	dest_key           VARCHAR NOT NULL,
	dest_modified      VARCHAR NOT NULL,
	base_watermark     TIMESTAMP,
	since              TIMESTAMP,
	read_started       TIMESTAMP NOT NULL,
	new_watermark      TIMESTAMP,
	records_read       BIGINT NOT NULL,
	not_modified       BIGINT NOT NULL,
	record             VARCHAR,
	dest_read          BIGINT NOT NULL DEFAULT 0,
	coupled            BIGINT NOT NULL DEFAULT 0,
	-- warnings, one per line
	warnings           VARCHAR,
	PRIMARY KEY (plan_id, mapping, direction)
);

-- plan_fields: the destination fields of each part of a plan, and how apply
-- writes them (bind_set: as a reference to a record of that entity set).
CREATE TABLE IF NOT EXISTS plan_fields (
	plan_id   VARCHAR NOT NULL,
	mapping   VARCHAR NOT NULL,
	direction VARCHAR NOT NULL,
	position  INTEGER NOT NULL,
	field     VARCHAR NOT NULL,
	bind_set  VARCHAR,
	PRIMARY KEY (plan_id, mapping, direction, position)
);

-- plan_operations: one row per source record read, saying what apply does;
-- since version 8 the unchanged ones are counted in plan_unchanged instead,
-- and since version 10 the table has no primary key (see there).
CREATE TABLE IF NOT EXISTS plan_operations (
	plan_id         VARCHAR NOT NULL,
	mapping         VARCHAR NOT NULL,
	direction       VARCHAR NOT NULL,
	seq             BIGINT NOT NULL,
	op              VARCHAR NOT NULL,
	source_id       VARCHAR NOT NULL,
	dest_id         VARCHAR,
	etag            VARCHAR,
	source_etag     VARCHAR,
	source_modified TIMESTAMP,
	dest_modified   TIMESTAMP,
	reason          VARCHAR,
	PRIMARY KEY (plan_id, mapping, direction, seq)
);

-- plan_changes: per create or update, each destination field that changes,
-- as JSON text before and after. A view since version 9 (see there); a
-- table until then, which this leaves be.
CREATE TABLE IF NOT EXISTS plan_changes (
	plan_id   VARCHAR NOT NULL,
	mapping   VARCHAR NOT NULL,
	direction VARCHAR NOT NULL,
	seq       BIGINT NOT NULL,
	field     VARCHAR NOT NULL,
	before    VARCHAR,
	after     VARCHAR
);

CREATE SEQUENCE IF NOT EXISTS run_ids START 1;

-- runs: one per mapping applied, like the product's integration sync jobs;
-- without its primary key since version 11 (see there).
CREATE TABLE IF NOT EXISTS runs (
	id          BIGINT PRIMARY KEY,
	plan_id     VARCHAR NOT NULL,
	mapping     VARCHAR NOT NULL,
	direction   VARCHAR NOT NULL,
	started_at  TIMESTAMP NOT NULL,
	finished_at TIMESTAMP,
	inserted    BIGINT NOT NULL DEFAULT 0,
	modified    BIGINT NOT NULL DEFAULT 0,
	unchanged   BIGINT NOT NULL DEFAULT 0,
	skipped     BIGINT NOT NULL DEFAULT 0,
	failed      BIGINT NOT NULL DEFAULT 0,
	coupled     BIGINT NOT NULL DEFAULT 0,
	deleted     BIGINT NOT NULL DEFAULT 0,
	uncoupled   BIGINT NOT NULL DEFAULT 0
);

-- record_failures: records whose last run failed, and how often in a row
-- with the same message; after two such runs a record is skipped, left out
-- of plans until coupler retry.
CREATE TABLE IF NOT EXISTS record_failures (
	mapping         VARCHAR NOT NULL,
	direction       VARCHAR NOT NULL,
	source_id       VARCHAR NOT NULL,
	message         VARCHAR NOT NULL,
	failures        INTEGER NOT NULL,
	skipped         BOOLEAN NOT NULL,
	source_modified TIMESTAMP,
	last_run        BIGINT NOT NULL,
	PRIMARY KEY (mapping, direction, source_id)
);

-- run_records: every write apply attempted and every record that failed.
CREATE TABLE IF NOT EXISTS run_records (
	run_id    BIGINT NOT NULL,
	seq       BIGINT NOT NULL,
	source_id VARCHAR NOT NULL,
	dest_id   VARCHAR,
	op        VARCHAR NOT NULL,
	result    VARCHAR NOT NULL,
	message   VARCHAR,
	recorded_at TIMESTAMP NOT NULL
);

-- Views: the stable interface for coupler query (docs/plans-and-reports.md).
-- The operations view is defined by the latest migration that changed it
-- (version 5), not here: this runs at every open and would put an older
-- definition back.

-- errors: the records that failed in the latest run of each mapping and
-- direction, and every record skipped after failing twice (op 'skipped',
-- from the run it last failed in: later runs leave it out, but it stays
-- an error until coupler retry), as coupler errors lists them.
CREATE OR REPLACE VIEW errors AS
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
			(SELECT started_at FROM runs WHERE id = f.last_run), TIMESTAMP '1970-01-01')
	FROM record_failures f WHERE f.skipped;
`
