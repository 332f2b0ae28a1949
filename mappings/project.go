package mappings

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/state/location"
)

// ProjectFile is the name of the project file in a project directory.
const ProjectFile = "coupler.yaml"

// DefaultStatePath is where the state database lives when the project file
// does not say, relative to the project directory.
const DefaultStatePath = ".coupler/state.duckdb"

// Project is a loaded project: its connectors and table mappings, with the
// position of everything that came from a file.
type Project struct {
	// Dir is the project directory; relative paths in the project file are
	// relative to it.
	Dir string
	// File is the path of the project file.
	File string
	// Version is the project file format version.
	Version int
	// State is where the state database lives: the absolute path of a
	// DuckDB file, or a PostgreSQL URL (postgres://…, credentials and
	// all: print StateLocation's String instead).
	State string
	// StateSchema is the PostgreSQL schema of a PostgreSQL state,
	// location.DefaultSchema unless the project file names one; "" for a
	// DuckDB file.
	StateSchema string
	// Staging bounds the memory of the state database, where plans stage
	// and diff both sides.
	Staging Staging
	// Connectors are the declared connectors, in file order.
	Connectors []*Connector
	// Mappings are the table mappings, in the order they were loaded.
	Mappings []*Mapping
	// Schedule is the project's default schedule for mappings that declare
	// none; nil when the project file declares none either.
	Schedule *Schedule
	// InactivityTimeout is the project's default inactivity timeout: after
	// a run that changed nothing, the next run waits this long instead of
	// the schedule. 0 means no back-off.
	InactivityTimeout time.Duration
	// Approval says which plans wait for a person's approval under coupler
	// serve; DefaultApproval unless the project file says otherwise.
	Approval Approval
	// Sources holds the raw bytes of every file loaded, by its display name,
	// for what watches them (serve reloads when they change).
	Sources map[string][]byte
}

// Staging is the project file's staging: how much memory the state
// database (DuckDB) may take for staging and diffing, and where it spills
// what does not fit.
type Staging struct {
	// MemoryLimit is DuckDB's memory_limit in bytes; 0 when the project
	// file sets none, for DefaultStagingMemoryLimit of DuckDB's threads.
	MemoryLimit int64
	// TempDirectory is where DuckDB spills, an absolute path; the state
	// database's path with ".tmp" appended when the project file sets none
	// (DuckDB's own default for a database file).
	TempDirectory string
}

// DefaultStagingMemoryLimit is staging's memory_limit when the project file
// sets none, for DuckDB on threads worker threads: 128MiB for each thread
// past the first, and at least 128MiB (128MiB on one or two, 384MiB on 4).
// DuckDB's own default is 80% of the machine's memory whatever the input.
// DuckDB takes 250 to 350 MiB more than its limit in a million-record
// plan (the Appender's buffered rows, its allocator's cached pages, its
// code), so on two threads the limit is what keeps that plan under 512
// MiB resident: 404 to 471 MiB at 128MiB, 485 MiB at 192MiB, 750 to 950
// MiB at 512MiB. What the diff
// of a million records cannot spill grows with the threads: on 4 it ran
// out at 256MiB and passed at 384MiB, on 8 it passed at 512MiB
// (docs/operations.md).
func DefaultStagingMemoryLimit(threads int) int64 {
	return int64(max(threads-1, 1)) * (128 << 20)
}

// MinStagingMemoryLimit is the least staging: memory_limit the loader
// takes, a floor against a unit mistyped (512KiB for 512MiB).
const MinStagingMemoryLimit = 64 << 20

// StateLocation returns where the state database lives, as the loader
// checked it.
func (p *Project) StateLocation() location.Location {
	if location.IsURL(p.State) {
		return location.Location{URL: p.State, Schema: p.StateSchema}
	}
	return location.Location{Path: p.State}
}

