package mappings

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/config"
	"github.com/couplerhq/coupler/engine/state/location"
	"github.com/couplerhq/coupler/mappings/defaults"
)

// LoadOptions adjusts how a project is loaded.
type LoadOptions struct {
	// Getenv resolves ${NAME} references; nil uses the process environment.
	Getenv Getenv
	// Defaults supplies bundled mapping sets; nil uses the embedded ones.
	Defaults fs.FS
	// DeferUnsetEnv makes a ${NAME} reference to an unset variable in a
	// connector's settings no error: the connector records it
	// (Connector.Unset) and cannot be built until it is set. Commands that
	// read only the project and the state database (validate, runs, show,
	// query...) load so, and need no secrets.
	DeferUnsetEnv bool
	// State, when its Path or URL is set, replaces the project file's
	// state: and state_schema: (coupler --state): the same project files
	// on another state, a worker's PostgreSQL one say. The caller has
	// checked it (location.Parse).
	State location.Location
}

// Load reads the project file in dir and every mapping file it names. It
// returns the project as far as it could be read, and every problem found.
// The project is usable only when the diagnostics hold no error.
func Load(dir string, opts LoadOptions) (*Project, Diagnostics) {
	if opts.Getenv == nil {
		opts.Getenv = config.OSGetenv
	}
	if opts.Defaults == nil {
		opts.Defaults = defaults.FS
	}
	var diags Diagnostics
	file := filepath.Join(dir, ProjectFile)
	src, err := os.ReadFile(file)
	if err != nil {
		diags.Errorf(Pos{File: file}, "cannot read project file: %v", unwrapPathError(err))
		return nil, diags
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	p := &Project{Dir: abs, File: file, Sources: map[string][]byte{file: src}, Approval: DefaultApproval}
	l := &loader{project: p, opts: opts, diags: &diags}
	l.loadProject(file, src)
	l.checkMappings()
	diags.Sort()
	return p, diags
}

// unwrapPathError drops the path from an fs error: the diagnostic already
// names the file.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type loader struct {
	project *Project
	opts    LoadOptions
	diags   *Diagnostics
	// names maps a mapping name to where it was first declared, to report
	// duplicates with both places.
	names map[string]*Mapping
}

var connectorNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

