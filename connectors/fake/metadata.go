package fake

import (
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/couplerhq/coupler/connectors"
)

// DefaultNamespace is the CSDL namespace of $metadata unless SetNamespace
// picks another.
const DefaultNamespace = "Coupler.Fake"

// metadataSegment is the path, relative to the service root, of the
// service's CSDL document.
const metadataSegment = "$metadata"

// CSDL XML namespaces (OData v4).
const (
	nsEdmx = "http://docs.oasis-open.org/odata/ns/edmx"
	nsEdm  = "http://docs.oasis-open.org/odata/ns/edm"
)

// coreComputed marks properties that the server sets and clients cannot
// write, as Dataverse marks its _x_value lookup properties.
const coreComputed = "Org.OData.Core.V1.Computed"

// namespaces holds the namespace set by SetNamespace per server. It lives
// beside the Server rather than in it and is keyed by weak pointers, so it
// holds no server alive: an entry is dropped when its server is collected.
var namespaces = struct {
	mu sync.Mutex
	m  map[weak.Pointer[Server]]string
}{m: map[weak.Pointer[Server]]string{}}

// SetNamespace sets the namespace of the schema that GET /$metadata
// describes, which qualifies the entity type names: "Microsoft.NAV" like
// Business Central, "Microsoft.Dynamics.CRM" like Dataverse. An empty ns
// restores DefaultNamespace. It panics if ns is not a CSDL namespace
// (dot-separated identifiers, not "Edm", "odata", "System" or "Transient"),
// which is a programming error.
func (s *Server) SetNamespace(ns string) {
	if ns != "" && !validNamespace(ns) {
		panic("fake: invalid CSDL namespace " + strconv.Quote(ns))
	}
	k := weak.Make(s)
	namespaces.mu.Lock()
	defer namespaces.mu.Unlock()
	_, had := namespaces.m[k]
	if ns == "" {
		delete(namespaces.m, k)
		return
	}
	namespaces.m[k] = ns
	if !had {
		runtime.AddCleanup(s, func(k weak.Pointer[Server]) {
			namespaces.mu.Lock()
			delete(namespaces.m, k)
			namespaces.mu.Unlock()
		}, k)
	}
}

// Namespace returns the namespace of the server's $metadata.
func (s *Server) Namespace() string {
	if ns, ok := s.namespace(); ok {
		return ns
	}
	return DefaultNamespace
}

// namespace returns the namespace SetNamespace gave s, if any.
func (s *Server) namespace() (string, bool) {
	namespaces.mu.Lock()
	defer namespaces.mu.Unlock()
	ns, ok := namespaces.m[weak.Make(s)]
	return ns, ok
}

func validNamespace(ns string) bool {
	switch ns {
	case "Edm", "odata", "System", "Transient":
		return false
	}
	for part := range strings.SplitSeq(ns, ".") {
		if !isSimpleIdentifier(part) {
			return false
		}
	}
	return true
}

