package rest

import (
	_ "embed"
	"errors"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/config"
)

// Settings are the rest connector's own settings in the project file: how
// each entity is reached (entities: <name>: list, get, ...), and the
// limits of each read (max_pages, max_read_bytes).
type Settings struct {
	// Resources says, by entity name, how each entity is reached; an
	// entity not listed takes the defaults (GET /{entity}, ...).
	Resources map[string]Resource
	// Limits bound each read.
	Limits connectors.ReadLimits

	// decoding holds the resources while the project file is decoded,
	// made on an entity's first rest key; Check moves them to Resources.
	decoding map[string]*Resource
}

//go:embed settings.schema.json
var settingsSchema []byte

// spec is the rest connector type's configuration spec.
var spec = connectors.Spec{
	Summary:     "any JSON REST API, described per entity under entities",
	Schema:      settingsSchema,
	NewSettings: func() connectors.Settings { return &Settings{} },
}

// Keys returns the decoders of the limits of each read.
func (s *Settings) Keys(d *config.Decoder, what string) map[string]config.KeyFunc {
	return s.Limits.Keys(d, what)
}

// EntityKeys returns the decoders of the keys that say how entity is
// reached. Its Resource is made on the first of them, so that an entity
// declared with its fields only takes every default.
func (s *Settings) EntityKeys(d *config.Decoder, what, entity string) map[string]config.KeyFunc {
	res := func() *Resource {
		if s.decoding == nil {
			s.decoding = map[string]*Resource{}
		}
		if s.decoding[entity] == nil {
			s.decoding[entity] = &Resource{}
		}
		return s.decoding[entity]
	}
	endpoint := func(name string, needID bool, dst func(r *Resource) *Endpoint) config.KeyFunc {
		return func(_, v *yaml.Node) {
			r := res()
			s, ok := d.NonEmpty(v, what+": "+name)
			if !ok {
				return
			}
			e, err := ParseEndpoint(s, needID)
			if err != nil {
				d.Errorf(v, "%s: %s: %v; write \"METHOD /path\" or \"/path\", e.g. %q", what, name, err, exampleEndpoint(name))
				return
			}
			*dst(r) = e
		}
	}
	path := func(name, example string, dst func(r *Resource) *string) config.KeyFunc {
		return func(_, v *yaml.Node) {
			r := res()
			s, ok := d.Str(v, what+": "+name)
			if !ok {
				return
			}
			if s != "" && slices.Contains(strings.Split(s, "."), "") {
				d.Errorf(v, "%s: %s %q must be member names joined by dots, e.g. %s", what, name, s, example)
				return
			}
			*dst(r) = s
		}
	}
	field := func(name string, dst func(r *Resource) *string) config.KeyFunc {
		return func(_, v *yaml.Node) {
			r := res()
			if s, ok := d.NonEmpty(v, what+": "+name); ok {
				*dst(r) = s
			}
		}
	}
	query := func(name string, dst func(r *Resource) *map[string]string) config.KeyFunc {
		return func(_, v *yaml.Node) {
			r := res()
			if v.Kind != yaml.MappingNode {
				d.Errorf(v, "%s: %s must be a mapping of parameter to value, not %s", what, name, config.KindName(v))
				return
			}
			m := map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, pv := v.Content[i], config.Resolve(v.Content[i+1])
				if s, ok := d.Str(pv, what+": "+name+" "+k.Value); ok {
					if strings.Contains(s, "${") {
						d.Errorf(pv, "%s: %s %s: ${...} is not expanded in query values, which are sent as written and shown in errors; put a secret in the connector's auth, e.g. auth: { type: api_key, in: query, param: %s, key: \"${API_TOKEN}\" }", what, name, k.Value, k.Value)
						continue
					}
					m[k.Value] = s
				}
			}
			*dst(r) = m
		}
	}
	return map[string]config.KeyFunc{
		"list":    endpoint("list", false, func(r *Resource) *Endpoint { return &r.List }),
		"get":     endpoint("get", true, func(r *Resource) *Endpoint { return &r.Get }),
		"create":  endpoint("create", false, func(r *Resource) *Endpoint { return &r.Create }),
		"update":  endpoint("update", true, func(r *Resource) *Endpoint { return &r.Update }),
		"delete":  endpoint("delete", true, func(r *Resource) *Endpoint { return &r.Delete }),
		"records": path("records", "data.items", func(r *Resource) *string { return &r.Records }),
		"record":  path("record", "data.items", func(r *Resource) *string { return &r.Record }),
		// Not "fields": that key already lists the entity's field names.
		"fields_at": path("fields_at", "properties", func(r *Resource) *string { return &r.FieldsAt }),
		"key":       field("key", func(r *Resource) *string { return &r.Key }),
		"etag":      field("etag", func(r *Resource) *string { return &r.ETag }),
		"query":     query("query", func(r *Resource) *map[string]string { return &r.Query }),
		"get_query": query("get_query", func(r *Resource) *map[string]string { return &r.GetQuery }),
		"paging": func(_, v *yaml.Node) {
			r := res()
			pw := what + ": paging"
			startGiven := false
			ok := d.Object(v, pw, []string{"style"}, map[string]config.KeyFunc{
				"style": func(_, sv *yaml.Node) {
					if s, ok := d.NonEmpty(sv, pw+" style"); ok {
						if !slices.Contains(PagingStyles, s) {
							d.Errorf(sv, "%s: unknown style %q (supported: %s)", pw, s, strings.Join(PagingStyles, ", "))
						}
						r.Paging.Style = s
					}
				},
				"next":       func(_, sv *yaml.Node) { r.Paging.Next, _ = d.NonEmpty(sv, pw+" next") },
				"param":      func(_, sv *yaml.Node) { r.Paging.Param, _ = d.NonEmpty(sv, pw+" param") },
				"size_param": func(_, sv *yaml.Node) { r.Paging.SizeParam, _ = d.NonEmpty(sv, pw+" size_param") },
				"start": func(_, sv *yaml.Node) {
					r.Paging.Start, _ = d.Int(sv, pw+" start", 0, 1<<30)
					startGiven = true
				},
			})
			if !ok {
				return
			}
			if r.Paging.Style == PagingPage && !startGiven {
				r.Paging.Start = 1 // the default; start: 0 is taken as written
			}
			switch p := r.Paging; p.Style {
			case PagingNextLink:
				if p.Next == "" {
					d.Errorf(v, "%s: style next_link needs next, the body path of the next page's URL, e.g. links.next", pw)
				}
			case PagingCursor:
				if p.Next == "" || p.Param == "" {
					d.Errorf(v, "%s: style cursor needs next (the body path of the cursor, e.g. meta.next_cursor) and param (the query parameter that sends it back)", pw)
				}
			case PagingPage, PagingOffset:
				if p.Param == "" {
					d.Errorf(v, "%s: style %s needs param, the query parameter of the %s", pw, p.Style, map[string]string{"page": "page number", "offset": "offset"}[p.Style])
				}
			}
		},
		"since": func(_, v *yaml.Node) {
			r := res()
			sw := what + ": since"
			d.Object(v, sw, []string{"param"}, map[string]config.KeyFunc{
				"param": func(_, sv *yaml.Node) { r.Since.Param, _ = d.NonEmpty(sv, sw+" param") },
				"format": func(_, sv *yaml.Node) {
					if s, ok := d.NonEmpty(sv, sw+" format"); ok {
						if _, err := SinceFormatter(s); err != nil {
							d.Errorf(sv, "%s: %v", sw, err)
						}
						r.Since.Format = s
					}
				},
			})
		},
	}
}