func (l *loader) loadProject(file string, src []byte) {
	d := newDecoder(file, l.diags, l.opts.Getenv, l.projectDir())
	docs := d.documents(src)
	defer checkSchema(d, src, projectSchema)()
	if len(docs) == 0 {
		if !l.diags.HasErrors() {
			d.diags.Errorf(Pos{File: file, Line: 1, Col: 1}, "project file is empty; it needs at least version, connectors and mappings")
		}
		return
	}
	if len(docs) > 1 {
		d.Errorf(docs[1], "project file must hold one YAML document")
	}
	p := l.project
	p.State = DefaultStatePath
	var globs []*yaml.Node
	var defaultSet, stateNode, schemaNode *yaml.Node
	stateBad := false
	d.Object(docs[0], "project", []string{"version", "connectors"}, map[string]config.KeyFunc{
		"version": func(_, v *yaml.Node) {
			if n, ok := d.Int(v, "version", 1, 1000); ok {
				if n != 1 {
					d.Errorf(v, "unsupported project version %d: this coupler reads version 1", n)
				}
				p.Version = n
			}
		},
		"state": func(_, v *yaml.Node) {
			before := len(*l.diags)
			if s, ok := d.Expanded(v, "state"); ok && len(*l.diags) == before {
				p.State, stateNode = s, v
			} else {
				// An unset ${NAME} is reported already; the
				// location left is not the project's.
				stateBad = true
			}
		},
		"state_schema": func(_, v *yaml.Node) {
			if s, ok := d.NonEmpty(v, "state_schema"); ok {
				p.StateSchema, schemaNode = s, v
			}
		},
		"staging": func(_, v *yaml.Node) {
			d.Object(v, "staging", nil, map[string]config.KeyFunc{
				"memory_limit": func(_, v *yaml.Node) {
					if n, ok := d.Size(v, "staging: memory_limit", MinStagingMemoryLimit, 1<<50); ok {
						p.Staging.MemoryLimit = n
					}
				},
				"temp_directory": func(_, v *yaml.Node) {
					if s, ok := d.Path(v, "staging: temp_directory"); ok {
						p.Staging.TempDirectory = s
					}
				},
			})
		},
		"connectors": func(_, v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				d.Errorf(v, "connectors must be a mapping of name to connector, not %s", config.KindName(v))
				return
			}
			seen := map[string]bool{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, cv := v.Content[i], config.Resolve(v.Content[i+1])
				if !connectorNameRE.MatchString(k.Value) {
					d.Errorf(k, "connector name %q must be lower case letters, digits, - and _, starting with a letter", k.Value)
					continue
				}
				if seen[k.Value] {
					d.Errorf(k, "connectors: duplicate connector %q", k.Value)
					continue
				}
				seen[k.Value] = true
				if c := l.connector(d, k, cv); c != nil {
					p.Connectors = append(p.Connectors, c)
				}
			}
		},
		"mappings": func(_, v *yaml.Node) {
			if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
				globs = []*yaml.Node{v}
				return
			}
			if v.Kind != yaml.SequenceNode {
				d.Errorf(v, "mappings must be a list of file patterns, not %s", config.KindName(v))
				return
			}
			globs = append(globs, v.Content...)
		},
		"defaults": func(_, v *yaml.Node) {
			if _, ok := d.NonEmpty(v, "defaults"); ok {
				defaultSet = v
			}
		},
		"schedule": func(_, v *yaml.Node) {
			p.Schedule = decodeSchedule(d, v, "project")
		},
		"inactivity_timeout": func(_, v *yaml.Node) {
			p.InactivityTimeout, _ = decodeInactivityTimeout(d, v, "project")
		},
		"approval": func(_, v *yaml.Node) {
			p.Approval = decodeApproval(d, v)
		},
	})
	if len(globs) == 0 && defaultSet == nil && !l.diags.HasErrors() {
		d.Errorf(docs[0], "project declares no mappings: add mappings: [\"mappings/*.yaml\"] or defaults: bc-dataverse")
	}
	if !stateBad {
		l.stateLocation(d, stateNode, schemaNode)
	}
	if o := l.opts.State; o.Postgres() || o.Path != "" {
		p.State, p.StateSchema = o.Path+o.URL, o.Schema
	}
	if p.Staging.TempDirectory == "" && !location.IsURL(p.State) {
		// DuckDB's own default for a database file; a PostgreSQL
		// state's plans stage in a DuckDB of their own, which spills
		// to the system's temporary directory unless told.
		p.Staging.TempDirectory = p.State + ".tmp"
	}
	l.names = map[string]*Mapping{}
	// Local files come first so that they override bundled defaults of the
	// same name: that is how a team customizes a default mapping.
	for _, g := range globs {
		l.loadGlob(d, config.Resolve(g))
	}
	if defaultSet != nil {
		l.loadDefaults(d, defaultSet)
	}
}

// stateLocation checks state: and state_schema: (at stateNode and
// schemaNode, nil when the file leaves them out) and resolves them: a
// file path made absolute, or a PostgreSQL URL with its schema,
// location.DefaultSchema unless one is named.
func (l *loader) stateLocation(d *decoder, stateNode, schemaNode *yaml.Node) {
	p := l.project
	loc, err := location.Parse(p.State, "", p.Dir)
	if err != nil {
		if stateNode != nil {
			d.Errorf(stateNode, "state: %v", err)
		}
		return
	}
	if !loc.Postgres() {
		p.State = loc.Path
		if schemaNode != nil {
			d.Errorf(schemaNode, "state_schema applies to a PostgreSQL state (state: postgres://…); this project's state is the DuckDB file %s", p.State)
		}
		return
	}
	if p.StateSchema == "" {
		p.StateSchema = location.DefaultSchema
	}
	if err := location.CheckSchema(p.StateSchema); err != nil {
		d.Errorf(schemaNode, "state_schema: %v", err)
	}
}

