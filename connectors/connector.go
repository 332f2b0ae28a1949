// Package connectors defines how coupler talks to the systems it keeps in
// step: the Connector interface that every protocol implements, the records
// and write operations that cross it, and a registry of connector types by
// the name a project file uses for them ("odata", "rest").
package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/couplerhq/coupler/connectors/redact"
)

// Record is one entity as decoded from the wire. Numbers are json.Number so
// that decimals survive the round trip unchanged; nested objects and arrays
// stay as map[string]any and []any.
type Record = map[string]any

// Entity names an entity set and the fields that identify and version its
// records.
type Entity struct {
	// Name is the entity set (OData) or resource (REST).
	Name string
	// Key is the field holding each record's unique id.
	Key string
	// Modified is the last-modified timestamp field; empty if there is none.
	Modified string
}

// Query says what to read from one entity set.
type Query struct {
	Entity Entity
	// Fields limits the fields returned; empty means all. The key and
	// modified fields are always returned.
	Fields []string
	// Filter is a filter in the connector's own language, as the same
	// connector's FilterPusher.PushFilter returned it; empty means none.
	// The engine never builds one, and still evaluates its own filter on
	// every record read.
	Filter string
	// Since, when set, reads only records whose Entity.Modified is after it,
	// in ascending order of that field; zero reads all.
	Since time.Time
}

// Page is one page of records as the server returned it.
type Page struct {
	Records []Record
	// Date is the server's clock when it answered the read's first request
	// (its HTTP Date header, whole seconds), on every page of the read, also
	// when that first answer held no record handed over; zero when the
	// server sent none. A watermark is capped at it rather than at
	// coupler's clock: records the server stamps after it answered may be
	// missing from the pages already read, and the server's clock, not
	// coupler's, stamps them.
	Date time.Time
}

