package mappings

import (
	"maps"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/config"
)

// entityKeys returns the handlers of an entity declaration's keys: its
// fields, and how a rest connector reaches it. The Resource is made on the
// first rest key, so that an entity with none of them keeps a nil one.
func entityKeys(d *decoder, what string, decl *EntityDecl) map[string]config.KeyFunc {
	res := func() *connectors.Resource {
		if decl.Resource == nil {
			decl.Resource = &connectors.Resource{}
		}
		return decl.Resource
	}
	endpoint := func(name string, needID bool, dst func(r *connectors.Resource) *connectors.Endpoint) config.KeyFunc {
		return func(_, v *yaml.Node) {
			r := res()
			s, ok := d.NonEmpty(v, what+": "+name)
			if !ok {
				return
			}
			e, err := connectors.ParseEndpoint(s, needID)
			if err != nil {
				d.Errorf(v, "%s: %s: %v; write \"METHOD /path\" or \"/path\", e.g. %q", what, name, err, exampleEndpoint(name))
				return
			}
			*dst(r) = e
		}
	}
	path := func(name, example string, dst func(r *connectors.Resource) *string) config.KeyFunc {
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
	field := func(name string, dst func(r *connectors.Resource) *string) config.KeyFunc {
		return func(_, v *yaml.Node) {
			r := res()
			if s, ok := d.NonEmpty(v, what+": "+name); ok {
				*dst(r) = s
			}
		}
	}
	query := func(name string, dst func(r *connectors.Resource) *map[string]string) config.KeyFunc {
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
		"fields": func(_, fv *yaml.Node) { decl.Fields, _ = d.Strings(fv, what+": fields") },
		"alternate_key": func(_, v *yaml.Node) {
			fields, ok := d.Strings(v, what+": alternate_key")
			if !ok {
				return
			}
			seen := map[string]bool{}
			for _, f := range fields {
				if f == "" || strings.ContainsAny(f, ",()='/ ") || seen[f] {
					d.Errorf(v, "%s: alternate_key: %q is not a field name, or is given twice; write the key's fields, e.g. [accountnumber] or [name, region]", what, f)
					return
				}
				seen[f] = true
			}
			decl.AlternateKey = fields
		},
		"key_types": func(_, v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				d.Errorf(v, "%s: key_types must be a mapping of alternate key field to EDM type, e.g. { region: Edm.Int32 }, not %s", what, config.KindName(v))
				return
			}
			decl.KeyTypes = map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, tv := v.Content[i], config.Resolve(v.Content[i+1])
				s, ok := d.NonEmpty(tv, what+": key_types "+k.Value)
				if !ok {
					continue
				}
				if !slices.Contains(connectors.AlternateKeyTypes, s) {
					d.Errorf(tv, "%s: key_types %s: %q is not one of %s", what, k.Value, s, strings.Join(connectors.AlternateKeyTypes, ", "))
					continue
				}
				decl.KeyTypes[k.Value] = s
			}
		},
		"list":    endpoint("list", false, func(r *connectors.Resource) *connectors.Endpoint { return &r.List }),
		"get":     endpoint("get", true, func(r *connectors.Resource) *connectors.Endpoint { return &r.Get }),
		"create":  endpoint("create", false, func(r *connectors.Resource) *connectors.Endpoint { return &r.Create }),
		"update":  endpoint("update", true, func(r *connectors.Resource) *connectors.Endpoint { return &r.Update }),
		"delete":  endpoint("delete", true, func(r *connectors.Resource) *connectors.Endpoint { return &r.Delete }),
		"records": path("records", "data.items", func(r *connectors.Resource) *string { return &r.Records }),
		"record":  path("record", "data.items", func(r *connectors.Resource) *string { return &r.Record }),
		// Not "fields": that key already lists the entity's field names.
		"fields_at": path("fields_at", "properties", func(r *connectors.Resource) *string { return &r.FieldsAt }),
		"key":       field("key", func(r *connectors.Resource) *string { return &r.Key }),
		"etag":      field("etag", func(r *connectors.Resource) *string { return &r.ETag }),
		"query":     query("query", func(r *connectors.Resource) *map[string]string { return &r.Query }),
		"get_query": query("get_query", func(r *connectors.Resource) *map[string]string { return &r.GetQuery }),
		"paging": func(_, v *yaml.Node) {
			r := res()
			pw := what + ": paging"
			startGiven := false
			ok := d.Object(v, pw, []string{"style"}, map[string]config.KeyFunc{
				"style": func(_, sv *yaml.Node) {
					if s, ok := d.NonEmpty(sv, pw+" style"); ok {
						if !slices.Contains(connectors.PagingStyles, s) {
							d.Errorf(sv, "%s: unknown style %q (supported: %s)", pw, s, strings.Join(connectors.PagingStyles, ", "))
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
			if r.Paging.Style == connectors.PagingPage && !startGiven {
				r.Paging.Start = 1 // the default; start: 0 is taken as written
			}
			switch p := r.Paging; p.Style {
			case connectors.PagingNextLink:
				if p.Next == "" {
					d.Errorf(v, "%s: style next_link needs next, the body path of the next page's URL, e.g. links.next", pw)
				}
			case connectors.PagingCursor:
				if p.Next == "" || p.Param == "" {
					d.Errorf(v, "%s: style cursor needs next (the body path of the cursor, e.g. meta.next_cursor) and param (the query parameter that sends it back)", pw)
				}
			case connectors.PagingPage, connectors.PagingOffset:
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
						if _, err := connectors.SinceFormatter(s); err != nil {
							d.Errorf(sv, "%s: %v", sw, err)
						}
						r.Since.Format = s
					}
				},
			})
		},
	}
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

// checkKeyTypes reports key_types given for fields outside alternate_key.
func checkKeyTypes(d *decoder, n *yaml.Node, what string, decl *EntityDecl) {
	if decl.AlternateKey == nil && config.KeyNode(n, "alternate_key") != nil {
		return // alternate_key itself is wrong, and reported
	}
	types := config.ValueNode(n, "key_types")
	for _, f := range slices.Sorted(maps.Keys(decl.KeyTypes)) {
		if slices.Contains(decl.AlternateKey, f) {
			continue
		}
		at := config.KeyNode(types, f) // the key_types entry
		if at == nil {
			at = n
		}
		if decl.AlternateKey == nil {
			d.Errorf(at, "%s: key_types names %s, but the entity declares no alternate_key", what, f)
			continue
		}
		d.Errorf(at, "%s: key_types names %s, which is not a field of alternate_key %v", what, f, decl.AlternateKey)
	}
}

// decodeAtomicity decodes a connector's atomicity: record or batch.
func decodeAtomicity(d *decoder, v *yaml.Node, what string) string {
	s, ok := d.NonEmpty(v, what+": atomicity")
	if ok && s != connectors.AtomicityRecord && s != connectors.AtomicityBatch {
		d.Errorf(v, "%s: atomicity must be record (each record succeeds or fails on its own) or batch (each $batch request is one change set, written all or nothing), not %q", what, s)
	}
	return s
}

// decodeBatchFormat decodes a connector's batch_format: json or multipart.
func decodeBatchFormat(d *decoder, v *yaml.Node, what string) string {
	s, ok := d.NonEmpty(v, what+": batch_format")
	if ok && s != connectors.BatchFormatJSON && s != connectors.BatchFormatMultipart {
		d.Errorf(v, "%s: batch_format must be json (OData 4.01 JSON batches, as Business Central documents) or multipart (multipart/mixed with change sets, as Dataverse documents), not %q", what, s)
	}
	return s
}

// checkSincePaging warns when an entity asks for an incremental read by
// since.param and pages by offset or page number: the list is then sorted
// by something that changes while it is read (often updated_at), and a
// record modified during the read moves behind the offset already passed,
// so the record after it is skipped until some later change. Cursor, next
// link and Link header paging do not have the problem when the server's
// cursor is a stable key.
func checkSincePaging(d *decoder, n *yaml.Node, what string, decl *EntityDecl) {
	r := decl.Resource
	if r == nil || r.Since.Param == "" || (r.Paging.Style != connectors.PagingOffset && r.Paging.Style != connectors.PagingPage) {
		return
	}
	at := n
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "since" {
			at = n.Content[i]
		}
	}
	d.diags.Warnf(d.Pos(at), "%s: since.param %s with %s paging skips records unless the list is sorted by a key that never changes: sorted by a modified time, a record changed while the pages are read moves, and the one after it slides onto a page already read; sort by id (e.g. query: { sort: id }) or use cursor or next_link paging (see docs/connectors.md)", what, r.Since.Param, r.Paging.Style)
}

// decodeAuthIn decodes auth in: where an api_key goes, header or query.
func decodeAuthIn(d *decoder, v *yaml.Node, what string, a *Auth) {
	s, ok := d.NonEmpty(v, what+": auth in")
	if ok && s != "header" && s != "query" {
		d.Errorf(v, "%s: auth in must be header or query, not %q", what, s)
	}
	a.In = s
}

// decodeAuthParam decodes auth param: the query parameter of an api_key
// sent in the query.
func decodeAuthParam(d *decoder, v *yaml.Node, what string, a *Auth) {
	s, ok := d.NonEmpty(v, what+": auth param")
	if ok && strings.ContainsAny(s, "&=#? \t\r\n") {
		d.Errorf(v, "%s: auth param must be a query parameter name such as api_token", what)
	}
	a.Param = s
}
