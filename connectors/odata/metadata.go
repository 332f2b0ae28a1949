package odata

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
)

var _ connectors.Describer = (*Client)(nil)

// CSDL XML namespaces. OData 4.0 and 4.01 documents use the same ones; the
// Version attribute tells them apart.
const (
	nsEdmx = "http://docs.oasis-open.org/odata/ns/edmx"
	nsEdm  = "http://docs.oasis-open.org/odata/ns/edm"
)

// maxBaseDepth bounds BaseType chains. Dataverse's are three deep; a longer
// one is a broken (or hostile) document, and following it for every entity
// set would make the schema quadratic in the document's size.
const maxBaseDepth = 64

// Describe implements connectors.Describer. It sends
//
//	GET {root}/$metadata
//
// at the service root, never under the entity path: OData serves the
// metadata document there, and Business Central answers 404 under
// companies({id}).
//
// parses the CSDL XML document and returns the entity sets it declares,
// sorted by name, with their keys, properties (inherited ones first) and
// single-valued navigation properties as lookups. The schema is fetched
// once per Client and then served from memory; a failed fetch is not
// cached, so the next call tries again. Each call returns its own copy.
func (c *Client) Describe(ctx context.Context) (*connectors.Schema, error) {
	if s := c.schema.cached.Load(); s != nil {
		return cloneSchema(s), nil
	}
	// One fetch at a time: callers that arrive during a fetch wait for it
	// (or for their context) and then use its result, or fetch themselves
	// if it failed.
	if err := c.schema.lock(ctx); err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	defer c.schema.unlock()
	if s := c.schema.cached.Load(); s != nil {
		return cloneSchema(s), nil
	}
	s, err := c.fetchMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	c.describeAlternateKeys(s)
	c.schema.cached.Store(s)
	return cloneSchema(s), nil
}

// schemaCache holds the schema Describe parsed. Its zero value is ready.
type schemaCache struct {
	cached atomic.Pointer[connectors.Schema]
	once   sync.Once
	sem    chan struct{} // capacity 1: held during a fetch
}

