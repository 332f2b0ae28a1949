// Package odata is the connector for OData v4 services such as Business
// Central's API and Dataverse's Web API. It registers itself as connector
// type "odata".
//
// Reads follow server-driven paging (@odata.nextLink) and stream each page's
// records to the caller; writes are one request per record with bounded
// concurrency, conditional on the record's ETag. Every request goes through
// the shared client of package transport (retries, auth, rate limit).
package odata

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/transport"
)

// Defaults for settings left zero in connectors.Config and Options.
const (
	DefaultMaxConcurrency = 4
	DefaultMaxBodyBytes   = 256 << 20
)

// getChunk is how many ids Get asks for per request. Fifty GUIDs keep the
// URL under 3 KB, well inside the limits of IIS and Azure front doors.
const getChunk = 50

func init() {
	connectors.Register("odata", spec, connectors.FactoryOf(New))
}

// Options are settings that a project file does not carry. The zero value
// gives the defaults.
type Options struct {
	// HTTPClient replaces the client that New builds from the Config with
	// package transport; it must then authenticate requests itself.
	HTTPClient *http.Client
	// RateLimit caps requests per second; 0 means no limit. Ignored when
	// HTTPClient is set.
	RateLimit float64
	// MaxBodyBytes bounds each response body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives debug logs of pages and writes; nil means the
	// Config's Logger, or else slog.Default().
	Logger *slog.Logger
}

// Client is an OData v4 connector. It is safe for concurrent use.
type Client struct {
	base        *url.URL // service root: no trailing slash, no user info, no fragment
	sets        string   // escaped entity path below the root, ending in "/", or "" (see splitServiceRoot)
	http        *http.Client
	pageSize    int
	concurrency int
	batchSize   int    // ops per $batch; <= 1 sends one request per op
	batchFormat string // BatchFormatJSON or BatchFormatMultipart
	// absPaths addresses the requests of a multipart batch by absolute
	// path, as Dataverse documents, rather than relative to the service
	// root; see partTarget.
	absPaths bool
	// selectOnWrite asks for the fields a write's caller reads alone
	// ($select, see selectOnWrite), where the service documents it.
	selectOnWrite bool
	atomic        bool // each $batch is one change set: all or nothing
	altKeys       map[string]AlternateKey
	maxBody       int64
	limits        connectors.ReadLimits // of each read: pages, bytes
	log           *slog.Logger
	schema        schemaCache // Describe's, in metadata.go
	noFold        atomic.Bool // the service refused tolower: see GetFolded
	oneFieldOr    bool        // Business Central: an or in $filter stays on one field (filter.go)
	bindLookups   bool        // lookups are bound and read as _x_value (lookups.go)
	lookups       lookupCache
}

var _ connectors.Connector = (*Client)(nil)

// New returns a Client for the service at cfg.BaseURL with default Options.
//
// The service root, where $metadata and $batch live, is cfg.BaseURL; the
// entity sets are under the settings' EntityPath below it when that is
// set (cfg.Settings is nil or a *Settings). A
// BaseURL whose last segment names a Business Central company, as the URL
// its documentation gives does (…/api/v2.0/companies({id})), is read as
// the root followed by that entity path; see splitServiceRoot.
func New(cfg connectors.Config) (*Client, error) {
	return NewWithOptions(cfg, Options{RateLimit: cfg.RateLimit})
}

// NewWithOptions returns a Client for the service at cfg.BaseURL.
func NewWithOptions(cfg connectors.Config, opts Options) (*Client, error) {
	base, err := parseBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	settings, err := settingsOf(cfg)
	if err != nil {
		return nil, err
	}
	base, sets, err := splitServiceRoot(base, settings.EntityPath)
	if err != nil {
		return nil, fmt.Errorf("odata: entity path: %w", err)
	}
	if err := checkAlternateKeys(settings.AlternateKeys); err != nil {
		return nil, err
	}
	switch settings.Atomicity {
	case "", AtomicityRecord, AtomicityBatch:
	default:
		return nil, fmt.Errorf("odata: atomicity %q is not %q or %q", settings.Atomicity, AtomicityRecord, AtomicityBatch)
	}
	switch settings.Lookups {
	case "", LookupsValue, LookupsBind:
	default:
		return nil, fmt.Errorf("odata: lookups %q is not %q or %q", settings.Lookups, LookupsValue, LookupsBind)
	}
	if settings.Atomicity == AtomicityBatch && settings.BatchSize <= 1 {
		return nil, errors.New("odata: atomicity batch needs batch_size above 1: change sets travel in $batch requests")
	}
	format, err := batchFormat(settings.BatchFormat, base)
	if err != nil {
		return nil, err
	}
	if cfg.PageSize < 0 {
		return nil, fmt.Errorf("odata: page size %d is negative", cfg.PageSize)
	}
	c := &Client{
		base:          base,
		sets:          sets,
		http:          opts.HTTPClient,
		pageSize:      cfg.PageSize,
		concurrency:   cfg.MaxConcurrency,
		batchSize:     min(settings.BatchSize, maxBatchSize),
		batchFormat:   format,
		absPaths:      isDataverse(base),
		selectOnWrite: isDataverse(base),
		atomic:        settings.Atomicity == AtomicityBatch,
		altKeys:       settings.AlternateKeys,
		bindLookups:   settings.BindsLookups(),
		maxBody:       opts.MaxBodyBytes,
		limits:        settings.Limits,
		log:           opts.Logger,
		oneFieldOr:    isBusinessCentral(base),
	}
	if c.concurrency <= 0 {
		c.concurrency = DefaultMaxConcurrency
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.log == nil {
		c.log = cfg.Logger
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("connector", cfg.Name)
	if isBusinessCentral(base) && c.batchSize > maxBCBatchSize {
		// Lowered, not refused: a service taken for Business Central by
		// its URL only sends smaller batches (service.go).
		c.log.Warn("odata: batch_size lowered: Business Central takes at most 100 operations in one $batch", "batch_size", c.batchSize, "sent", maxBCBatchSize)
		c.batchSize = maxBCBatchSize
	}
	if c.http == nil {
		c.http, err = transport.New(transport.Options{
			Auth:       cfg.Auth,
			MaxRetries: cfg.MaxRetries,
			Timeout:    cfg.Timeout,
			RateLimit:  opts.RateLimit,
			CAFile:     cfg.CAFile,
			Logger:     c.log,
			Redactor:   cfg.Redactor,
		})
		if err != nil {
			return nil, fmt.Errorf("odata: %w", err)
		}
	}
	return c, nil
}

// parseBase checks the base URL (see transport.ParseBaseURL).
func parseBase(raw string) (*url.URL, error) {
	u, err := transport.ParseBaseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("odata: %w", err)
	}
	return u, nil
}

// batchFormat checks a configured batch format, and picks one for an empty
// setting from the service: multipart for the Dataverse Web API, which is
// an OData 4.0 service documenting multipart $batch only ("Execute batch
// operations using the Web API"); JSON for every other service, among them
// Business Central, which documents JSON $batch ("Using OData
// transactional $batch requests"), and SAP CAP.
func batchFormat(setting string, base *url.URL) (string, error) {
	switch setting {
	case BatchFormatJSON, BatchFormatMultipart:
		return setting, nil
	case "":
		if isDataverse(base) {
			return BatchFormatMultipart, nil
		}
		return BatchFormatJSON, nil
	default:
		return "", fmt.Errorf("odata: batch format %q is not %q or %q", setting, BatchFormatJSON, BatchFormatMultipart)
	}
}