// Connector returns the connector named name, or nil.
func (p *Project) Connector(name string) *Connector {
	for _, c := range p.Connectors {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Mapping returns the mapping named name, or nil.
func (p *Project) Mapping(name string) *Mapping {
	for _, m := range p.Mappings {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// DefaultWatermarkOverlap is a connector's watermark_overlap when it sets
// none: Dataverse stamps modified-on in whole seconds, so a record written
// in the same second as the last one read must not be missed.
const DefaultWatermarkOverlap = time.Second

// Overlap is the connector's watermark overlap, the default when unset.
func (c *Connector) Overlap() time.Duration {
	if c == nil || c.WatermarkOverlap == 0 {
		return DefaultWatermarkOverlap
	}
	return c.WatermarkOverlap
}

// AlternateKey returns the fields of the alternate key s is keyed by when
// its connector's type declares one for s's entity (connectors.
// AlternateKeyed), nil otherwise.
func (p *Project) AlternateKey(s Side) []string {
	c := p.Connector(s.Connector)
	if c == nil {
		return nil
	}
	if ak, ok := connectors.SettingsOf[connectors.AlternateKeyed](&c.Config); ok {
		return ak.AlternateKey(s.Entity, s.Key)
	}
	return nil
}

// Connector is one system coupler talks to, as declared in the project file.
// Values are already expanded from ${ENV} references.
type Connector struct {
	// Config is what connectors.New builds the connector from: the
	// settings every type has, and the type's own (Config.Settings).
	connectors.Config
	// Entities optionally declares the fields of entity sets, so that
	// validate can check field names without reaching the service. What
	// else an entity declaration says is the type's (Config.Settings).
	Entities map[string]*EntityDecl
	Pos      Pos
	// Unset lists the ${NAME} references of the connector's settings to
	// variables that were not set, when the project was loaded with
	// LoadOptions.DeferUnsetEnv: the connector cannot be built until they
	// are set.
	Unset Diagnostics
}

// UnsetEnv lists the references to unset environment variables of every
// connector (see LoadOptions.DeferUnsetEnv), as errors at their place.
func (p *Project) UnsetEnv() Diagnostics {
	var out Diagnostics
	for _, c := range p.Connectors {
		out = append(out, c.Unset...)
	}
	return out
}

// EntityDecl is what the project file declares about one entity set's
// fields.
type EntityDecl struct {
	// Fields are the field names, in the order declared.
	Fields []string
	// Types gives the EDM type of the fields declared with one
	// (`- creditLimit: Edm.Decimal`), for validate's type check.
	Types map[string]string
	Pos   Pos
}

// Direction says which way a table mapping or field flows, named from the
// table (local, ERP) side as the product names it.
type Direction string

// Directions.
const (
	ToIntegration   Direction = "to_integration"
	FromIntegration Direction = "from_integration"
	Bidirectional   Direction = "bidirectional"
)

// Mapping is a table mapping: which entity on the table side corresponds to
// which entity on the integration side, and how their fields correspond.
type Mapping struct {
	// Name is the mapping's short upper-case code, e.g. CUSTOMER.
	Name string
	// Origin names where the mapping came from: a file path, or
	// "defaults:<set>" for a bundled default.
	Origin string
	Pos    Pos
	// Table is the local (ERP) side; Integration is the other system.
	Table       Side
	Integration Side
	Direction   Direction
	// Filter selects the table-side records that take part; empty means all.
	Filter Expr
	// IntegrationFilter selects the integration-side records that take part.
	IntegrationFilter Expr
	// SyncOnlyCoupled, when true, leaves uncoupled source records alone
	// instead of creating them on the other side.
	SyncOnlyCoupled bool
	// PropagateDeletes deletes the destination record of a coupled source
	// record found deleted; off by default, as in the product.
	PropagateDeletes bool
	// DependsOn names mappings that must run first, as declared; lookups
	// add their own dependencies at compile time.
	DependsOn    []string
	DependsOnPos Pos
	Conflicts    Conflicts
	// Match configures match-based coupling; nil when not declared.
	Match  *Match
	Fields []*Field
	// Schedule is when coupler serve runs the mapping; nil inherits the
	// project's (see Project.ScheduleOf).
	Schedule *Schedule
	// InactivityTimeout, when HasInactivityTimeout, overrides the project's.
	InactivityTimeout    time.Duration
	HasInactivityTimeout bool
}

// Conflict policies.
const (
	PolicyNone               = "none"
	UpdateSendToIntegration  = "send_to_integration"
	UpdateGetFromIntegration = "get_from_integration"
	DeleteRestore            = "restore"
	DeleteRemoveCoupling     = "remove_coupling"
)

// Conflicts says how to settle a record changed on both sides (Update) and
// a coupled record deleted on one side (Delete). Empty means none: the
// record fails and is listed.
type Conflicts struct {
	Update string
	Delete string
	Pos    Pos
}

// Match configures match-based coupling: uncoupled records are paired by
// equal values of the match fields, trying priority groups in order.
type Match struct {
	Fields []MatchField
	// CreateIfNoMatch creates the record on the other side when no match is
	// found, as a full synchronization would.
	CreateIfNoMatch bool
	// SyncAfter synchronizes each record right after it is coupled.
	SyncAfter bool
	Pos       Pos
}

// MatchField is one pair of fields compared when matching.
type MatchField struct {
	Field            string
	IntegrationField string
	// Priority groups fields: the lowest priority group is tried first, the
	// next only for records it left unmatched.
	Priority      int
	CaseSensitive bool
	Pos           Pos
}

// Side is one end of a table mapping.
type Side struct {
	Connector string
	Entity    string
	Key       string
	Modified  string
	Pos       Pos
	// Changes says how incremental reads of this side find what changed:
	// "" or ChangesModified by the Modified field and the watermark,
	// ChangesTrack through the service's change tracking (changes.go).
	Changes    string
	ChangesPos Pos
	// EntityPos is where the entity is named, for errors about it.
	EntityPos Pos
	// Display names the fields reports show beside a record's id (a
	// customer's number and name), in order; DisplayPos says where each is
	// written. They are read with the side's other fields.
	Display    []string
	DisplayPos []Pos
	// Known are the fields of the side's entity known without asking the
	// service: declared under its connector's entities, or known to the
	// connector's type (a choice's options); nil when not known. Set by
	// the loader; names are checked against them (KnownField).
	Known []string
	// Types gives the EDM type of the known fields declared with one;
	// what a mapping writes to them is checked against it (FieldType).
	Types map[string]string
}

// FieldType returns the EDM type field is declared with, "" when none.
func (s Side) FieldType(field string) string {
	return s.Types[field]
}

// KnownField checks field against the side's known fields: it returns ""
// when they are not known or hold it, else what is wrong with it ("is not
// a declared field of bc customers"), with the closest known name.
func (s Side) KnownField(field string) string {
	if s.Known == nil || field == "" || slices.Contains(s.Known, field) {
		return ""
	}
	msg := fmt.Sprintf("is not a declared field of %s %s", s.Connector, s.Entity)
	best, bestDist := "", 3
	for _, k := range s.Known {
		if d := EditDistance(strings.ToLower(field), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg
}

// Field is a field mapping. Field or IntegrationField may be empty for a
// constant-only mapping.
type Field struct {
	Field            string
	IntegrationField string
	// ToIntegration transforms the table value before it is written to the
	// integration side; empty copies the value.
	ToIntegration Expr
	// FromIntegration transforms the integration value before it is written
	// to the table side; empty copies the value.
	FromIntegration Expr
	// Constant, when HasConstant, is written instead of any source value;
	// ConstantPos is where.
	Constant    any
	HasConstant bool
	ConstantPos Pos
	// Enabled is false for a field mapping that is kept but not used.
	Enabled bool
	// Direction bounds which way this field flows; empty inherits the
	// mapping's direction.
	Direction Direction
	// NotNull never overwrites the destination with null.
	NotNull bool
	// ClearOnFailure writes null when the value or lookup cannot be
	// computed, instead of failing the record.
	ClearOnFailure bool
	// CreateOnly writes the field when the record is created (or restored),
	// never to a record that exists: a key the destination will not let
	// change, a value people own after creation.
	CreateOnly bool
	// Lookup names the mapping whose couplings translate the value, e.g. a
	// salesperson code into a user id.
	Lookup    string
	LookupPos Pos
	// Options translates source values (as text) into destination values;
	// OptionPos is where each destination value is written.
	Options   map[string]any
	OptionPos map[string]Pos
	// Default is written when no option matches; without it the record
	// fails. DefaultPos is where it is written.
	Default    any
	HasDefault bool
	DefaultPos Pos
	OptionsPos Pos
	Pos        Pos
}

// Expr is an expression as written in a file, with where it was written so
// that compile errors point into the YAML.
type Expr struct {
	Source string
	Pos    Pos
	// quoted and block record the YAML scalar style, which decides how a
	// position inside Source maps to the file.
	quoted bool
	block  bool
}

// Widens reports whether a field direction reaches beyond its table's.
func (dir Direction) Widens(table Direction) bool {
	return table != Bidirectional && dir != table
}

// Flows reports whether something declared with direction dir flows in the
// one-way direction way.
func (dir Direction) Flows(way Direction) bool {
	return dir == way || dir == Bidirectional
}

// IsZero reports whether no expression was given.
func (e Expr) IsZero() bool { return e.Source == "" }
