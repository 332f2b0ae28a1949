package mappings

import (
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors"
)

// entityKeys returns the handlers of an entity declaration's keys: its
// fields, and how a rest connector reaches it. The Resource is made on the
// first rest key, so that an entity with none of them keeps a nil one.
func entityKeys(d *decoder, what string, decl *EntityDecl) map[string]keyHandler {
	res := func() *connectors.Resource {
		if decl.Resource == nil {
			decl.Resource = &connectors.Resource{}
		}
		return decl.Resource
	}
	endpoint := func(name string, needID bool, dst func(r *connectors.Resource) *connectors.Endpoint) keyHandler {
		return func(_, v *yaml.Node) {
			r := res()
			s, ok := d.nonEmpty(v, what+": "+name)
			if !ok {
				return
			}
			e, err := connectors.ParseEndpoint(s, needID)
			if err != nil {
				d.errorf(v, "%s: %s: %v; write \"METHOD /path\" or \"/path\", e.g. %q", what, name, err, exampleEndpoint(name))
				return
			}
			*dst(r) = e
		}
	}
	path := func(name string, dst func(r *connectors.Resource) *string) keyHandler {
		return func(_, v *yaml.Node) {
			r := res()
			s, ok := d.str(v, what+": "+name)
			if !ok {
				return
			}
			if s != "" && slices.Contains(strings.Split(s, "."), "") {
				d.errorf(v, "%s: %s %q must be member names joined by dots, e.g. data.items", what, name, s)
				return
			}
			*dst(r) = s
		}
	}
	field := func(name string, dst func(r *connectors.Resource) *string) keyHandler {
		return func(_, v *yaml.Node) {
			r := res()
			if s, ok := d.nonEmpty(v, what+": "+name); ok {
				*dst(r) = s
			}
		}
	}
	return map[string]keyHandler{
		"fields":  func(_, fv *yaml.Node) { decl.Fields, _ = d.strings(fv, what+": fields") },
		"list":    endpoint("list", false, func(r *connectors.Resource) *connectors.Endpoint { return &r.List }),
		"get":     endpoint("get", true, func(r *connectors.Resource) *connectors.Endpoint { return &r.Get }),
		"create":  endpoint("create", false, func(r *connectors.Resource) *connectors.Endpoint { return &r.Create }),
		"update":  endpoint("update", true, func(r *connectors.Resource) *connectors.Endpoint { return &r.Update }),
		"delete":  endpoint("delete", true, func(r *connectors.Resource) *connectors.Endpoint { return &r.Delete }),
		"records": path("records", func(r *connectors.Resource) *string { return &r.Records }),
		"record":  path("record", func(r *connectors.Resource) *string { return &r.Record }),
		"key":     field("key", func(r *connectors.Resource) *string { return &r.Key }),
		"etag":    field("etag", func(r *connectors.Resource) *string { return &r.ETag }),
		"query": func(_, v *yaml.Node) {
			r := res()
			if v.Kind != yaml.MappingNode {
				d.errorf(v, "%s: query must be a mapping of parameter to value, not %s", what, kindName(v))
				return
			}
			r.Query = map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, pv := v.Content[i], resolveAlias(v.Content[i+1])
				if s, ok := d.str(pv, what+": query "+k.Value); ok {
					r.Query[k.Value] = s
				}
			}
		},
		"paging": func(_, v *yaml.Node) {
			r := res()
			pw := what + ": paging"
			ok := d.object(v, pw, []string{"style"}, map[string]keyHandler{
				"style": func(_, sv *yaml.Node) {
					if s, ok := d.nonEmpty(sv, pw+" style"); ok {
						if !slices.Contains(connectors.PagingStyles, s) {
							d.errorf(sv, "%s: unknown style %q (supported: %s)", pw, s, strings.Join(connectors.PagingStyles, ", "))
						}
						r.Paging.Style = s
					}
				},
				"next":       func(_, sv *yaml.Node) { r.Paging.Next, _ = d.nonEmpty(sv, pw+" next") },
				"param":      func(_, sv *yaml.Node) { r.Paging.Param, _ = d.nonEmpty(sv, pw+" param") },
				"size_param": func(_, sv *yaml.Node) { r.Paging.SizeParam, _ = d.nonEmpty(sv, pw+" size_param") },
				"start": func(_, sv *yaml.Node) {
					r.Paging.Start, _ = d.integer(sv, pw+" start", 0, 1<<30)
				},
			})
			if !ok {
				return
			}
			switch p := r.Paging; p.Style {
			case connectors.PagingNextLink:
				if p.Next == "" {
					d.errorf(v, "%s: style next_link needs next, the body path of the next page's URL, e.g. links.next", pw)
				}
			case connectors.PagingCursor:
				if p.Next == "" || p.Param == "" {
					d.errorf(v, "%s: style cursor needs next (the body path of the cursor, e.g. meta.next_cursor) and param (the query parameter that sends it back)", pw)
				}
			case connectors.PagingPage, connectors.PagingOffset:
				if p.Param == "" {
					d.errorf(v, "%s: style %s needs param, the query parameter of the %s", pw, p.Style, map[string]string{"page": "page number", "offset": "offset"}[p.Style])
				}
			}
		},
		"since": func(_, v *yaml.Node) {
			r := res()
			sw := what + ": since"
			d.object(v, sw, []string{"param"}, map[string]keyHandler{
				"param": func(_, sv *yaml.Node) { r.Since.Param, _ = d.nonEmpty(sv, sw+" param") },
				"format": func(_, sv *yaml.Node) {
					if s, ok := d.nonEmpty(sv, sw+" format"); ok {
						if _, err := connectors.SinceFormatter(s); err != nil {
							d.errorf(sv, "%s: %v", sw, err)
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
