package mappings

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/config"
)

// connector decodes the connector name: n. The loader decodes the keys
// every connector type has; the type's own keys, and those of its entity
// declarations, are decoded by the type's connectors.Spec, so that the
// loader knows no setting of any one type.
func (l *loader) connector(d *decoder, name, n *yaml.Node) *Connector {
	c := &Connector{Config: connectors.Config{Name: name.Value, MaxRetries: -1}, Pos: d.Pos(name)}
	what := "connector " + name.Value
	if l.opts.DeferUnsetEnv {
		deferring := *d
		deferring.Unset = func(pos Pos, env string) {
			c.Unset = append(c.Unset, Diagnostic{Severity: Error, Pos: pos,
				Message: fmt.Sprintf("%s: environment variable %s is not set", what, env)})
		}
		d = &deferring
	}
	spec, known := l.connectorType(d, n, what, c)
	if known {
		c.Settings = spec.NewSettings()
	}
	keys := map[string]config.KeyFunc{
		"type": func(_, v *yaml.Node) {}, // connectorType's
		"base_url": func(_, v *yaml.Node) {
			if s, ok := d.Expanded(v, what+": base_url"); ok {
				if s != "" && !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
					d.Errorf(v, "%s: base_url must start with http:// or https://", what)
				}
				c.BaseURL = strings.TrimRight(s, "/")
			}
		},
		"page_size": func(_, v *yaml.Node) {
			c.PageSize, _ = d.Int(v, what+": page_size", 1, 100000)
		},
		"rate_limit": func(_, v *yaml.Node) {
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") {
				d.Errorf(v, "%s: rate_limit must be a number of requests per second, not %s", what, config.KindName(v))
				return
			}
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil || f < 0 {
				d.Errorf(v, "%s: rate_limit must be a number of requests per second, 0 or more", what)
				return
			}
			c.RateLimit = f
		},
		"max_concurrency": func(_, v *yaml.Node) {
			c.MaxConcurrency, _ = d.Int(v, what+": max_concurrency", 1, 256)
		},
		"max_retries": func(_, v *yaml.Node) {
			if n, ok := d.Int(v, what+": max_retries", 0, 100); ok {
				c.MaxRetries = n
			}
		},
		"timeout": func(_, v *yaml.Node) {
			c.Timeout, _ = d.Duration(v, what+": timeout")
		},
		"watermark_overlap": func(_, v *yaml.Node) {
			if o, ok := d.Duration(v, what+": watermark_overlap"); ok {
				// At least the second the Date header counts in: the
				// watermark is capped at the end of the server's second.
				if o < time.Second || o > 24*time.Hour {
					d.Errorf(v, "%s: watermark_overlap must be at least 1s and at most 24h, such as 1s or 1m", what)
					return
				}
				c.WatermarkOverlap = o
			}
		},
		"ca_file": func(_, v *yaml.Node) {
			c.CAFile, _ = d.Path(v, what+": ca_file")
		},
		"client_keys": func(_, v *yaml.Node) {
			c.ClientKeys, _ = d.Bool(v, what+": client_keys")
		},
		"auth": func(_, v *yaml.Node) {
			decodeAuth(d, v, what, &c.Auth)
		},
		"entities": func(_, v *yaml.Node) {
			c.Entities = l.decodeEntities(d, v, what, c)
		},
	}
	if known {
		for k, h := range c.Settings.Keys(&d.Decoder, what) {
			keys[k] = h
		}
	}
	l.otherTypesKeys(d, what, c.Type, known, keys, func(typ string) []string { k, _ := connectors.KeysOf(typ); return k })
	if !d.Object(n, what, []string{"type", "base_url"}, keys) {
		return nil
	}
	if known {
		c.Settings.Check(&d.Decoder, config.Resolve(n), what, &c.Config)
	}
	return c
}

// connectorType decodes the connector's type, and returns its spec when it
// is a registered type.
func (l *loader) connectorType(d *decoder, n *yaml.Node, what string, c *Connector) (connectors.Spec, bool) {
	v := config.ValueNode(n, "type")
	if v == nil {
		return connectors.Spec{}, false // reported as missing by Object
	}
	s, ok := d.NonEmpty(v, what+": type")
	if !ok {
		return connectors.Spec{}, false
	}
	c.Type = s
	spec, known := connectors.SpecOf(s)
	switch {
	case known:
	case len(connectors.Types()) == 0:
		// A program that loads projects imports the connector types it
		// supports, as a database/sql program imports its drivers.
		d.Errorf(v, "%s: unknown type %q: this program registers no connector type (import connectors/odata and connectors/rest)", what, s)
	default:
		d.Errorf(v, "%s: unknown type %q (supported: %s)", what, s, strings.Join(connectors.Types(), ", "))
	}
	return spec, known
}