// lock waits for the right to fetch, or for ctx to end.
func (sc *schemaCache) lock(ctx context.Context) error {
	sc.once.Do(func() { sc.sem = make(chan struct{}, 1) })
	select {
	case sc.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (sc *schemaCache) unlock() { <-sc.sem }

// fetchMetadata GETs and parses the service's $metadata.
func (c *Client) fetchMetadata(ctx context.Context) (*connectors.Schema, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.resourceURL("$metadata"), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/xml")
	resp, err := c.do(req)
	if err != nil {
		return nil, err // names method and URL
	}
	defer resp.Body.Close()
	s, err := parseMetadata(transport.LimitReader(resp.Body, c.maxBody))
	if err != nil {
		if ct := resp.Header.Get("Content-Type"); !isXMLContentType(ct) {
			return nil, fmt.Errorf("parse %s (Content-Type %q): %w", redact.PathQuery(req.URL), ct, err)
		}
		return nil, fmt.Errorf("parse %s: %w", redact.PathQuery(req.URL), err)
	}
	c.log.DebugContext(ctx, "odata: metadata", "entity_sets", len(s.Entities))
	return s, nil
}

func isXMLContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"))
}

// cloneSchema returns a deep copy of s, so that callers may change what
// Describe returns without touching the cache.
func cloneSchema(s *connectors.Schema) *connectors.Schema {
	out := &connectors.Schema{Entities: make([]connectors.EntitySchema, len(s.Entities))}
	for i, e := range s.Entities {
		e.Key = append([]string(nil), e.Key...)
		e.Fields = append([]connectors.FieldSchema(nil), e.Fields...)
		if e.Lookups != nil {
			e.Lookups = maps.Clone(e.Lookups)
		}
		if e.Polymorphic != nil {
			poly := make(map[string]map[string]string, len(e.Polymorphic))
			for k, v := range e.Polymorphic {
				poly[k] = maps.Clone(v)
			}
			e.Polymorphic = poly
		}
		out.Entities[i] = e
	}
	return out
}

// The CSDL elements Describe reads. Element names match in any namespace,
// to be lenient with services that get the edm namespace wrong; the root
// element's namespace is checked.
type (
	csdlEntityType struct {
		Name     string         `xml:"Name,attr"`
		BaseType string         `xml:"BaseType,attr"`
		Keys     []csdlKey      `xml:"Key"`
		Props    []csdlProperty `xml:"Property"`
		Navs     []csdlNav      `xml:"NavigationProperty"`
	}
	// csdlNav is a navigation property. Dataverse names, for each
	// single-valued one, the lookup property holding its key:
	// <ReferentialConstraint Property="_parentcustomerid_value"
	// ReferencedProperty="accountid" /> (Web API navigation properties).
	csdlNav struct {
		Name        string `xml:"Name,attr"`
		Type        string `xml:"Type,attr"`
		Constraints []struct {
			Property string `xml:"Property,attr"`
		} `xml:"ReferentialConstraint"`
	}
	csdlKey struct {
		Refs []struct {
			Name string `xml:"Name,attr"`
		} `xml:"PropertyRef"`
	}
	csdlProperty struct {
		Name     string `xml:"Name,attr"`
		Type     string `xml:"Type,attr"`
		Nullable string `xml:"Nullable,attr"`
	}
	csdlContainer struct {
		Name string          `xml:"Name,attr"`
		Sets []csdlEntitySet `xml:"EntitySet"`
	}
	csdlEntitySet struct {
		Name       string `xml:"Name,attr"`
		EntityType string `xml:"EntityType,attr"`
		Bindings   []struct {
			Path   string `xml:"Path,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"NavigationPropertyBinding"`
	}
)

// entityType is an entity type as declared, with its names qualified by
// its schema's namespace but references (base type, property types) as
// written: aliases are resolved once the whole document is read.
type entityType struct {
	qname string
	decl  csdlEntityType
}

// container is an entity container with its schema's namespace and alias.
type container struct {
	ns, alias string
	decl      csdlContainer
}

// metadataParser reads a CSDL XML document.
type metadataParser struct {
	dec        *xml.Decoder
	aliases    map[string]string // alias -> namespace
	types      map[string]*entityType
	containers []container
}

// parseMetadata reads a CSDL XML document (OData 4.0 or 4.01) and returns
// its entity sets, sorted by name. Errors in the XML name the line.
func parseMetadata(r io.Reader) (*connectors.Schema, error) {
	p := &metadataParser{
		dec:     xml.NewDecoder(r),
		aliases: map[string]string{},
		types:   map[string]*entityType{},
	}
	if err := p.document(); err != nil {
		return nil, err
	}
	return p.schema()
}

// errorf returns an error at the decoder's current line.
func (p *metadataParser) errorf(format string, args ...any) error {
	line, _ := p.dec.InputPos()
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// xmlError adds the line to an error of the decoder, unless it has one.
func (p *metadataParser) xmlError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) { // "XML syntax error on line N: …"
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	line, _ := p.dec.InputPos()
	return fmt.Errorf("line %d: %w", line, err)
}

// token returns the next token, failing at the end of the input: callers
// only ask for one inside an element that is still open.
func (p *metadataParser) token() (xml.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.xmlError(err)
	}
	return tok, nil
}

func (p *metadataParser) skip() error {
	if err := p.dec.Skip(); err != nil {
		return p.xmlError(err)
	}
	return nil
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// document reads the root edmx:Edmx element and the edmx:DataServices in
// it. Whatever follows the root element is ignored.
func (p *metadataParser) document() error {
	var root xml.StartElement
	for {
		tok, err := p.dec.Token()
		if err == io.EOF {
			return errors.New("empty document: no root element")
		}
		if err != nil {
			return p.xmlError(err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			if text := bytes.TrimSpace(cd); len(text) > 0 {
				if len(text) > 40 {
					text = append(text[:40:40], "…"...)
				}
				return p.errorf("not an XML document: text %q before the root element", text)
			}
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se
			break
		}
	}
	if root.Name.Local != "Edmx" || root.Name.Space != nsEdmx {
		return p.errorf("not an OData v4 CSDL document: the root element is <%s> in namespace %q, not <Edmx> in %q",
			root.Name.Local, root.Name.Space, nsEdmx)
	}
	if v := attr(root, "Version"); v != "4.0" && v != "4.01" {
		return p.errorf("unsupported CSDL version %q (want 4.0 or 4.01)", v)
	}
	services := false
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "DataServices" {
				if err := p.skip(); err != nil { // edmx:Reference and the like
					return err
				}
				continue
			}
			services = true
			if err := p.dataServices(); err != nil {
				return err
			}
		case xml.EndElement: // of the root
			if !services {
				return p.errorf("no edmx:DataServices element")
			}
			return nil
		}
	}
}

// dataServices reads the Schema elements up to the end of DataServices.
func (p *metadataParser) dataServices() error {
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "Schema" {
				if err := p.skip(); err != nil {
					return err
				}
				continue
			}
			if err := p.schemaElement(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// schemaElement reads one Schema: its entity types and containers. Enum
// and complex types, actions, functions, terms and annotations are skipped.
func (p *metadataParser) schemaElement(start xml.StartElement) error {
	ns, alias := attr(start, "Namespace"), attr(start, "Alias")
	if ns == "" {
		return p.errorf("Schema element without a Namespace")
	}
	if alias != "" {
		if prev, dup := p.aliases[alias]; dup && prev != ns {
			return p.errorf("alias %q is used for both %s and %s", alias, prev, ns)
		}
		p.aliases[alias] = ns
	}
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "EntityType":
				var et csdlEntityType
				if err := p.dec.DecodeElement(&et, &t); err != nil {
					return p.xmlError(err)
				}
				if et.Name == "" {
					continue
				}
				q := ns + "." + et.Name
				if _, dup := p.types[q]; !dup { // the first declaration wins
					p.types[q] = &entityType{qname: q, decl: et}
				}
			case "EntityContainer":
				var ec csdlContainer
				if err := p.dec.DecodeElement(&ec, &t); err != nil {
					return p.xmlError(err)
				}
				p.containers = append(p.containers, container{ns: ns, alias: alias, decl: ec})
			default:
				if err := p.skip(); err != nil {
					return err
				}
			}
		case xml.EndElement:
			return nil
		}
	}
}

