package location

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, s, schema string
		want            Location
		err             string
	}{
		{name: "relative file", s: ".coupler/state.duckdb", want: Location{Path: filepath.Join(dir, ".coupler/state.duckdb")}},
		{name: "absolute file", s: "/var/lib/coupler/state.duckdb", want: Location{Path: "/var/lib/coupler/state.duckdb"}},
		{name: "windows-looking file is a file", s: `C:\state.duckdb`, want: Location{Path: filepath.Join(dir, `C:\state.duckdb`)}},
		{name: "postgres", s: "postgres://u:p@db:5432/coupler", want: Location{URL: "postgres://u:p@db:5432/coupler", Schema: "public"}},
		{name: "postgresql with schema", s: "postgresql://db/coupler?sslmode=require", schema: "tenant_a",
			want: Location{URL: "postgresql://db/coupler?sslmode=require", Schema: "tenant_a"}},
		{name: "upper-case scheme", s: "POSTGRES://db/coupler", want: Location{URL: "POSTGRES://db/coupler", Schema: "public"}},
		{name: "empty", s: " ", err: "empty"},
		{name: "other scheme", s: "mysql://u:secret@db/x", err: "mysql:// is not supported"},
		{name: "no database", s: "postgres://u:secret@db:5432/", err: "names no database"},
		{name: "bad URL", s: "postgres://u:secret@db:port/x", err: "not a valid URL"},
		{name: "schema on a file", s: "state.duckdb", schema: "a", err: "applies to a PostgreSQL state"},
		{name: "schema upper case", s: "postgres://db/x", schema: "Tenant", err: `schema "Tenant" must be lower case`},
		{name: "schema too long", s: "postgres://db/x", schema: strings.Repeat("a", 64), err: "at most 63"},
		// What a person may mean as a PostgreSQL URL is refused without
		// being quoted, not taken for a file whose name holds a password.
		{name: "URL without its scheme", s: "u:secret@db:5432/coupler", err: "postgres://"},
		{name: "URL with one slash", s: "postgres:/u:secret@db/coupler", err: "postgres://"},
		{name: "keyword/value string", s: "host=db user=u password=secret dbname=x", err: "postgres://"},
		{name: "schema pg_", s: "postgres://db/x", schema: "pg_x", err: "PostgreSQL's own"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.s, tc.schema, dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) = %+v, %v; want an error with %q", tc.s, got, err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the error quotes the password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tc.s, got, err, tc.want)
			}
		})
	}
}

func TestStringAndSame(t *testing.T) {
	a, _ := Parse("postgres://u:secret@db/x?password=other", "t1", "/")
	if s := a.String(); strings.Contains(s, "secret") || strings.Contains(s, "other") || !strings.Contains(s, "schema t1") {
		t.Errorf("String() = %q; want no password, and the schema", s)
	}
	b, _ := Parse("postgres://u:changed@db/x?password=changed", "t1", "/")
	c, _ := Parse("postgres://u:secret@db/x?password=other", "t2", "/")
	f1, _ := Parse("s.duckdb", "", "/p")
	f2, _ := Parse("/p/./s.duckdb", "", "/")
	if !a.Same(b) || a.Same(c) || !f1.Same(f2) || f1.Same(a) {
		t.Errorf("Same: a~b %v (want true), a~c %v (want false), f1~f2 %v (want true), f1~a %v (want false)", a.Same(b), a.Same(c), f1.Same(f2), f1.Same(a))
	}
}