// otherTypesKeys adds to keys the keys of the other registered types,
// each reported as a setting of its type rather than as an unknown key;
// when the connector's type is not known, they are let through, as its
// type is what is wrong.
func (l *loader) otherTypesKeys(d *decoder, what, typ string, known bool, keys map[string]config.KeyFunc, of func(typ string) []string) {
	for _, other := range connectors.Types() {
		spec, _ := connectors.SpecOf(other)
		for _, k := range of(other) {
			if _, taken := keys[k]; taken {
				continue
			}
			keys[k] = func(key, _ *yaml.Node) {
				if known {
					d.Errorf(key, "%s: %s is a setting of type %s (%s), not of type %s", what, key.Value, other, spec.Summary, typ)
				}
			}
		}
	}
}

// decodeEntities decodes a connector's entity declarations: their fields,
// and the keys the connector's type adds.
func (l *loader) decodeEntities(d *decoder, v *yaml.Node, what string, c *Connector) map[string]*EntityDecl {
	if v.Kind != yaml.MappingNode {
		d.Errorf(v, "%s: entities must be a mapping of entity set to its fields, not %s", what, config.KindName(v))
		return nil
	}
	out := map[string]*EntityDecl{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, ev := v.Content[i], config.Resolve(v.Content[i+1])
		if _, dup := out[k.Value]; dup {
			d.Errorf(k, "%s: entity %q declared twice", what, k.Value)
			continue
		}
		decl := &EntityDecl{Pos: d.Pos(k)}
		ewhat := what + ": entity " + k.Value
		keys := map[string]config.KeyFunc{
			"fields": func(_, fv *yaml.Node) { decl.Fields, decl.Types = decodeEntityFields(d, fv, ewhat+": fields") },
		}
		if c.Settings != nil {
			for key, h := range c.Settings.EntityKeys(&d.Decoder, ewhat, k.Value) {
				keys[key] = h
			}
		}
		l.otherTypesKeys(d, ewhat, c.Type, c.Settings != nil, keys, func(typ string) []string { _, k := connectors.KeysOf(typ); return k })
		d.Object(ev, ewhat, nil, keys)
		out[k.Value] = decl
	}
	return out
}

// decodeEntityFields decodes an entity's fields: a list of names, each
// alone or with its EDM type (`creditLimit: Edm.Decimal`, a mapping of one
// key in YAML), or one name. It returns the names in order and the types
// of those that give one.
func decodeEntityFields(d *decoder, n *yaml.Node, what string) ([]string, map[string]string) {
	if n.Kind != yaml.SequenceNode {
		names, _ := d.Strings(n, what)
		return names, nil
	}
	var names []string
	var types map[string]string
	seen := map[string]bool{}
	add := func(at *yaml.Node, name string) bool {
		if seen[name] {
			d.Errorf(at, "%s: %q is declared twice", what, name)
			return false
		}
		seen[name] = true
		names = append(names, name)
		return true
	}
	for _, item := range n.Content {
		item = config.Resolve(item)
		switch {
		case item.Kind == yaml.ScalarNode:
			if name, ok := d.NonEmpty(item, what+" entry"); ok {
				add(item, name)
			}
		case item.Kind == yaml.MappingNode && len(item.Content) == 2:
			k, tv := item.Content[0], config.Resolve(item.Content[1])
			name, ok := d.NonEmpty(k, what+" entry")
			if !ok || !add(k, name) {
				continue
			}
			if tv.Kind != yaml.ScalarNode {
				d.Errorf(tv, "%s: %s: the type must be an EDM type such as Edm.String, not %s", what, name, config.KindName(tv))
				continue
			}
			if _, known := edmTypes[tv.Value]; !known {
				d.Errorf(tv, "%s: %s: %q is not an EDM type validate knows%s", what, name, tv.Value, config.Suggest(tv.Value, edmTypes))
				continue
			}
			if types == nil {
				types = map[string]string{}
			}
			types[name] = tv.Value
		case item.Kind == yaml.MappingNode:
			d.Errorf(item, "%s entry must be a field name, or one name with its EDM type (creditLimit: Edm.Decimal), not a mapping of %d keys", what, len(item.Content)/2)
		default:
			d.Errorf(item, "%s entry must be a field name, or one name with its EDM type (creditLimit: Edm.Decimal), not %s", what, config.KindName(item))
		}
	}
	return names, types
}

