// Package rest is the generic JSON REST connector, registered as connector
// type "rest". Nothing in it knows a particular API: each entity's requests,
// where its records sit in a response, how pages follow one another and how
// an incremental read is asked for come from the project file (see
// Resource and docs/connectors.md), so that a typical SaaS API
// is described in YAML with no Go code.
//
// Every request goes through the shared client of package transport
// (retries with Retry-After, auth, rate limit, timeouts). Response bodies
// are size-limited, a next link to another origin is refused, and a body
// that does not decode fails with the URL and the byte offset.
package rest

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/transport"
)

// Defaults for settings left zero.
const (
	DefaultMaxConcurrency = 4
	DefaultMaxBodyBytes   = 256 << 20
)

func init() {
	connectors.Register("rest", spec, connectors.FactoryOf(New))
}

// Options are settings that a project file does not carry.
type Options struct {
	// HTTPClient replaces the client New builds with package transport.
	HTTPClient *http.Client
	// MaxBodyBytes bounds each response body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives debug logs of pages; nil means the Config's Logger,
	// or else slog.Default().
	Logger *slog.Logger
}

// Client is a generic JSON REST connector. It is safe for concurrent use.
type Client struct {
	base        *url.URL // no trailing slash, no user info, no fragment
	http        *http.Client
	pageSize    int
	concurrency int
	maxBody     int64
	limits      connectors.ReadLimits // of each read: pages, bytes
	resources   map[string]resource
	log         *slog.Logger
}

var _ connectors.Connector = (*Client)(nil)

// New returns a Client for cfg with default Options.
func New(cfg connectors.Config) (*Client, error) {
	return NewWithOptions(cfg, Options{})
}