// ResponseDate is the time in an HTTP response's Date header, or zero when
// the header is absent or malformed.
func ResponseDate(h http.Header) time.Time {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Op is the kind of a write.
type Op string

// Write operation kinds.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// WriteOp is one record to write.
type WriteOp struct {
	Op Op
	// Key identifies the target record for update and delete.
	Key string
	// ETag, when set, makes an update or delete conditional (If-Match): the
	// write fails with ErrStale if the record changed since it was read.
	ETag string
	// Fields are the values to write.
	Fields Record
	// Return names the fields of the written record (WriteResult.Record)
	// the caller reads, besides its key and ETag; nil for all. A
	// connector whose service can answer a write with those alone may
	// (Dataverse: $select on a create or update with return=representation),
	// rather than with every column of the record.
	Return []string
}

// WriteResult is the outcome of one WriteOp, in the same position as the op.
type WriteResult struct {
	// Key of the written record (the new key for a create).
	Key string
	// ETag of the record after the write, when the server returned one.
	ETag string
	// Record is the record after the write when the server returned it.
	Record Record
	// Err is nil when the write succeeded. It wraps ErrStale when the target
	// changed since it was read and ErrNotFound when it no longer exists.
	Err error
}

// ErrStale is returned (wrapped) for a conditional write whose target changed.
var ErrStale = errors.New("record changed since it was read")

// ErrNotFound is returned (wrapped) for a write or read of a missing record.
var ErrNotFound = errors.New("record not found")

// ErrRolledBack is returned (wrapped) for a write that was sent in a change
// set (atomicity: batch) and undone because another write of the same
// change set failed. The record is as it was; the write says nothing about
// the record itself, so the engine retries it at the next run. Its error
// names the other write's failure as text only: it must not read as that
// write's ErrNotFound, ErrStale or HTTP status.
var ErrRolledBack = errors.New("rolled back with its change set")

// ErrNotSent is returned (wrapped) for a write that was never sent: the
// context ended before its turn, or another write of its change set could
// not be encoded. It certainly did not happen, so the engine retries it at
// the next run without reading the destination to find out.
var ErrNotSent = errors.New("not sent")

// NotSent fills the results of ops[from:], which WriteEach did not start
// because ctx ended, with errors wrapping ErrNotSent and cause, each
// wrapped by wrap for the op's entity and key.
func NotSent(results []WriteResult, ops []WriteOp, from int, cause error, wrap func(op WriteOp, err error) error) {
	for i := from; i < len(ops); i++ {
		results[i] = WriteResult{Key: ops[i].Key, Err: wrap(ops[i], fmt.Errorf("%w: %w", ErrNotSent, cause))}
	}
}

// Connector reads and writes the records of one system.
type Connector interface {
	// Read streams the records matching q, one page at a time, to fn. It stops
	// at the first error from fn or from the server.
	Read(ctx context.Context, q Query, fn func(Page) error) error
	// Get returns the records of e whose key is one of ids, with the given
	// fields (all when empty). Missing ids are not an error: they are simply
	// absent from the result.
	Get(ctx context.Context, e Entity, fields []string, ids []string) ([]Record, error)
	// Write performs ops and reports one result per op. The returned error is
	// for failures that stop the whole call (a cancelled context); a failure
	// of one record is reported in its WriteResult and does not stop others.
	Write(ctx context.Context, e Entity, ops []WriteOp) ([]WriteResult, error)
}

// FoldingGetter is implemented by connectors that can find records by the
// value of a field with case ignored, whatever the server's collation (in
// OData, tolower(field) eq 'value'). The engine looks up candidates of a
// case-insensitive match with it; without it, or when it answers
// ErrUnsupported, the engine reads every destination record and compares
// them itself, rather than let the server's collation decide.
type FoldingGetter interface {
	// GetFolded returns the records of e whose field equals one of values
	// with case ignored, with the given fields (all when empty).
	GetFolded(ctx context.Context, e Entity, field string, fields []string, values []string) ([]Record, error)
}

// EntryReader is implemented by connectors that can hand over what Read
// reads as each record's raw JSON values (Entries) instead of a Record
// each: building a map per record, and decoding every value into it, was
// most of a full plan's CPU and allocation (issue 16). The engine stages
// from the raw values what it can, and asks for a Record only when an
// expression needs one.
type EntryReader interface {
	// ReadEntries reads what Read(ctx, q, …) reads, handing fn the records
	// in runs, with the values of fields indexable (Entries.Value). It
	// returns an error wrapping ErrUnsupported, before reading anything,
	// when it cannot read q so; then Read can. Errors from fn are returned
	// unchanged.
	ReadEntries(ctx context.Context, q Query, fields []string, fn func(Entries) error) error
}

// Entries is a run of records read by an EntryReader, each as its members'
// raw JSON. It and every slice it returns are valid only until the fn it
// was handed to returns: its buffers are reused for the next run.
type Entries interface {
	// Len is the number of records.
	Len() int
	// Value is the JSON text of fields[i] (those given to ReadEntries) in
	// record r, exactly as the server sent it; nil when the record has no
	// such member, or when Read would have left it out of the Record (an
	// annotation other than the ETag and lookup targets).
	Value(r, i int) []byte
	// Record is record r as Read hands it over, put into into (cleared
	// first) when into is not nil, so that a caller needing a map per
	// record can reuse one.
	Record(r int, into Record) (Record, error)
	// Date is what Page.Date is for the same record.
	Date() time.Time
}

// ErrUnsupported is returned (wrapped) by an optional capability that the
// service turned out not to support, e.g. a $filter function it refuses.
var ErrUnsupported = errors.New("not supported by the service")

// Config is a connector's settings as written in the project file, after
// ${ENV} references are expanded: the settings every type has, and the
// type's own in Settings.
type Config struct {
	// Name is the connector's name in the project file.
	Name string
	// Type is the registered connector type, e.g. "odata".
	Type string
	// BaseURL is the service's URL (for OData, the service root).
	BaseURL string
	// PageSize is the page size to ask the server for; 0 lets the server pick.
	PageSize int
	// MaxConcurrency bounds concurrent requests; 0 means the connector default.
	MaxConcurrency int
	// Auth is how requests are authenticated.
	Auth Auth
	// Timeout bounds each HTTP request; 0 means the default.
	Timeout time.Duration
	// MaxRetries bounds attempts per request after the first; <0 means the
	// default, so that 0 can mean "never retry".
	MaxRetries int
	// RateLimit caps requests per second; 0 means no limit.
	RateLimit float64
	// CAFile, when set, names a PEM file of certificate authorities trusted
	// in addition to the system's, for services behind a private CA. TLS
	// certificates are always verified: there is no option to turn that off.
	CAFile string
	// WatermarkOverlap is how far before a watermark an incremental read
	// of this service starts (watermark_overlap; 0 means the engine's
	// default): records committed late with an earlier stamp, and stamps of
	// whole seconds, are read again rather than missed.
	WatermarkOverlap time.Duration
	// ClientKeys makes apply choose the key of each record it creates on
	// this service (a GUID derived from the plan and the operation) and send
	// it in the create, so that after a crash it can tell by that key
	// whether the create happened. Dataverse accepts this; Business
	// Central does not. See docs/reliability.md.
	ClientKeys bool
	// Settings are the type's own settings, as its Spec decoded them; nil
	// gives the type's defaults.
	Settings Settings

	// Redactor and Logger are not from the project file: the engine sets
	// them. The Redactor learns secrets the connector obtains as it runs
	// (OAuth2 access tokens); the Logger receives the connector's logs,
	// nil meaning slog.Default().
	Redactor *redact.Redactor
	Logger   *slog.Logger
}

// ETagField is where a record read by any connector carries its version, so
// that the engine can send it back in If-Match: OData's own annotation name,
// which the REST connector fills from the field its configuration names.
const ETagField = "@odata.etag"

// Auth holds credentials. Secret values must never be logged or stored.
type Auth struct {
	// Type is "", "none", "bearer", "basic", "api_key" or "oauth2".
	Type string
	// Token is the bearer token.
	Token string
	// Username and Password are the basic credentials.
	Username string
	Password string
	// Header and Key are the api_key header's name (e.g. X-API-Key) and
	// value.
	Header string
	Key    string
	// In is where an api_key goes: "header" (the default, in Header) or
	// "query", as the query parameter Param of every request, for services
	// that take the key in the URL. Errors and logs redact query values.
	In    string
	Param string
	// TokenURL, ClientID, ClientSecret and Scopes configure the OAuth2
	// client credentials grant.
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
}

// String hides the credentials so that a stray %v cannot leak them.
func (a Auth) String() string {
	if a.Type == "" {
		return "none"
	}
	return a.Type + " (redacted)"
}

// Factory builds a connector from its configuration.
type Factory func(cfg Config) (Connector, error)

// FactoryOf adapts a constructor of a concrete connector type to a
// Factory. On error it returns a nil interface, never a typed nil inside
// one, which would compare unequal to nil.
func FactoryOf[C Connector](newC func(Config) (C, error)) Factory {
	return func(cfg Config) (Connector, error) {
		c, err := newC(cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

var (
	registryMu sync.RWMutex
	registry   = map[string]registered{}
)

// registered is a connector type: how to build it, its config spec, and
// the keys that spec's schema lists, read once at registration.
type registered struct {
	factory                   Factory
	spec                      Spec
	connectorKeys, entityKeys []string
}

// Register makes a connector type available under name, with the spec of
// its settings. It panics if name is registered twice, which is a
// programming error caught at init.
func Register(name string, spec Spec, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("connectors: type registered twice: " + name)
	}
	var schema struct {
		Connector map[string]json.RawMessage `json:"connector"`
		Entity    map[string]json.RawMessage `json:"entity"`
	}
	if err := json.Unmarshal(spec.Schema, &schema); err != nil {
		panic("connectors: type " + name + ": its schema does not parse: " + err.Error())
	}
	registry[name] = registered{factory: f, spec: spec,
		connectorKeys: slices.Sorted(maps.Keys(schema.Connector)), entityKeys: slices.Sorted(maps.Keys(schema.Entity))}
}

// KeysOf returns, sorted, the keys the connector type name adds to a
// connector and to an entity declaration, as its spec's schema lists them.
func KeysOf(name string) (connector, entity []string) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r := registry[name]
	return r.connectorKeys, r.entityKeys
}

// SpecOf returns the config spec of the connector type name.
func SpecOf(name string) (Spec, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[name]
	return r.spec, ok
}

// Types lists the registered connector types in sorted order.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the connector that cfg describes.
func New(cfg Config) (Connector, error) {
	registryMu.RLock()
	r, ok := registry[cfg.Type]
	registryMu.RUnlock()
	f := r.factory
	if !ok {
		return nil, fmt.Errorf("connector %s: unknown type %q (known: %v)", cfg.Name, cfg.Type, Types())
	}
	c, err := f(cfg)
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", cfg.Name, err)
	}
	return c, nil
}

// Describer is implemented by connectors that can describe their entities
// and fields, e.g. from an OData service's $metadata. The engine checks for
// it at run time: validate --online and describe need it.
type Describer interface {
	Describe(ctx context.Context) (*Schema, error)
}

// Schema describes the entity sets a service offers.
type Schema struct {
	// Entities are the entity sets, sorted by name.
	Entities []EntitySchema
}

// Entity returns the entity set named name, or nil.
func (s *Schema) Entity(name string) *EntitySchema {
	for i := range s.Entities {
		if s.Entities[i].Name == name {
			return &s.Entities[i]
		}
	}
	return nil
}

// EntitySchema describes one entity set.
type EntitySchema struct {
	// Name is the entity set's name, as used in URLs.
	Name string
	// Type is the qualified name of its entity type.
	Type string
	// Key names the key properties.
	Key []string
	// Fields are the structural properties, in declaration order.
	Fields []FieldSchema
	// Lookups are single-valued navigation properties: name -> target
	// entity set (empty when the service does not bind it to a set).
	Lookups map[string]string
	// Polymorphic lists the lookups that may point to records of several
	// entity sets (Dataverse's multi-table lookups, such as a contact's
	// parentcustomerid, an account or a contact): lookup name -> target
	// entity set -> the navigation property that binds a record of that
	// set ("parentcustomerid_account"). Those navigation properties are
	// in Lookups too.
	Polymorphic map[string]map[string]string
}

// Field returns the field named name, or nil.
func (e *EntitySchema) Field(name string) *FieldSchema {
	for i := range e.Fields {
		if e.Fields[i].Name == name {
			return &e.Fields[i]
		}
	}
	return nil
}

// FieldSchema describes one property.
type FieldSchema struct {
	Name string
	// Type is the EDM type, e.g. "Edm.String", or a qualified enum or
	// complex type name.
	Type     string
	Nullable bool
}

// Explainer is implemented by connectors that can show the request a read
// would send without sending it, for plan --explain.
type Explainer interface {
	// ExplainRead returns the first request of Read(q), e.g. a URL.
	ExplainRead(q Query) (string, error)
	// ExplainGet returns the first request of Get for ids.
	ExplainGet(e Entity, fields []string, ids []string) string
}

// WriteEach calls write for each op, at most concurrency at a time, and
// returns the results in the ops' order. Ops start in order; once ctx ends
// no further op starts, and started says how many did: the results from
// there on are zero, for the caller to fill with ctx's error.
//
// The ops are taken in turn by concurrency workers, not given a goroutine
// each: a write's HTTP client grows a new goroutine's stack several times
// over, which cost a first sync of 10,000 single requests 20 ms of CPU.
func WriteEach(ctx context.Context, ops []WriteOp, concurrency int, write func(WriteOp) WriteResult) (results []WriteResult, started int) {
	results = make([]WriteResult, len(ops))
	var mu sync.Mutex
	// take returns the next op to start, if ctx has not ended.
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if started == len(ops) || ctx.Err() != nil {
			return 0, false
		}
		started++
		return started - 1, true
	}
	var wg sync.WaitGroup
	for range min(max(concurrency, 1), len(ops)) {
		wg.Go(func() {
			for i, ok := take(); ok; i, ok = take() {
				results[i] = write(ops[i])
			}
		})
	}
	wg.Wait()
	return results, started
}