// decodeAuth decodes a connector's auth.
func decodeAuth(d *decoder, v *yaml.Node, what string, a *connectors.Auth) {
	hasToken := false
	given := map[string]bool{}
	expanded := func(dst *string, key string) config.KeyFunc {
		return func(k, tv *yaml.Node) {
			*dst, _ = d.Expanded(tv, what+": auth "+key)
			given[k.Value] = true
		}
	}
	d.Object(v, what+": auth", []string{"type"}, map[string]config.KeyFunc{
		"type": func(_, tv *yaml.Node) {
			if s, ok := d.NonEmpty(tv, what+": auth type"); ok {
				switch s {
				case "none", "bearer", "basic", "api_key", "oauth2":
				default:
					d.Errorf(tv, "%s: unknown auth type %q (supported: none, bearer, basic, api_key, oauth2)", what, s)
				}
				a.Type = s
			}
		},
		"token": func(_, tv *yaml.Node) {
			a.Token, _ = d.Expanded(tv, what+": auth token")
			hasToken = true
		},
		"username": expanded(&a.Username, "username"),
		"password": expanded(&a.Password, "password"),
		"header": func(k, tv *yaml.Node) {
			if s, ok := d.NonEmpty(tv, what+": auth header"); ok {
				if strings.ContainsAny(s, " :\t\r\n") {
					d.Errorf(tv, "%s: auth header must be a header name such as X-API-Key", what)
				}
				a.Header = s
			}
			given[k.Value] = true
		},
		"key": expanded(&a.Key, "key"),
		"in": func(k, tv *yaml.Node) {
			a.In, _ = d.OneOf(tv, what+": auth in", [2]string{"header", ""}, [2]string{"query", ""})
			given[k.Value] = true
		},
		"param": func(k, tv *yaml.Node) {
			s, ok := d.NonEmpty(tv, what+": auth param")
			if ok && strings.ContainsAny(s, "&=#? \t\r\n") {
				d.Errorf(tv, "%s: auth param must be a query parameter name such as api_token", what)
			}
			a.Param = s
			given[k.Value] = true
		},
		"token_url":     expanded(&a.TokenURL, "token_url"),
		"client_id":     expanded(&a.ClientID, "client_id"),
		"client_secret": expanded(&a.ClientSecret, "client_secret"),
		"scopes": func(_, tv *yaml.Node) {
			scopes, _ := d.Strings(tv, what+": auth scopes")
			for _, sc := range scopes {
				a.Scopes = append(a.Scopes, d.Expand(sc, d.Pos(tv)))
			}
		},
	})
	if a.Type == "bearer" && !hasToken {
		d.Errorf(v, "%s: bearer auth needs a token, e.g. token: \"${BC_TOKEN}\"", what)
	}
	needs := map[string][]string{
		"oauth2":  {"token_url", "client_id", "client_secret"},
		"basic":   {"username", "password"},
		"api_key": {"header", "key"},
	}
	if a.In == "query" {
		needs["api_key"] = []string{"param", "key"}
	}
	for _, key := range needs[a.Type] {
		if !given[key] {
			d.Errorf(v, "%s: %s auth needs %s", what, a.Type, key)
		}
	}
}

// checkSides shows every mapping side to its connector's type
// (connectors.SideChecker), reports the problems it finds at the side,
// and returns what it said of each side.
func (l *loader) checkSides() map[*Side]connectors.SideCheck {
	out := map[*Side]connectors.SideCheck{}
	for _, c := range l.project.Connectors {
		checker, ok := connectors.SettingsOf[connectors.SideChecker](&c.Config)
		var sides []*Side
		var mappingOf []*Mapping
		for _, m := range l.project.Mappings {
			for _, s := range []*Side{&m.Table, &m.Integration} {
				if s.Connector == c.Name {
					sides = append(sides, s)
					mappingOf = append(mappingOf, m)
				}
			}
		}
		if !ok || len(sides) == 0 {
			continue
		}
		in := make([]connectors.Side, len(sides))
		for i, s := range sides {
			in[i] = connectors.Side{Mapping: mappingOf[i].Name, Entity: s.Entity, Key: s.Key, Modified: s.Modified, Tracks: s.Tracks()}
		}
		checks := checker.CheckSides(in)
		for i, s := range sides {
			if i >= len(checks) {
				break
			}
			out[s] = checks[i]
			for _, p := range checks[i].Problems {
				pos := s.Pos
				switch p.Setting {
				case "entity":
					pos = s.EntityPos
				case "changes":
					pos = s.ChangesPos
				}
				if pos.Line == 0 {
					pos = s.Pos
				}
				l.diags.Errorf(pos, "mapping %s: %s: %v", mappingOf[i].Name, sideName(mappingOf[i], s), p.Err)
			}
		}
	}
	return out
}

// sideName names a side of m as the mapping file does.
func sideName(m *Mapping, s *Side) string {
	if s == &m.Table {
		return "table"
	}
	return "integration"
}