// qualify resolves an alias-qualified name ("mscrm.account") to its
// namespace-qualified form ("Microsoft.Dynamics.CRM.account"). Other names
// are returned as they are.
func (p *metadataParser) qualify(name string) string {
	name = strings.TrimSpace(name)
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return name
	}
	if ns, ok := p.aliases[name[:i]]; ok {
		return ns + name[i:]
	}
	return name
}

// typeRef resolves a property's type, which may be a collection:
// "Collection(mscrm.x)" -> "Collection(Microsoft.Dynamics.CRM.x)". It
// reports whether the type is a collection.
func (p *metadataParser) typeRef(t string) (string, bool) {
	t = strings.TrimSpace(t)
	if inner, ok := strings.CutPrefix(t, "Collection("); ok && strings.HasSuffix(inner, ")") {
		return "Collection(" + p.qualify(inner[:len(inner)-1]) + ")", true
	}
	return p.qualify(t), false
}

// chain returns t and its base types, most derived first.
func (p *metadataParser) chain(t *entityType) ([]*entityType, error) {
	out := []*entityType{t}
	for cur := t; cur.decl.BaseType != ""; {
		base := p.qualify(cur.decl.BaseType)
		next, ok := p.types[base]
		if !ok {
			// A base type from a referenced document: what it adds is
			// unknown, what is declared here still holds.
			break
		}
		for _, seen := range out {
			if seen == next {
				return nil, fmt.Errorf("entity type %s: BaseType cycle through %s", t.qname, next.qname)
			}
		}
		if len(out) == maxBaseDepth {
			return nil, fmt.Errorf("entity type %s: BaseType chain deeper than %d", t.qname, maxBaseDepth)
		}
		out = append(out, next)
		cur = next
	}
	return out, nil
}

// schema resolves what the document declared into the entity sets.
func (p *metadataParser) schema() (*connectors.Schema, error) {
	// Names a binding target may be prefixed with: "Container/set" and
	// "Namespace.Container/set".
	prefixes := map[string]bool{}
	for _, c := range p.containers {
		prefixes[c.decl.Name] = true
		prefixes[c.ns+"."+c.decl.Name] = true
		if c.alias != "" {
			prefixes[c.alias+"."+c.decl.Name] = true
		}
	}
	// The sets of each entity type: a navigation property that no
	// NavigationPropertyBinding binds (Dataverse declares none) binds to
	// the one set of its type.
	setsOf := map[string][]string{}
	for _, c := range p.containers {
		for _, set := range c.decl.Sets {
			if set.Name != "" {
				t := p.qualify(set.EntityType)
				setsOf[t] = append(setsOf[t], set.Name)
			}
		}
	}
	s := &connectors.Schema{}
	seen := map[string]bool{}
	for _, c := range p.containers {
		for _, set := range c.decl.Sets {
			if set.Name == "" || seen[set.Name] {
				continue
			}
			seen[set.Name] = true
			e, err := p.entitySet(set, prefixes, setsOf)
			if err != nil {
				return nil, err
			}
			s.Entities = append(s.Entities, e)
		}
	}
	sort.Slice(s.Entities, func(i, j int) bool { return s.Entities[i].Name < s.Entities[j].Name })
	return s, nil
}