// IsTestFile reports whether a file holds mapping tests (name.test.yaml)
// rather than mappings, so that a glob like mappings/*.yaml can match both.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml")
}

// TestFileFor returns the name of the test file that belongs beside a
// mapping file: customer.yaml -> customer.test.yaml.
func TestFileFor(mappingFile string) string {
	ext := filepath.Ext(mappingFile)
	return strings.TrimSuffix(mappingFile, ext) + ".test" + ext
}

func (l *loader) loadGlob(d *decoder, g *yaml.Node) {
	pattern, ok := d.NonEmpty(g, "mappings entry")
	if !ok {
		return
	}
	full := pattern
	if !filepath.IsAbs(full) {
		full = filepath.Join(l.project.Dir, pattern)
	}
	files, err := filepath.Glob(full)
	if err != nil {
		d.Errorf(g, "mappings: bad pattern %q: %v", pattern, err)
		return
	}
	if len(files) == 0 {
		d.Errorf(g, "mappings: pattern %q matches no file", pattern)
		return
	}
	sort.Strings(files)
	for _, f := range files {
		if IsTestFile(f) {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			d.Errorf(g, "mappings: cannot read %s: %v", f, unwrapPathError(err))
			continue
		}
		rel, err := filepath.Rel(l.project.Dir, f)
		if err != nil {
			rel = f
		}
		display := filepath.Join(filepath.Dir(l.project.File), rel)
		l.project.Sources[display] = src
		l.loadMappingFile(display, display, src)
	}
}

func (l *loader) loadDefaults(d *decoder, n *yaml.Node) {
	set := n.Value
	entries, err := fs.ReadDir(l.opts.Defaults, set)
	if err != nil {
		d.Errorf(n, "defaults: unknown default mapping set %q (bundled: %s)", set, strings.Join(defaults.Sets(l.opts.Defaults), ", "))
		return
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || IsTestFile(e.Name()) {
			continue
		}
		path := set + "/" + e.Name()
		src, err := fs.ReadFile(l.opts.Defaults, path)
		if err != nil {
			d.Errorf(n, "defaults: cannot read %s: %v", path, err)
			continue
		}
		display := "defaults/" + path
		l.project.Sources[display] = src
		l.loadMappingFile(display, "defaults:"+set, src)
	}
}

func (l *loader) loadMappingFile(file, origin string, src []byte) {
	d := newDecoder(file, l.diags, l.opts.Getenv, l.projectDir())
	defer checkSchema(d, src, mappingSchema)()
	before := len(*l.diags)
	docs := d.documents(src)
	if len(docs) == 0 && len(*l.diags) == before {
		// A file emptied by mistake, or half-written when serve reloads,
		// must not load as a project without its mappings, which would
		// drop their schedules and runs without a word.
		l.diags.Errorf(Pos{File: file, Line: 1, Col: 1}, "mapping file holds no mapping: it is empty or only comments; write one (name, table, integration, fields) or remove the file")
	}
	for _, doc := range docs {
		if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
			d.Errorf(doc, "empty YAML document: it holds no mapping; write one (name, table, integration, fields) or remove the document")
			continue
		}
		m := decodeMapping(d, doc)
		if m == nil {
			continue
		}
		m.Origin = origin
		if prev, dup := l.names[m.Name]; dup {
			if strings.HasPrefix(origin, "defaults:") && !strings.HasPrefix(prev.Origin, "defaults:") {
				// The project's own file overrides the bundled default.
				continue
			}
			l.diags.Errorf(m.Pos, "duplicate mapping name %q (first declared at %s)", m.Name, prev.Pos)
			continue
		}
		l.names[m.Name] = m
		l.project.Mappings = append(l.project.Mappings, m)
	}
}

