// Package location says where a coupler state lives: in a DuckDB file (the
// embedded default) or in a PostgreSQL database, in one of its schemas, so
// that several coupler processes share it (issue 17). It is what the
// project file's state: and state_schema: and the --from and --to of
// coupler state migrate are read into. It links no database driver, so
// that the project loader can use it; opening the state is
// engine.OpenStore's.
package location

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultSchema is the PostgreSQL schema a state lives in when none is
// named: PostgreSQL's own default.
const DefaultSchema = "public"

// Location is where a state lives: a DuckDB file, or a PostgreSQL
// database and schema.
type Location struct {
	// Path is the DuckDB file, an absolute path; "" for PostgreSQL.
	Path string
	// URL is the PostgreSQL connection URL (postgres://…), credentials
	// and all; "" for a DuckDB file.
	URL string
	// Schema is the PostgreSQL schema the state's tables live in;
	// DefaultSchema when none was named, "" for a DuckDB file.
	Schema string
}

// IsURL reports whether s is written as a URL (scheme://…) rather than a
// file path. A Windows path such as C:\state.duckdb is not: its scheme
// would be one letter with no "//" after the colon.
func IsURL(s string) bool {
	i := strings.Index(s, "://")
	return i > 1 && schemeRE.MatchString(s[:i])
}

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// IsPostgres reports whether s is a PostgreSQL URL, postgres:// or
// postgresql://, the two schemes libpq and pgx read.
func IsPostgres(s string) bool {
	lower := strings.ToLower(s)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// credentialsRE matches the user:password@ a URL without its scheme
// starts with; keywordRE a libpq keyword/value connection string.
var (
	credentialsRE = regexp.MustCompile(`^[^/\\@:]+:[^/\\@]*@`)
	keywordRE     = regexp.MustCompile(`(?i)^\s*(host|hostaddr|dbname|user|password|port|sslmode)\s*=`)
)

// looksLikePostgres reports whether s, not a URL, was meant as a
// PostgreSQL connection: a URL without its scheme (user:password@host…)
// or with one slash, or a keyword/value string (host=… password=…).
func looksLikePostgres(s string) bool {
	lower := strings.ToLower(s)
	return strings.HasPrefix(lower, "postgres:") || strings.HasPrefix(lower, "postgresql:") ||
		credentialsRE.MatchString(s) || keywordRE.MatchString(s) || strings.Contains(lower, "password=")
}

// schemaRE is what a schema name may be: an unquoted PostgreSQL identifier
// in lower case, so that it means the same quoted or not (psql, pg_dump
// -n), of at most 63 bytes (NAMEDATALEN - 1, past which PostgreSQL cuts a
// name silently).
var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CheckSchema says what is wrong with a schema name, or nil.
func CheckSchema(schema string) error {
	if !schemaRE.MatchString(schema) {
		return fmt.Errorf("schema %q must be lower case letters, digits and _, starting with a letter or _, at most 63 characters", schema)
	}
	if strings.HasPrefix(schema, "pg_") {
		// PostgreSQL reserves them: CREATE SCHEMA refuses the name.
		return fmt.Errorf("schema %q: names starting with pg_ are PostgreSQL's own", schema)
	}
	return nil
}

// Parse reads s, a DuckDB file path (relative to dir when not absolute)
// or a PostgreSQL URL, with schema, the PostgreSQL schema ("" for
// DefaultSchema), which a file path must come without. Errors never quote
// the URL: it may hold a password.
func Parse(s, schema, dir string) (Location, error) {
	if strings.TrimSpace(s) == "" {
		return Location{}, errors.New("the state's location is empty: give a file path or a postgres:// URL")
	}
	if !IsURL(s) {
		if looksLikePostgres(s) {
			// Not quoted: it may hold a password, and taken for a file
			// name it would be printed in every message about the state.
			return Location{}, errors.New("the state's location looks like a PostgreSQL connection but is not a URL: write it postgres://user:password@host:port/database")
		}
		if schema != "" {
			return Location{}, fmt.Errorf("a schema (%s) applies to a PostgreSQL state (postgres://…), not to the DuckDB file %s", schema, s)
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(dir, s)
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			return Location{}, fmt.Errorf("state file %s: %w", s, err)
		}
		return Location{Path: abs}, nil
	}
	if !IsPostgres(s) {
		scheme := s[:strings.Index(s, "://")]
		return Location{}, fmt.Errorf("a state in %s:// is not supported: give a DuckDB file path or a postgres:// URL", scheme)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, errors.New("the PostgreSQL URL is not a valid URL (postgres://user:password@host:port/database?sslmode=…)")
	}
	if strings.Trim(u.Path, "/") == "" {
		return Location{}, errors.New("the PostgreSQL URL names no database: postgres://user:password@host:port/database")
	}
	if schema == "" {
		schema = DefaultSchema
	}
	if err := CheckSchema(schema); err != nil {
		return Location{}, err
	}
	return Location{URL: s, Schema: schema}, nil
}

// Postgres reports whether the state lives in PostgreSQL.
func (l Location) Postgres() bool { return l.URL != "" }

// String names the location for messages: the file, or the URL without
// its password and the schema.
func (l Location) String() string {
	if !l.Postgres() {
		return l.Path
	}
	return Redact(l.URL) + " (schema " + l.Schema + ")"
}

// Redact returns a PostgreSQL URL without its password, for messages.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://(unreadable URL)"
	}
	if q := u.Query(); q.Has("password") {
		// libpq reads a password from the query string too.
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Same reports whether l and o name the same state: the same file, or the
// same schema of a database reached by the same URL. Two URLs that reach
// one database by different hosts are not told apart.
func (l Location) Same(o Location) bool {
	if l.Postgres() != o.Postgres() {
		return false
	}
	if !l.Postgres() {
		return l.Path == o.Path
	}
	return l.Schema == o.Schema && Redact(l.URL) == Redact(o.URL)
}