// NewWithOptions returns a Client for cfg, whose Settings are nil or a
// *Settings. Every resource in them is checked here, so that a bad path template or time format
// fails when the connector is built, not halfway through a sync.
func NewWithOptions(cfg connectors.Config, opts Options) (*Client, error) {
	base, err := parseBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.PageSize < 0 {
		return nil, fmt.Errorf("rest: page size %d is negative", cfg.PageSize)
	}
	settings, ok := cfg.Settings.(*Settings)
	if !ok && cfg.Settings != nil {
		return nil, fmt.Errorf("rest: settings are %T, not the rest connector's", cfg.Settings)
	}
	if settings == nil {
		settings = &Settings{}
	}
	c := &Client{
		base:        base,
		http:        opts.HTTPClient,
		pageSize:    cfg.PageSize,
		concurrency: cfg.MaxConcurrency,
		maxBody:     opts.MaxBodyBytes,
		limits:      settings.Limits,
		resources:   make(map[string]resource, len(settings.Resources)),
		log:         opts.Logger,
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
	for name, r := range settings.Resources {
		res, err := newResource(name, r)
		if err != nil {
			return nil, fmt.Errorf("rest: entity %s: %w", name, err)
		}
		c.resources[name] = res
	}
	if c.http == nil {
		c.http, err = transport.New(transport.Options{
			Auth:       cfg.Auth,
			MaxRetries: cfg.MaxRetries,
			Timeout:    cfg.Timeout,
			RateLimit:  cfg.RateLimit,
			CAFile:     cfg.CAFile,
			Logger:     c.log,
			Redactor:   cfg.Redactor,
		})
		if err != nil {
			return nil, fmt.Errorf("rest: %w", err)
		}
	}
	return c, nil
}

// resource is a Resource with its defaults applied and checked.
type resource struct {
	list, get, create, update, delete endpoint
	records, record                   []string // parsed JSON paths
	fieldsAt                          []string // where a record's own fields sit in it
	key, etag                         string
	query                             []param
	getQuery                          []param
	modified                          modifiedParser // reads the entity's modified field
	paging                            Paging
	next                              []string
	sinceParam                        string
	sinceFormat                       func(time.Time) string
}

// endpoint is a Endpoint with its template split at {id}.
type endpoint struct {
	method string
	path   string
}

func newResource(name string, r Resource) (resource, error) {
	res := resource{key: r.Key, etag: r.ETag, paging: r.Paging, sinceParam: r.Since.Param}
	collection := "/" + url.PathEscape(name)
	item := collection + "/{id}"
	var err error
	set := func(dst *endpoint, e Endpoint, method, path string, needID bool, what string) {
		if err != nil {
			return
		}
		if e.Method != "" {
			method = strings.ToUpper(e.Method)
		}
		if e.Path != "" {
			path = e.Path
		}
		switch method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			err = fmt.Errorf("%s: method %q is not GET, POST, PUT, PATCH or DELETE", what, method)
			return
		}
		if e2 := checkTemplate(path, needID); e2 != nil {
			err = fmt.Errorf("%s: %w", what, e2)
			return
		}
		*dst = endpoint{method: method, path: path}
	}
	set(&res.list, r.List, http.MethodGet, collection, false, "list")
	set(&res.get, r.Get, http.MethodGet, item, true, "get")
	set(&res.create, r.Create, http.MethodPost, collection, false, "create")
	set(&res.update, r.Update, http.MethodPatch, item, true, "update")
	set(&res.delete, r.Delete, http.MethodDelete, item, true, "delete")
	if err != nil {
		return res, err
	}
	if res.records, err = parsePath(r.Records); err != nil {
		return res, fmt.Errorf("records: %w", err)
	}
	if res.record, err = parsePath(r.Record); err != nil {
		return res, fmt.Errorf("record: %w", err)
	}
	if res.fieldsAt, err = parsePath(r.FieldsAt); err != nil {
		return res, fmt.Errorf("fields_at: %w", err)
	}
	for k, v := range r.Query {
		res.query = append(res.query, param{k, v})
	}
	sortParams(res.query)
	for k, v := range r.GetQuery {
		res.getQuery = append(res.getQuery, param{k, v})
	}
	sortParams(res.getQuery)
	switch res.paging.Style {
	case "", PagingNone:
		res.paging.Style = PagingNone
	case PagingLinkHeader:
	case PagingNextLink, PagingCursor:
		if r.Paging.Next == "" {
			return res, fmt.Errorf("paging %s needs next, the body path of the %s", res.paging.Style, map[bool]string{true: "next page's URL", false: "cursor"}[res.paging.Style == PagingNextLink])
		}
		if res.next, err = parsePath(r.Paging.Next); err != nil {
			return res, fmt.Errorf("paging next: %w", err)
		}
		if res.paging.Style == PagingCursor && r.Paging.Param == "" {
			return res, errors.New("paging cursor needs param, the query parameter that carries the cursor")
		}
	case PagingPage, PagingOffset:
		if r.Paging.Param == "" {
			return res, fmt.Errorf("paging %s needs param, the query parameter that carries the %s", res.paging.Style, res.paging.Style)
		}
		if res.paging.Start < 0 {
			return res, fmt.Errorf("paging start %d is negative", res.paging.Start)
		}
	default:
		return res, fmt.Errorf("unknown paging style %q (want none, next_link, link_header, page, offset or cursor)", r.Paging.Style)
	}
	if res.sinceFormat, err = timeFormat(r.Since.Format); err != nil {
		return res, fmt.Errorf("since: %w", err)
	}
	res.modified = newModifiedParser(r.Since.Format)
	return res, nil
}

// resource returns the settings of entity, the defaults for one the
// project file does not describe.
func (c *Client) resource(entity string) (resource, error) {
	if r, ok := c.resources[entity]; ok {
		return r, nil
	}
	return newResource(entity, Resource{})
}

// parseBase checks the base URL (see transport.ParseBaseURL).
func parseBase(raw string) (*url.URL, error) {
	u, err := transport.ParseBaseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("rest: %w", err)
	}
	return u, nil
}