// checkMappings checks what needs the whole project: that every side names a
// declared connector and only declared fields, that dependencies and lookups
// name mappings that exist, and that dependencies have no cycle.
func (l *loader) checkMappings() {
	names := make([]string, 0, len(l.project.Connectors))
	for _, c := range l.project.Connectors {
		names = append(names, c.Name)
	}
	for _, m := range l.project.Mappings {
		for _, s := range []*Side{&m.Table, &m.Integration} {
			if s.Connector != "" && l.project.Connector(s.Connector) == nil {
				l.diags.Errorf(s.Pos, "mapping %s: unknown connector %q (declared: %s)", m.Name, s.Connector, strings.Join(names, ", "))
			}
		}
		for _, dep := range m.DependsOn {
			if l.project.Mapping(dep) == nil {
				l.diags.Errorf(m.DependsOnPos, "mapping %s: depends_on names unknown mapping %q", m.Name, dep)
			}
		}
		for _, f := range m.Fields {
			if f.Lookup != "" && l.project.Mapping(f.Lookup) == nil {
				l.diags.Errorf(f.LookupPos, "mapping %s, field %s: lookup names unknown mapping %q", m.Name, f.Label(), f.Lookup)
			}
		}
		l.checkChanges(m)
	}
	sides := l.checkSides()
	for _, m := range l.project.Mappings {
		l.checkDeclaredFields(m, sides)
	}
	for _, cycle := range l.project.Cycles() {
		first := l.project.Mapping(cycle[0])
		l.diags.Errorf(first.Pos, "mappings depend on each other in a cycle: %s", strings.Join(append(cycle, cycle[0]), " -> "))
	}
}

// checkDeclaredFields checks field names against the fields a connector
// declares for an entity set in the project file, when it declares them.
func (l *loader) checkDeclaredFields(m *Mapping, sides map[*Side]connectors.SideCheck) {
	m.Table.Known = l.knownFields(&m.Table, sides)
	m.Integration.Known = l.knownFields(&m.Integration, sides)
	m.Table.Types = l.fieldTypes(&m.Table)
	m.Integration.Types = l.fieldTypes(&m.Integration)
	check := func(s Side, field string, pos Pos, what string) {
		if msg := s.KnownField(field); msg != "" {
			l.diags.Errorf(pos, "mapping %s: %s %q %s", m.Name, what, field, msg)
		}
	}
	check(m.Table, m.Table.Key, m.Table.Pos, "key")
	check(m.Table, m.Table.Modified, m.Table.Pos, "modified")
	check(m.Integration, m.Integration.Key, m.Integration.Pos, "key")
	check(m.Integration, m.Integration.Modified, m.Integration.Pos, "modified")
	for _, f := range m.Fields {
		check(m.Table, f.Field, f.Pos, "field")
		check(m.Integration, f.IntegrationField, f.Pos, "integration_field")
	}
	if m.Match != nil {
		for _, mf := range m.Match.Fields {
			check(m.Table, mf.Field, mf.Pos, "match field")
			check(m.Integration, mf.IntegrationField, mf.Pos, "match integration_field")
		}
	}
	l.checkDisplay(m, "table", m.Table)
	l.checkDisplay(m, "integration", m.Integration)
}

// checkDisplay checks the display fields of side s (named what) against the
// entity's declared fields; when none are declared, a name one or two
// letters off a field the mapping names on that side is refused as a typo
// of it. Any other name is read for display alone.
func (l *loader) checkDisplay(m *Mapping, what string, s Side) {
	named := m.sideFields(what == "table")
	for i, f := range s.Display {
		if msg := s.KnownField(f); msg != "" {
			l.diags.Errorf(s.DisplayPos[i], "mapping %s: %s: display field %q %s", m.Name, what, f, msg)
			continue
		}
		if s.Known != nil || slices.Contains(named, f) {
			continue
		}
		best, bestDist := "", 3
		for _, k := range named {
			if d := EditDistance(strings.ToLower(f), strings.ToLower(k)); d < bestDist {
				best, bestDist = k, d
			}
		}
		if best != "" {
			l.diags.Errorf(s.DisplayPos[i], "mapping %s: %s: display field %q is not a field the mapping names on this side (did you mean %q?)", m.Name, what, f, best)
		}
	}
}