// ChangeTracker is implemented by connectors whose service can tell what
// changed in an entity set since a point it handed out earlier, deletions
// included: OData's change tracking (Prefer: odata.track-changes and delta
// links), which Dataverse offers for tables with change tracking enabled.
// The engine checks for it with a type assertion when a mapping side asks
// for change tracking (changes: track), and reads the side through it
// instead of by modified-on.
type ChangeTracker interface {
	// Changes reads q.Entity through the service's change tracking and
	// hands fn each page. With q.Token empty it reads every record (no
	// removals) and starts tracking; otherwise it reads only the records
	// created or changed since q.Token was handed out, and the keys of
	// those removed since. It returns the token of the next read, opaque
	// to the caller, once the last page is handed over.
	//
	// An error wrapping ErrTokenExpired means the service no longer knows
	// q.Token: the caller must read everything again (Token empty). One
	// wrapping ErrUnsupported means the service does not track changes of
	// this entity set (e.g. the table's change tracking is off).
	Changes(ctx context.Context, q ChangesQuery, fn func(ChangePage) error) (next string, err error)
}

// ChangesExplainer is implemented by a ChangeTracker that can show the
// first request Changes would send for q, for plan --explain.
type ChangesExplainer interface {
	ExplainChanges(q ChangesQuery) (string, error)
}