// isSimpleIdentifier reports whether s is a CSDL SimpleIdentifier, in its
// ASCII subset: a letter or underscore, then letters, digits, underscores.
func isSimpleIdentifier(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// metaModel is what $metadata describes: one entity type per served set,
// plus an abstract stub type for each lookup target that is not served.
type metaModel struct {
	ns    string
	types []*metaType // sorted by set name; stubs last, sorted by name
}

// metaType is one entity type.
type metaType struct {
	name  string // unqualified
	set   string // the entity set of this type; "" for a stub
	key   string // "" for a stub
	props []connectors.FieldSchema
	// computed names the properties that clients cannot write.
	computed map[string]bool
	navs     []metaNav // sorted by name
}

// metaNav is one single-valued navigation property.
type metaNav struct {
	name       string
	targetType string // unqualified
	targetSet  string // "" when the target set is not served: no binding
	value      string // the lookup property holding the target's key: _x_value
	targetKey  string // the target's key property; "" when not served
}

// typeName derives an entity type name from a set name: "accounts" ->
// "account", "currencies" -> "currency", "address" -> "address". Bytes
// that cannot appear in an identifier become '_'. Clashes are resolved by
// the caller.
func typeName(set string) string {
	n := set
	switch {
	case len(n) > 3 && strings.HasSuffix(n, "ies"):
		n = n[:len(n)-3] + "y"
	case len(n) > 1 && strings.HasSuffix(n, "s") && !strings.HasSuffix(n, "ss"):
		n = n[:len(n)-1]
	}
	b := []byte(n)
	for i, c := range b {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || '0' <= b[0] && b[0] <= '9' {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

// typeNames names the entity type of each of sets, sorted: typeName,
// made unique in set order. The names are also the logical names that
// lookups' annotations give (lookups.go).
func typeNames(sets []string) map[string]string {
	used := map[string]bool{}
	out := make(map[string]string, len(sets))
	for _, set := range sets {
		name := typeName(set)
		for i := 2; used[name]; i++ {
			name = typeName(set) + strconv.Itoa(i)
		}
		used[name] = true
		out[set] = name
	}
	return out
}

// model builds the description of the served sets. Tables' definitions are
// fixed after New, so no lock is needed.
func (s *Server) model() *metaModel {
	m := &metaModel{ns: s.Namespace()}
	typeOf := make(map[string]string, len(s.typeOf))
	used := map[string]bool{}
	for set, name := range s.typeOf {
		typeOf[set] = name
		used[name] = true
	}
	unique := func(base string) string {
		name := base
		for i := 2; used[name]; i++ {
			name = base + strconv.Itoa(i)
		}
		used[name] = true
		return name
	}
	sets := s.Sets()
	var stubs []*metaType
	for _, set := range sets {
		def := s.tables[set].def
		m.types = append(m.types, defType(def, typeOf[set]))
	}
	// nav describes the navigation property name to target, whose key is
	// held in the property value (_x_value).
	nav := func(name, target, value string) metaNav {
		n := metaNav{name: name, targetType: typeOf[target], targetSet: target, value: value}
		if t, served := s.tables[target]; served {
			n.targetKey = t.def.Key
		} else {
			n.targetSet = ""
			if n.targetType == "" {
				n.targetType = unique(typeName(target))
				typeOf[target] = n.targetType
				stubs = append(stubs, &metaType{name: n.targetType})
			}
		}
		return n
	}
	for _, t := range m.types {
		def := s.tables[t.set].def
		for _, name := range sortedKeys(def.Lookups) {
			if usableLookup(def, name) {
				t.navs = append(t.navs, nav(name, def.Lookups[name], "_"+name+"_value"))
			}
		}
		// A multi-table lookup: one navigation property per target, each
		// constrained to the one lookup property ("Multi-table lookups").
		for _, lookup := range sortedPolymorphic(def) {
			for _, target := range def.Polymorphic[lookup] {
				if typeOf[target] == "" {
					typeOf[target] = unique(typeName(target))
				}
				t.navs = append(t.navs, nav(lookup+"_"+typeOf[target], target, "_"+lookup+"_value"))
			}
		}
		sort.Slice(t.navs, func(i, j int) bool { return t.navs[i].name < t.navs[j].name })
	}
	sort.Slice(stubs, func(i, j int) bool { return stubs[i].name < stubs[j].name })
	m.types = append(m.types, stubs...)
	return m
}

// defType describes the entity type of one set. Its properties are, in
// order: the key, Fields, the modified field, fields named only in Types
// (sorted), then the _x_value property of each lookup (sorted by lookup)
// not already among them. Names holding '@' are annotations, not fields.
func defType(def EntitySet, name string) *metaType {
	t := &metaType{name: name, set: def.Name, key: def.Key, computed: map[string]bool{}}
	lookupValue := make(map[string]bool, len(def.Lookups))
	for nav := range def.Lookups {
		if usableLookup(def, nav) {
			lookupValue["_"+nav+"_value"] = true
		}
	}
	for _, lookup := range sortedPolymorphic(def) {
		lookupValue["_"+lookup+"_value"] = true
	}
	seen := map[string]bool{}
	add := func(f string) {
		if f == "" || seen[f] || strings.Contains(f, "@") {
			return
		}
		seen[f] = true
		p := connectors.FieldSchema{Name: f, Type: def.Types[f], Nullable: f != def.Key}
		if p.Type == "" {
			switch {
			case f == def.Key, lookupValue[f]:
				p.Type = "Edm.Guid"
			case f == def.Modified:
				p.Type = "Edm.DateTimeOffset"
			default:
				p.Type = "Edm.String"
			}
		}
		if f == def.Modified || lookupValue[f] {
			t.computed[f] = true
		}
		t.props = append(t.props, p)
	}
	add(def.Key)
	for _, f := range def.Fields {
		add(f)
	}
	add(def.Modified)
	for _, f := range sortedKeys(def.Types) {
		add(f)
	}
	var values []string
	for _, nav := range sortedKeys(def.Lookups) {
		if usableLookup(def, nav) {
			values = append(values, "_"+nav+"_value")
		}
	}
	for _, lookup := range sortedPolymorphic(def) {
		values = append(values, "_"+lookup+"_value")
	}
	sort.Strings(values)
	for _, v := range values {
		add(v)
	}
	return t
}

// sortedPolymorphic returns the multi-table lookups of def that can be
// described: named, with a target, distinct from its fields and lookups.
func sortedPolymorphic(def EntitySet) []string {
	var out []string
	for lookup, targets := range def.Polymorphic {
		if lookup == "" || len(targets) == 0 || strings.Contains(lookup, "@") || lookup == def.Key || lookup == def.Modified {
			continue
		}
		if _, nav := def.Lookups[lookup]; nav {
			continue
		}
		out = append(out, lookup)
	}
	sort.Strings(out)
	return out
}

// usableLookup reports whether the lookup nav of def can be described: it
// has a name and a target, and no field has its name (CSDL wants property
// and navigation property names distinct).
func usableLookup(def EntitySet, nav string) bool {
	if nav == "" || def.Lookups[nav] == "" || strings.Contains(nav, "@") || nav == def.Key || nav == def.Modified {
		return false
	}
	if _, typed := def.Types[nav]; typed {
		return false
	}
	for _, f := range def.Fields {
		if f == nav {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Schema returns what the server's $metadata describes, as an OData
// connector's Describe parses it: one entity per served set, sorted by
// name. Lookups whose target set is not served have an empty target, since
// $metadata cannot bind them to a set.
func (s *Server) Schema() *connectors.Schema {
	m := s.model()
	out := &connectors.Schema{}
	for _, t := range m.types {
		if t.set == "" {
			continue
		}
		e := connectors.EntitySchema{
			Name:   t.set,
			Type:   m.ns + "." + t.name,
			Key:    []string{t.key},
			Fields: append([]connectors.FieldSchema(nil), t.props...),
		}
		for _, n := range t.navs {
			if e.Lookups == nil {
				e.Lookups = map[string]string{}
			}
			e.Lookups[n.name] = n.targetSet
		}
		e.Polymorphic = polymorphicOf(t.navs)
		out.Entities = append(out.Entities, e)
	}
	return out
}

// polymorphicOf groups navigation properties by the lookup property they
// set, as the odata connector reads $metadata: the groups of more than one
// bound target are multi-table lookups.
func polymorphicOf(navs []metaNav) map[string]map[string]string {
	groups := map[string]map[string]string{}
	for _, n := range navs {
		if n.targetSet == "" {
			continue
		}
		lookup := strings.TrimSuffix(strings.TrimPrefix(n.value, "_"), "_value")
		if groups[lookup] == nil {
			groups[lookup] = map[string]string{}
		}
		groups[lookup][n.targetSet] = n.name
	}
	for lookup, g := range groups {
		if len(g) < 2 {
			delete(groups, lookup)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	return groups
}

// Metadata returns the server's CSDL document, as GET /$metadata serves it.
func (s *Server) Metadata() []byte {
	return s.model().appendXML(nil)
}

// isMetadataRequest reports whether r asks for the service's $metadata.
func isMetadataRequest(r *http.Request) bool {
	return strings.Trim(r.URL.Path, "/") == metadataSegment
}

// serveMetadata answers GET /$metadata with the CSDL XML document. Query
// options ($format and the like) are ignored.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeMethodNotAllowed(w, "GET, HEAD")
		return
	}
	body := s.Metadata()
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("OData-Version", "4.0")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body) // the client went away; nothing to do
	}
}

// appendXML renders the model as a CSDL XML document (OData 4.0).
func (m *metaModel) appendXML(b []byte) []byte {
	x := xmlWriter{b: b}
	x.raw(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	x.open(0, "edmx:Edmx", "Version", "4.0", "xmlns:edmx", nsEdmx)
	x.open(1, "edmx:Reference", "Uri", "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml")
	x.empty(2, "edmx:Include", "Namespace", "Org.OData.Core.V1", "Alias", "Core")
	x.close(1, "edmx:Reference")
	x.open(1, "edmx:DataServices")
	x.open(2, "Schema", "Namespace", m.ns, "xmlns", nsEdm)
	for _, t := range m.types {
		m.appendType(&x, t)
	}
	x.open(3, "EntityContainer", "Name", "Container")
	for _, t := range m.types {
		if t.set == "" {
			continue
		}
		var bound []metaNav
		for _, n := range t.navs {
			if n.targetSet != "" {
				bound = append(bound, n)
			}
		}
		if len(bound) == 0 {
			x.empty(4, "EntitySet", "Name", t.set, "EntityType", m.ns+"."+t.name)
			continue
		}
		x.open(4, "EntitySet", "Name", t.set, "EntityType", m.ns+"."+t.name)
		for _, n := range bound {
			x.empty(5, "NavigationPropertyBinding", "Path", n.name, "Target", n.targetSet)
		}
		x.close(4, "EntitySet")
	}
	x.close(3, "EntityContainer")
	x.close(2, "Schema")
	x.close(1, "edmx:DataServices")
	x.close(0, "edmx:Edmx")
	return x.b
}

func (m *metaModel) appendType(x *xmlWriter, t *metaType) {
	if t.set == "" {
		// A lookup target the server does not serve: abstract types may
		// omit the key.
		x.empty(3, "EntityType", "Name", t.name, "Abstract", "true")
		return
	}
	x.open(3, "EntityType", "Name", t.name)
	x.open(4, "Key")
	x.empty(5, "PropertyRef", "Name", t.key)
	x.close(4, "Key")
	for _, p := range t.props {
		attrs := []string{"Name", p.Name, "Type", p.Type}
		if !p.Nullable {
			attrs = append(attrs, "Nullable", "false")
		}
		if !t.computed[p.Name] {
			x.empty(4, "Property", attrs...)
			continue
		}
		x.open(4, "Property", attrs...)
		x.empty(5, "Annotation", "Term", coreComputed, "Bool", "true")
		x.close(4, "Property")
	}
	// Each single-valued navigation property names the lookup property
	// holding its target's key, as Dataverse's do ("Web API navigation
	// properties": <ReferentialConstraint Property="_createdby_value"
	// ReferencedProperty="systemuserid" />).
	for _, n := range t.navs {
		if n.targetKey == "" {
			x.empty(4, "NavigationProperty", "Name", n.name, "Type", m.ns+"."+n.targetType)
			continue
		}
		x.open(4, "NavigationProperty", "Name", n.name, "Type", m.ns+"."+n.targetType)
		x.empty(5, "ReferentialConstraint", "Property", n.value, "ReferencedProperty", n.targetKey)
		x.close(4, "NavigationProperty")
	}
	x.close(3, "EntityType")
}

// xmlWriter writes indented XML elements. Attribute values are escaped;
// element and attribute names are the writer's own constants.
type xmlWriter struct{ b []byte }

func (x *xmlWriter) raw(s string) { x.b = append(x.b, s...) }

func (x *xmlWriter) start(depth int, name string, attrs []string) {
	for range depth {
		x.b = append(x.b, "  "...)
	}
	x.b = append(x.b, '<')
	x.b = append(x.b, name...)
	for i := 0; i+1 < len(attrs); i += 2 {
		x.b = append(x.b, ' ')
		x.b = append(x.b, attrs[i]...)
		x.b = append(x.b, `="`...)
		x.b = appendAttrEscaped(x.b, attrs[i+1])
		x.b = append(x.b, '"')
	}
}

func (x *xmlWriter) open(depth int, name string, attrs ...string) {
	x.start(depth, name, attrs)
	x.b = append(x.b, ">\n"...)
}

func (x *xmlWriter) empty(depth int, name string, attrs ...string) {
	x.start(depth, name, attrs)
	x.b = append(x.b, " />\n"...)
}

func (x *xmlWriter) close(depth int, name string) {
	for range depth {
		x.b = append(x.b, "  "...)
	}
	x.b = append(x.b, "</"...)
	x.b = append(x.b, name...)
	x.b = append(x.b, ">\n"...)
}

// appendAttrEscaped appends s escaped for a double-quoted attribute value.
// Characters XML 1.0 does not allow at all are replaced by U+FFFD.
func appendAttrEscaped(b []byte, s string) []byte {
	for _, r := range s {
		switch r {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\t':
			b = append(b, "&#x9;"...)
		case '\n':
			b = append(b, "&#xA;"...)
		case '\r':
			b = append(b, "&#xD;"...)
		default:
			if !isXMLChar(r) {
				r = '\uFFFD'
			}
			b = append(b, string(r)...)
		}
	}
	return b
}

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