// sideFields lists the fields mapping m names on its table side (table
// true) or integration side: key, modified, mapped and match fields.
func (m *Mapping) sideFields(table bool) []string {
	s := m.Integration
	if table {
		s = m.Table
	}
	out := []string{s.Key, s.Modified}
	for _, f := range m.Fields {
		if table {
			out = append(out, f.Field)
		} else {
			out = append(out, f.IntegrationField)
		}
	}
	if m.Match != nil {
		for _, mf := range m.Match.Fields {
			if table {
				out = append(out, mf.Field)
			} else {
				out = append(out, mf.IntegrationField)
			}
		}
	}
	return slices.DeleteFunc(out, func(f string) bool { return f == "" })
}

// knownFields returns the fields of s's entity known without the
// service: those its connector's type knows (sides), else those the
// project file declares; nil when neither.
func (l *loader) knownFields(s *Side, sides map[*Side]connectors.SideCheck) []string {
	if fields := sides[s].Fields; fields != nil {
		// A modified field given is let through: the side's check
		// reports it.
		if s.Modified != "" {
			return append(slices.Clone(fields), s.Modified)
		}
		return fields
	}
	c := l.project.Connector(s.Connector)
	if c == nil || c.Entities == nil || c.Entities[s.Entity] == nil || c.Entities[s.Entity].Fields == nil {
		return nil // a rest entity may say how to reach it without listing fields
	}
	known := slices.Clone(c.Entities[s.Entity].Fields)
	if ak := l.project.AlternateKey(*s); len(ak) > 1 {
		known = append(known, s.Key) // a composite alternate key, as a mapping keys by it
	}
	return known
}

// fieldTypes returns the EDM types the project file declares for the
// fields of s's entity; nil when it declares none.
func (l *loader) fieldTypes(s *Side) map[string]string {
	c := l.project.Connector(s.Connector)
	if c == nil || c.Entities[s.Entity] == nil {
		return nil
	}
	return c.Entities[s.Entity].Types
}

var mappingNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9 _-]*$`)

func decodeMapping(d *decoder, n *yaml.Node) *Mapping {
	// Like the product, only coupled records sync unless a mapping says
	// otherwise: creating records is the decision that is hard to undo.
	m := &Mapping{Pos: d.Pos(n), Direction: ToIntegration, SyncOnlyCoupled: true}
	what := "mapping"
	ok := d.Object(n, what, []string{"name", "table", "integration", "fields"}, map[string]config.KeyFunc{
		"name": func(_, v *yaml.Node) {
			if s, ok := d.NonEmpty(v, "mapping name"); ok {
				if !mappingNameRE.MatchString(s) {
					d.Errorf(v, "mapping name %q must be upper case letters, digits, spaces, - and _ (e.g. CUSTOMER)", s)
				}
				m.Name = s
				m.Pos = d.Pos(v)
				what = "mapping " + s
			}
		},
		"table": func(_, v *yaml.Node) {
			m.Table = decodeSide(d, v, what+": table")
		},
		"integration": func(_, v *yaml.Node) {
			m.Integration = decodeSide(d, v, what+": integration")
		},
		"direction": func(_, v *yaml.Node) {
			if dir, ok := decodeDirection(d, v, what+": direction"); ok {
				m.Direction = dir
			}
		},
		"depends_on": func(_, v *yaml.Node) {
			m.DependsOn, _ = d.Strings(v, what+": depends_on")
			m.DependsOnPos = d.Pos(v)
		},
		"conflicts": func(_, v *yaml.Node) {
			m.Conflicts = decodeConflicts(d, v, what)
		},
		"match": func(_, v *yaml.Node) {
			m.Match = decodeMatch(d, v, what)
		},
		"filter": func(_, v *yaml.Node) {
			m.Filter, _ = d.expr(v, what+": filter")
		},
		"integration_filter": func(_, v *yaml.Node) {
			m.IntegrationFilter, _ = d.expr(v, what+": integration_filter")
		},
		"sync_only_coupled": func(_, v *yaml.Node) {
			m.SyncOnlyCoupled, _ = d.Bool(v, what+": sync_only_coupled")
		},
		"propagate_deletes": func(_, v *yaml.Node) {
			m.PropagateDeletes, _ = d.Bool(v, what+": propagate_deletes")
		},
		"schedule": func(_, v *yaml.Node) {
			m.Schedule = decodeSchedule(d, v, what)
		},
		"inactivity_timeout": func(_, v *yaml.Node) {
			m.InactivityTimeout, m.HasInactivityTimeout = decodeInactivityTimeout(d, v, what)
		},
		"fields": func(_, v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				d.Errorf(v, "%s: fields must be a list of field mappings, not %s", what, config.KindName(v))
				return
			}
			for _, fn := range v.Content {
				if f := decodeField(d, config.Resolve(fn), what); f != nil {
					m.Fields = append(m.Fields, f)
				}
			}
			if len(v.Content) == 0 {
				d.Errorf(v, "%s: fields must list at least one field mapping", what)
			}
		},
	})
	if !ok || m.Name == "" {
		return nil
	}
	checkFieldNames(d, m)
	checkFieldDirections(d, m)
	return m
}

func decodeConflicts(d *decoder, v *yaml.Node, what string) Conflicts {
	c := Conflicts{Pos: d.Pos(v)}
	policy := func(n *yaml.Node, key string, allowed ...string) string {
		s, ok := d.NonEmpty(n, what+": conflicts: "+key)
		if !ok {
			return ""
		}
		for _, a := range allowed {
			if s == a {
				if s == PolicyNone {
					return ""
				}
				return s
			}
		}
		d.Errorf(n, "%s: conflicts: %s must be one of %s, not %q", what, key, strings.Join(allowed, ", "), s)
		return ""
	}
	d.Object(v, what+": conflicts", nil, map[string]config.KeyFunc{
		"update": func(_, n *yaml.Node) {
			c.Update = policy(n, "update", PolicyNone, UpdateSendToIntegration, UpdateGetFromIntegration)
		},
		"delete": func(_, n *yaml.Node) {
			c.Delete = policy(n, "delete", PolicyNone, DeleteRestore, DeleteRemoveCoupling)
		},
	})
	return c
}

func decodeMatch(d *decoder, v *yaml.Node, what string) *Match {
	m := &Match{Pos: d.Pos(v)}
	ok := d.Object(v, what+": match", []string{"fields"}, map[string]config.KeyFunc{
		"fields": func(_, fv *yaml.Node) {
			if fv.Kind != yaml.SequenceNode || len(fv.Content) == 0 {
				d.Errorf(fv, "%s: match: fields must be a non-empty list of field pairs", what)
				return
			}
			for _, n := range fv.Content {
				n = config.Resolve(n)
				mf := MatchField{Pos: d.Pos(n)}
				d.Object(n, what+": match field", []string{"field", "integration_field"}, map[string]config.KeyFunc{
					"field":             func(_, x *yaml.Node) { mf.Field, _ = d.NonEmpty(x, what+": match: field") },
					"integration_field": func(_, x *yaml.Node) { mf.IntegrationField, _ = d.NonEmpty(x, what+": match: integration_field") },
					"priority":          func(_, x *yaml.Node) { mf.Priority, _ = d.Int(x, what+": match: priority", 0, 1000) },
					"case_sensitive":    func(_, x *yaml.Node) { mf.CaseSensitive, _ = d.Bool(x, what+": match: case_sensitive") },
				})
				m.Fields = append(m.Fields, mf)
			}
		},
		"create_if_no_match": func(_, x *yaml.Node) { m.CreateIfNoMatch, _ = d.Bool(x, what+": match: create_if_no_match") },
		"sync_after":         func(_, x *yaml.Node) { m.SyncAfter, _ = d.Bool(x, what+": match: sync_after") },
	})
	if !ok {
		return nil
	}
	return m
}

// checkFieldDirections bounds each field by its table's direction and
// keeps option maps one-way, as the product does.
func checkFieldDirections(d *decoder, m *Mapping) {
	for _, f := range m.Fields {
		dir := f.Direction
		if dir == "" {
			dir = m.Direction
		}
		if f.Direction != "" && f.Direction.Widens(m.Direction) {
			d.diags.Errorf(f.Pos, "mapping %s, field %s: direction %s is wider than the mapping's %s", m.Name, f.Label(), f.Direction, m.Direction)
		}
		if f.Options != nil && dir == Bidirectional {
			d.diags.Errorf(f.OptionsPos, "mapping %s, field %s: an option map translates one way only; give the field a direction (to_integration or from_integration)", m.Name, f.Label())
		}
	}
}

func decodeDirection(d *decoder, v *yaml.Node, what string) (Direction, bool) {
	s, ok := d.NonEmpty(v, what)
	if !ok {
		return "", false
	}
	switch dir := Direction(s); dir {
	case ToIntegration, FromIntegration, Bidirectional:
		return dir, true
	}
	d.Errorf(v, "%s must be to_integration, from_integration or bidirectional, not %q", what, s)
	return "", false
}

func decodeSide(d *decoder, n *yaml.Node, what string) Side {
	s := Side{Pos: d.Pos(n)}
	d.Object(n, what, []string{"connector", "entity", "key"}, map[string]config.KeyFunc{
		"connector": func(_, v *yaml.Node) {
			s.Connector, _ = d.NonEmpty(v, what+": connector")
			s.Pos = d.Pos(v)
		},
		"entity":   func(_, v *yaml.Node) { s.Entity, _ = d.NonEmpty(v, what+": entity"); s.EntityPos = d.Pos(v) },
		"key":      func(_, v *yaml.Node) { s.Key, _ = d.NonEmpty(v, what+": key") },
		"modified": func(_, v *yaml.Node) { s.Modified, _ = d.NonEmpty(v, what+": modified") },
		"changes":  func(_, v *yaml.Node) { s.Changes, s.ChangesPos = decodeChanges(d, v, what+": changes") },
		"display":  func(_, v *yaml.Node) { s.Display, s.DisplayPos = decodeDisplay(d, v, what+": display") },
	})
	return s
}

// decodeDisplay decodes a side's display fields: one name or a list of
// distinct names, each with where it is written.
func decodeDisplay(d *decoder, n *yaml.Node, what string) ([]string, []Pos) {
	n = config.Resolve(n)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			d.Errorf(n, "%s must name at least one field (leave it out to show ids only)", what)
			return nil, nil
		}
	}
	var names []string
	var pos []Pos
	for _, c := range items {
		s, ok := d.NonEmpty(config.Resolve(c), what+" entry")
		if !ok {
			continue
		}
		if slices.Contains(names, s) {
			d.Errorf(c, "%s names %q twice", what, s)
			continue
		}
		names = append(names, s)
		pos = append(pos, d.Pos(c))
	}
	return names, pos
}

func decodeField(d *decoder, n *yaml.Node, what string) *Field {
	f := &Field{Pos: d.Pos(n), Enabled: true}
	var exprNode, constNode, defaultNode *yaml.Node
	ok := d.Object(n, what+": field mapping", nil, map[string]config.KeyFunc{
		"field": func(_, v *yaml.Node) {
			f.Field, _ = d.NonEmpty(v, what+": field")
		},
		"integration_field": func(_, v *yaml.Node) {
			f.IntegrationField, _ = d.NonEmpty(v, what+": integration_field")
		},
		"to_integration": func(_, v *yaml.Node) {
			f.ToIntegration, _ = d.expr(v, what+": to_integration")
			exprNode = v
		},
		"from_integration": func(_, v *yaml.Node) {
			f.FromIntegration, _ = d.expr(v, what+": from_integration")
			exprNode = v
		},
		"constant": func(_, v *yaml.Node) {
			f.Constant, f.HasConstant = d.scalarValue(v, what+": constant")
			f.ConstantPos = d.Pos(v)
			constNode = v
		},
		"enabled": func(_, v *yaml.Node) {
			if b, ok := d.Bool(v, what+": enabled"); ok {
				f.Enabled = b
			}
		},
		"direction": func(_, v *yaml.Node) {
			f.Direction, _ = decodeDirection(d, v, what+": field direction")
		},
		"not_null": func(_, v *yaml.Node) {
			f.NotNull, _ = d.Bool(v, what+": not_null")
		},
		"clear_on_failure": func(_, v *yaml.Node) {
			f.ClearOnFailure, _ = d.Bool(v, what+": clear_on_failure")
		},
		"create_only": func(_, v *yaml.Node) {
			f.CreateOnly, _ = d.Bool(v, what+": create_only")
		},
		"lookup": func(_, v *yaml.Node) {
			f.Lookup, _ = d.NonEmpty(v, what+": lookup")
			f.LookupPos = d.Pos(v)
		},
		"options": func(_, v *yaml.Node) {
			f.OptionsPos = d.Pos(v)
			if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
				d.Errorf(v, "%s: options must be a non-empty mapping of source value to destination value", what)
				return
			}
			f.Options, f.OptionPos = map[string]any{}, map[string]Pos{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, ov := v.Content[i], config.Resolve(v.Content[i+1])
				if _, dup := f.Options[k.Value]; dup {
					d.Errorf(k, "%s: options: duplicate source value %q", what, k.Value)
					continue
				}
				f.Options[k.Value], _ = d.scalarValue(ov, what+": options value")
				f.OptionPos[k.Value] = d.Pos(ov)
			}
		},
		"default": func(_, v *yaml.Node) {
			f.Default, f.HasDefault = d.scalarValue(v, what+": default")
			f.DefaultPos = d.Pos(v)
			defaultNode = v
		},
	})
	if !ok {
		return nil
	}
	if defaultNode != nil && f.Options == nil {
		d.Errorf(defaultNode, "%s, field %s: default applies to an option map; add options or remove default", what, f.label())
	}
	ways := 0
	for _, set := range []bool{f.HasConstant, f.Lookup != "", f.Options != nil} {
		if set {
			ways++
		}
	}
	if ways > 1 || (ways == 1 && !f.HasConstant && exprNode != nil) {
		d.Errorf(n, "%s, field %s: constant, lookup, options and a transform exclude each other", what, f.label())
	}
	label := f.label()
	switch {
	case f.Field == "" && f.IntegrationField == "":
		d.Errorf(n, "%s: a field mapping needs field, integration_field or both", what)
		return nil
	case f.HasConstant && exprNode != nil:
		d.Errorf(constNode, "%s, field %s: a constant and a transform exclude each other", what, label)
	case f.HasConstant && f.Field != "" && f.IntegrationField != "":
		d.Errorf(constNode, "%s, field %s: a constant writes one side only; keep field or integration_field, not both", what, label)
	}
	return f
}

// label names a field mapping in messages by whichever names it has.
func (f *Field) label() string {
	switch {
	case f.Field != "" && f.IntegrationField != "":
		return f.Field + " -> " + f.IntegrationField
	case f.Field != "":
		return f.Field
	}
	return f.IntegrationField
}

// Label names a field mapping in messages, e.g. "displayName -> name".
func (f *Field) Label() string { return f.label() }

// checkFieldNames rejects two field mappings that write the same field in
// the same direction, which would make the result depend on their order.
func checkFieldNames(d *decoder, m *Mapping) {
	written := map[string]*Field{}
	for _, f := range m.Fields {
		if !f.Enabled {
			continue
		}
		dir := f.Direction
		if dir == "" {
			dir = m.Direction
		}
		for _, w := range []struct {
			name, what string
			way        Direction
		}{{f.IntegrationField, "integration_field", ToIntegration}, {f.Field, "field", FromIntegration}} {
			if w.name == "" || !dir.Flows(w.way) {
				continue
			}
			key := string(w.way) + "/" + w.name
			if prev, dup := written[key]; dup {
				d.diags.Errorf(f.Pos, "mapping %s: %s %q is written twice (also at line %d)", m.Name, w.what, w.name, prev.Pos.Line)
			}
			written[key] = f
		}
	}
}

// projectDir is the project's directory, that relative paths in its files
// are relative to; "" before the project is known.
func (l *loader) projectDir() string {
	if l.project == nil {
		return ""
	}
	return l.project.Dir
}