// ChangesQuery says what to read through a ChangeTracker.
type ChangesQuery struct {
	Entity Entity
	// Fields limits the fields returned; empty means all. The key and
	// modified fields are always returned.
	Fields []string
	// Token is what the previous read returned; empty starts over with
	// every record.
	Token string
}

// ChangePage is one page of a change-tracking read.
type ChangePage struct {
	// Records are the records created or changed, whole (every field
	// asked for), as Read returns them.
	Records []Record
	// Removed are the keys of records removed from the entity set.
	Removed []string
	// Date is the server's clock when it answered, as in Page.
	Date time.Time
}

// ErrTokenExpired is returned (wrapped) by ChangeTracker.Changes when the
// service no longer accepts the token: changes since then are lost to it,
// and only a read of every record brings the caller back in step.
var ErrTokenExpired = errors.New("change tracking token expired")

// WriteBatcher is implemented by a connector that carries several writes
// in one request (OData's $batch). The engine checks for it with a type
// assertion and hands Write at least size × inFlight writes at a time, so
// that no request goes out half empty and the requests go out together
// rather than one apply batch after another.
type WriteBatcher interface {
	// WriteBatch returns how many writes one request carries and how many
	// such requests the connector keeps in flight at once.
	WriteBatch() (size, inFlight int)
}