// Check keeps the resources decoded, and reports what does not go
// together: a client key with fields_at, and an incremental read by since
// with offset or page paging.
func (s *Settings) Check(d *config.Decoder, n *yaml.Node, what string, c *connectors.Config) {
	entities := config.ValueNode(n, "entities")
	for _, name := range sortedKeys(s.decoding) {
		r := s.decoding[name]
		if s.Resources == nil {
			s.Resources = map[string]Resource{}
		}
		s.Resources[name] = *r
		decl := config.ValueNode(entities, name)
		if decl == nil {
			continue
		}
		// A client key goes into the record's fields, which fields_at
		// nests: the API would store it as a property and make its own
		// id, so a lost create could never be found by the key coupler
		// sent, and would be made again.
		if k := config.KeyNode(decl, "fields_at"); k != nil && c.ClientKeys {
			d.Errorf(k, "%s: entity %s: fields_at cannot go with client_keys: true: the key coupler sends would be nested in %s, not taken as the record's id; set client_keys: false", what, name, r.FieldsAt)
		}
		checkSincePaging(d, decl, what+": entity "+name, r)
	}
	s.decoding = nil
}

// CheckSides refuses change tracking: a rest connector reads what changed
// by the modified field (and since), having no delta links to follow.
func (s *Settings) CheckSides(sides []connectors.Side) []connectors.SideCheck {
	out := make([]connectors.SideCheck, len(sides))
	for i, side := range sides {
		if side.Tracks {
			out[i].Problems = append(out[i].Problems, connectors.SideProblem{Setting: "changes",
				Err: errors.New("changes: track needs an odata connector (OData change tracking); a rest connector reads changes by the modified field")})
		}
	}
	return out
}

// checkSincePaging warns when an entity asks for an incremental read by
// since.param and pages by offset or page number: the list is then sorted
// by something that changes while it is read (often updated_at), and a
// record modified during the read moves behind the offset already passed,
// so the record after it is skipped until some later change. Cursor, next
// link and Link header paging do not have the problem when the server's
// cursor is a stable key.
func checkSincePaging(d *config.Decoder, n *yaml.Node, what string, r *Resource) {
	if r.Since.Param == "" || (r.Paging.Style != PagingOffset && r.Paging.Style != PagingPage) {
		return
	}
	at := n
	if k := config.KeyNode(n, "since"); k != nil {
		at = k
	}
	d.Warnf(at, "%s: since.param %s with %s paging skips records unless the list is sorted by a key that never changes: sorted by a modified time, a record changed while the pages are read moves, and the one after it slides onto a page already read; sort by id (e.g. query: { sort: id }) or use cursor or next_link paging (see docs/connectors.md)", what, r.Since.Param, r.Paging.Style)
}

func exampleEndpoint(op string) string {
	return map[string]string{
		"list": "GET /contacts", "get": "GET /contacts/{id}", "create": "POST /contacts",
		"update": "PATCH /contacts/{id}", "delete": "DELETE /contacts/{id}",
	}[op]
}

// sortedKeys returns m's keys in order, for stable diagnostics.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
