package state

import (
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestMigrationsRecreateTablesAsTheyWere: the migrations that drop a
// table's keys by recreating it and copying its rows keep every column
// where it was, with its type, NOT NULL and default, and each row's value
// in its column. The code inserts into these tables by position (SavePlan's
// INSERT INTO plan_mappings VALUES …), and a state file migrated from an
// older version must hold what that version wrote. The engine's
// migration tests cannot tell: their fixtures are made from the migrated
// layout, and compare plans read back through it. A migration that
// recreates a view over tables changed (version 14's plan_changes) keeps
// its columns, and the rows it shows of what was saved before.
func TestMigrationsRecreateTablesAsTheyWere(t *testing.T) {
	for _, c := range []struct {
		version int
		tables  []string
		// seed fills tables that a view of tables reads, which takes
		// no row itself.
		seed []string
	}{
		{10, []string{"plan_operations"}, nil},
		{11, []string{"runs"}, nil},
		{12, []string{"couplings"}, nil},
		{13, []string{"plan_mappings", "plan_parts", "plan_fields", "plan_unchanged"}, nil},
		// plan_changes, now over plan_create_values too, shows the
		// changes of plans saved before as it did.
		{14, []string{"plan_changes", "operations"}, []string{
			`INSERT INTO plan_change_parts VALUES (7, 'p1', 'CUSTOMER', 'to_integration')`,
			`INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id) VALUES ('p1', 'CUSTOMER', 'to_integration', 3, 'create', 'C3')`,
			`INSERT INTO plan_change_values VALUES (7, 3, 'name', NULL, '"Contoso"'), (7, 3, 'city', NULL, NULL)`,
		}},
	} {
		t.Run(fmt.Sprint(c.version), func(t *testing.T) {
			t.Parallel()
			db, err := sql.Open("duckdb", "")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// One connection: an in-memory database is the connection's.
			db.SetMaxOpenConns(1)
			exec := func(q string) {
				t.Helper()
				if _, err := db.ExecContext(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(schema)
			for _, m := range migrations {
				if m.Version < c.version {
					exec(m.SQL)
				}
			}
			before := map[string][]string{}
			for _, q := range c.seed {
				exec(q)
			}
			for _, table := range c.tables {
				if c.seed == nil {
					exec(distinctRow(t, db, table))
				}
				before[table] = describeTable(t, db, table)
			}
			for _, m := range migrations {
				if m.Version == c.version {
					exec(m.SQL)
				}
			}
			for _, table := range c.tables {
				if got := describeTable(t, db, table); !reflect.DeepEqual(got, before[table]) {
					t.Errorf("version %d: %s's columns\n%s\nwant them as before\n%s", c.version, table, strings.Join(got, "\n"), strings.Join(before[table], "\n"))
				}
			}
		})
	}
}

// describeTable returns a table's columns, in order, each as its name,
// type, nullability and default, followed by its rows as JSON objects
// (each value under its column's name), sorted.
func describeTable(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	var out []string
	rows, err := db.QueryContext(t.Context(), `SELECT column_name || ' ' || data_type || ' ' || CASE WHEN is_nullable THEN 'NULL' ELSE 'NOT NULL' END || ' DEFAULT ' || coalesce(column_default, '-')
		FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ? ORDER BY column_index`, table)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, scanStrings(t, rows)...)
	rows, err = db.QueryContext(t.Context(), `SELECT to_json(t)::VARCHAR AS j FROM `+quoteIdent(table)+` t ORDER BY j`)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, scanStrings(t, rows)...)
}

func scanStrings(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// distinctRow returns an INSERT of one row into table whose every column
// holds a value no other column of its type holds (booleans alternate), so
// that a value landing in another column shows.
func distinctRow(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT column_name, data_type, column_index FROM duckdb_columns()
		WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ? ORDER BY column_index`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols, vals []string
	for rows.Next() {
		var name, typ string
		var i int
		if err := rows.Scan(&name, &typ, &i); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, quoteIdent(name))
		switch typ {
		case "VARCHAR":
			vals = append(vals, sqlString(name))
		case "INTEGER", "BIGINT":
			vals = append(vals, fmt.Sprint(1000+i))
		case "TIMESTAMP":
			vals = append(vals, fmt.Sprintf("TIMESTAMP '2001-01-01' + INTERVAL %d DAY", i))
		case "BOOLEAN":
			vals = append(vals, fmt.Sprint(i%2 == 0))
		default:
			t.Fatalf("%s.%s: no distinct value for type %s", table, name, typ)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return `INSERT INTO ` + quoteIdent(table) + ` (` + strings.Join(cols, ", ") + `) VALUES (` + strings.Join(vals, ", ") + `)`
}