// entitySet describes one entity set. A set whose type the document does
// not declare (it may come from a referenced document) has no key, fields
// or lookups.
func (p *metadataParser) entitySet(set csdlEntitySet, prefixes map[string]bool, setsOf map[string][]string) (connectors.EntitySchema, error) {
	e := connectors.EntitySchema{Name: set.Name, Type: p.qualify(set.EntityType)}
	t, ok := p.types[e.Type]
	if !ok {
		return e, nil
	}
	chain, err := p.chain(t)
	if err != nil {
		return e, fmt.Errorf("entity set %s: %w", set.Name, err)
	}
	// The key is the nearest one declared: OData puts it on the root of
	// the hierarchy, but Dataverse redeclares it on some derived types.
	for _, ct := range chain {
		if len(ct.decl.Keys) > 0 {
			for _, ref := range ct.decl.Keys[0].Refs {
				if ref.Name != "" {
					e.Key = append(e.Key, ref.Name)
				}
			}
			break
		}
	}
	bindings := make(map[string]string, len(set.Bindings))
	for _, b := range set.Bindings {
		path := b.Path
		// A type cast may lead the path: "ns.derived/nav".
		for {
			first, rest, ok := strings.Cut(path, "/")
			if !ok || !strings.Contains(first, ".") {
				break
			}
			path = rest
		}
		target := b.Target
		if prefix, rest, ok := strings.Cut(target, "/"); ok && prefixes[prefix] {
			target = rest
		}
		if _, dup := bindings[path]; !dup {
			bindings[path] = target
		}
	}
	names := map[string]bool{}
	var navs []csdlNav                     // single-valued
	for i := len(chain) - 1; i >= 0; i-- { // base types first
		d := chain[i].decl
		for _, prop := range d.Props {
			if prop.Name == "" || names[prop.Name] {
				continue
			}
			names[prop.Name] = true
			typ, _ := p.typeRef(prop.Type)
			e.Fields = append(e.Fields, connectors.FieldSchema{
				Name:     prop.Name,
				Type:     typ,
				Nullable: !strings.EqualFold(strings.TrimSpace(prop.Nullable), "false"),
			})
		}
		for _, nav := range d.Navs {
			if nav.Name == "" || names[nav.Name] {
				continue
			}
			names[nav.Name] = true
			if _, many := p.typeRef(nav.Type); many {
				continue
			}
			if e.Lookups == nil {
				e.Lookups = map[string]string{}
			}
			e.Lookups[nav.Name] = bindings[nav.Name]
			navs = append(navs, nav)
		}
	}
	e.Polymorphic = p.polymorphic(navs, bindings, setsOf)
	return e, nil
}

// polymorphic groups the single-valued navigation properties of one
// entity type by the lookup they set, and returns the groups of more than
// one: Dataverse's multi-table lookups. Dataverse declares a lookup that
// may point to an account or a contact as two navigation properties,
// parentcustomerid_account and parentcustomerid_contact, whose
// ReferentialConstraint names the one lookup property
// _parentcustomerid_value ("Web API navigation properties", "Multi-table
// lookups"). Without a constraint a name of the form <lookup>_<target
// type> groups them. Targets whose entity set cannot be told are left out.
func (p *metadataParser) polymorphic(navs []csdlNav, bindings map[string]string, setsOf map[string][]string) map[string]map[string]string {
	groups := map[string]map[string]string{}
	for _, nav := range navs {
		typ, _ := p.typeRef(nav.Type)
		lookup := ""
		for _, c := range nav.Constraints {
			if inner, ok := strings.CutPrefix(c.Property, "_"); ok {
				if name, ok := strings.CutSuffix(inner, "_value"); ok && name != "" {
					lookup = name
				}
			}
		}
		local := typ[strings.LastIndexByte(typ, '.')+1:]
		if name, ok := strings.CutSuffix(nav.Name, "_"+local); lookup == "" && ok && name != "" {
			lookup = name
		}
		if lookup == "" {
			continue
		}
		target := bindings[nav.Name]
		if target == "" && len(setsOf[typ]) == 1 {
			target = setsOf[typ][0]
		}
		if target == "" {
			continue
		}
		if groups[lookup] == nil {
			groups[lookup] = map[string]string{}
		}
		groups[lookup][target] = nav.Name
	}
	for lookup, targets := range groups {
		if len(targets) < 2 {
			delete(groups, lookup)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	return groups
}
