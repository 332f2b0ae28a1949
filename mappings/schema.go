package mappings

// Schema validation: every file the loader reads is also checked against
// its JSON Schema (package schemas, the files editors use), so that what an
// editor flags and what validate reports agree, and so that validate
// catches what the schema forbids even where the loader's own checks stop
// early. The loader's wording is better, so where both report an error at
// the same place only the loader's is kept.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors/config"
	"github.com/couplerhq/coupler/schemas"
)

// schemaKind says which schema a file is checked against.
type schemaKind int

const (
	mappingSchema schemaKind = iota
	projectSchema
)

func (k schemaKind) url() string {
	if k == projectSchema {
		return schemas.ProjectURL
	}
	return schemas.MappingURL
}

// noun names a whole document of the kind in messages, as the loader does.
func (k schemaKind) noun() string {
	if k == projectSchema {
		return "project"
	}
	return "mapping"
}

// compiledSchemas are the two schemas, compiled once, with their JSON
// documents to read the keywords messages use (a rule's description,
// properties, minimum and maximum).
type compiledSchemas struct {
	schema map[schemaKind]*jsonschema.Schema
	raw    map[string]any // by URL
}

var (
	schemasOnce     sync.Once
	schemasCompiled *compiledSchemas
	schemasErr      error
)

// loadSchemas compiles the embedded schemas the first time it is called.
func loadSchemas() (*compiledSchemas, error) {
	schemasOnce.Do(func() {
		cs := &compiledSchemas{schema: map[schemaKind]*jsonschema.Schema{}, raw: map[string]any{}}
		c := jsonschema.NewCompiler()
		for _, src := range []struct {
			url  string
			data []byte
		}{{schemas.ProjectURL, schemas.Project}, {schemas.MappingURL, schemas.Mapping}} {
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src.data))
			if err != nil {
				schemasErr = fmt.Errorf("schema %s: %v", src.url, err)
				return
			}
			if err := c.AddResource(src.url, doc); err != nil {
				schemasErr = fmt.Errorf("schema %s: %v", src.url, err)
				return
			}
			cs.raw[src.url] = doc
		}
		for _, k := range []schemaKind{projectSchema, mappingSchema} {
			s, err := c.Compile(k.url())
			if err != nil {
				schemasErr = fmt.Errorf("schema %s: %v", k.url(), err)
				return
			}
			cs.schema[k] = s
		}
		schemasCompiled = cs
	})
	return schemasCompiled, schemasErr
}

// checkSchema is the loader's hook: it runs the schema check of one file
// first, before the loader decodes the file, and returns the function that
// adds its findings to the loader's once the loader is done with the file
// (call it deferred: defer checkSchema(d, src, mappingSchema)()). Adding
// them only then leaves the loader's own checks, some of which look at
// whether any error was reported yet, exactly as they were.
func checkSchema(d *decoder, src []byte, kind schemaKind) func() {
	if skipSchemaChecks.Load() {
		return func() {}
	}
	found := schemaDiagnostics(d.File, src, kind)
	return func() { *d.diags = mergeSchemaDiagnostics(*d.diags, found) }
}

// skipSchemaChecks turns the hook off, for tests that compare the loader's
// own diagnostics with the schema's.
var skipSchemaChecks atomic.Bool

// mergeSchemaDiagnostics returns the loader's diagnostics followed by the
// schema's, less every schema diagnostic at a file:line:col where the
// loader reports an error (the loader says the same thing better there),
// and less any the list already holds word for word.
func mergeSchemaDiagnostics(loader, schema Diagnostics) Diagnostics {
	if len(schema) == 0 {
		return loader
	}
	taken := map[Pos]bool{}
	said := map[Diagnostic]bool{}
	for _, d := range loader {
		if d.Severity == Error {
			taken[d.Pos] = true
		}
		said[d] = true
	}
	for _, d := range schema {
		if taken[d.Pos] || said[d] {
			continue
		}
		said[d] = true
		loader = append(loader, d)
	}
	return loader
}

// schemaDiagnostics checks the YAML documents in src against the schema of
// kind: every document of a mapping file, the first of a project file (the
// loader rejects the others). Syntax errors are the loader's to report; the
// documents before one are checked.
func schemaDiagnostics(file string, src []byte, kind schemaKind) Diagnostics {
	var scratch Diagnostics
	docs := newDecoder(file, &scratch, nil, "").documents(src)
	if kind == projectSchema && len(docs) > 1 {
		docs = docs[:1]
	}
	var out Diagnostics
	for _, doc := range docs {
		out = append(out, validateSchema(file, doc, kind)...)
	}
	return out
}

// schemaNodeBudget bounds how many YAML nodes one document may expand to
// (aliases are expanded), so that an alias bomb cannot stall a load; a
// document beyond it is left to the loader, which does not expand aliases.
const schemaNodeBudget = 100000

// validateSchema checks one YAML document against the schema of kind and
// returns a diagnostic for each violation, at the YAML node it concerns.
func validateSchema(file string, doc *yaml.Node, kind schemaKind) Diagnostics {
	cs, err := loadSchemas()
	if err != nil {
		// The schemas are embedded: this is a build defect, caught by tests.
		panic(err)
	}
	r := &schemaReport{file: file, kind: kind, doc: doc, raw: cs.raw}
	conv := yamlToJSON{budget: schemaNodeBudget, active: map[*yaml.Node]bool{}, report: r}
	v, ok := conv.value(doc)
	if !ok {
		return r.diags
	}
	if err := cs.schema[kind].Validate(v); err != nil {
		if verr, ok := err.(*jsonschema.ValidationError); ok {
			r.walk(verr)
		} else {
			r.diags.Errorf(r.pos(doc), "%v", err)
		}
	}
	sort.SliceStable(r.diags, func(i, j int) bool {
		a, b := r.diags[i], r.diags[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Message < b.Message
	})
	return slicesCompact(r.diags)
}

func slicesCompact(ds Diagnostics) Diagnostics {
	out := ds[:0]
	for i, d := range ds {
		if i > 0 && d == ds[i-1] {
			continue
		}
		out = append(out, d)
	}
	return out
}

// yamlToJSON turns a yaml.Node tree into the values JSON Schema validates:
// map[string]any, []any, string, float64, bool and nil, by the YAML tags as
// the loader reads them (!!int and !!float are numbers, !!bool booleans,
// !!null null; everything else, quoted numbers included, is a string).
type yamlToJSON struct {
	budget int
	// active holds the alias targets being expanded, to stop at a cycle.
	active map[*yaml.Node]bool
	report *schemaReport
}

func (c *yamlToJSON) value(n *yaml.Node) (any, bool) {
	c.budget--
	if c.budget < 0 {
		return nil, false
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, true
		}
		return c.value(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, true
		}
		if c.active[n.Alias] {
			// A recursive alias, which the loader never expands either:
			// an empty collection of the kind it names.
			if n.Alias.Kind == yaml.MappingNode {
				return map[string]any{}, true
			}
			return []any{}, true
		}
		c.active[n.Alias] = true
		defer delete(c.active, n.Alias)
		return c.value(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, ok := c.value(item)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			name := k.Value
			if k.Kind != yaml.ScalarNode {
				// Reported here; kept under a name no key has, so that the
				// mapping is not taken for empty.
				c.report.diags.Errorf(c.report.pos(k), "keys must be strings, not %s", config.KindName(k))
				name = fmt.Sprintf("%s%d:%d", badKey, k.Line, k.Column)
			}
			if _, dup := out[name]; dup {
				// The loader reports the duplicate and uses the first.
				continue
			}
			v, ok := c.value(n.Content[i+1])
			if !ok {
				return nil, false
			}
			out[name] = v
		}
		return out, true
	case yaml.ScalarNode:
		return scalarJSON(n), true
	}
	return nil, true
}

// badKey starts the name under which a mapping's non-string key is kept.
const badKey = "\x00key@"

// scalarJSON is the JSON value of a scalar, by its tag as the loader reads
// it: n.Tag, so that a long-form tag stays a string as it does there.
func scalarJSON(n *yaml.Node) any {
	tag := n.Tag
	if tag == "" {
		tag = n.ShortTag()
	}
	switch tag {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	case "!!int":
		s := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			return float64(i)
		}
		if u, err := strconv.ParseUint(s, 0, 64); err == nil {
			return float64(u)
		}
		if f, ok := finite(s); ok {
			return f
		}
	case "!!float":
		if f, ok := finite(strings.ReplaceAll(n.Value, "_", "")); ok {
			return f
		}
	}
	return n.Value
}

// finite parses s as a float64 that JSON can hold (no NaN or infinity).
func finite(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// schemaReport turns validation errors into diagnostics at YAML nodes.
type schemaReport struct {
	file  string
	kind  schemaKind
	doc   *yaml.Node
	raw   map[string]any
	diags Diagnostics
}

func (r *schemaReport) pos(n *yaml.Node) Pos {
	return Pos{File: r.file, Line: n.Line, Col: n.Column}
}

// walk reports the leaves of a validation error tree. A rule (a schema
// whose description is a message, see message) speaks for every error of
// its own keywords: its message is reported instead of theirs.
func (r *schemaReport) walk(e *jsonschema.ValidationError) {
	if msg := r.message(e.SchemaURL); msg != "" {
		switch e.ErrorKind.(type) {
		case *kind.Schema:
			// a wrapper: its causes are the rule's
		case *kind.PropertyNames:
			// the message is the names', said at the key below
		default:
			r.add(e.InstanceLocation, "", r.withSubject(e.InstanceLocation, msg))
			return
		}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		r.alternatives(e)
		return
	case *kind.Type:
		r.add(e.InstanceLocation, "", fmt.Sprintf("%s must be %s, not %s", r.subject(e.InstanceLocation), typeNoun(k.Want), gotNoun(k.Got)))
		return
	case *kind.Required:
		prefix := ""
		if len(e.InstanceLocation) > 0 {
			prefix = r.subject(e.InstanceLocation) + ": "
		}
		for _, m := range k.Missing {
			r.add(e.InstanceLocation, "", fmt.Sprintf("%smissing required key %q", prefix, m))
		}
		return
	case *kind.AdditionalProperties:
		known := map[string]config.KeyFunc{}
		if props, ok := r.keyword(e.SchemaURL, "properties").(map[string]any); ok {
			for p := range props {
				known[p] = nil
			}
		}
		for _, p := range k.Properties {
			if strings.HasPrefix(p, badKey) {
				continue // reported as not a string
			}
			msg := fmt.Sprintf("unknown key %q", p)
			if len(known) > 0 {
				msg += config.Suggest(p, known)
			}
			r.add(e.InstanceLocation, p, msg)
		}
		return
	case *kind.PropertyNames:
		if strings.HasPrefix(k.Property, badKey) {
			return // reported as not a string
		}
		loc := r.propertyNamesLocation(e, k.Property)
		what := fmt.Sprintf("key %q", k.Property)
		if len(loc) == 1 && loc[0] == "connectors" && r.kind == projectSchema {
			what = fmt.Sprintf("connector name %q", k.Property)
		}
		msg := r.message(e.SchemaURL)
		if msg == "" {
			msg = "is not allowed"
		}
		r.add(loc, k.Property, what+" "+msg)
		return
	case *kind.Pattern:
		r.add(e.InstanceLocation, "", fmt.Sprintf("%s %q must match %s", r.subject(e.InstanceLocation), k.Got, k.Want))
		return
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		r.add(e.InstanceLocation, "", fmt.Sprintf("%s must be one of %s, not %s", r.subject(e.InstanceLocation), strings.Join(want, ", "), gotValue(k.Got)))
		return
	case *kind.Const:
		r.add(e.InstanceLocation, "", fmt.Sprintf("%s must be %v, not %s", r.subject(e.InstanceLocation), k.Want, gotValue(k.Got)))
		return
	case *kind.Minimum, *kind.Maximum:
		lo, hasLo := r.keyword(e.SchemaURL, "minimum").(json.Number)
		hi, hasHi := r.keyword(e.SchemaURL, "maximum").(json.Number)
		what := r.subject(e.InstanceLocation)
		switch {
		case hasLo && hasHi:
			r.add(e.InstanceLocation, "", fmt.Sprintf("%s must be between %s and %s", what, lo, hi))
		case hasLo:
			r.add(e.InstanceLocation, "", fmt.Sprintf("%s must be at least %s", what, lo))
		default:
			r.add(e.InstanceLocation, "", fmt.Sprintf("%s must be at most %s", what, hi))
		}
		return
	case *kind.MinItems:
		if k.Want == 1 {
			r.add(e.InstanceLocation, "", r.subject(e.InstanceLocation)+" must not be empty")
		} else {
			r.add(e.InstanceLocation, "", fmt.Sprintf("%s must list at least %d items", r.subject(e.InstanceLocation), k.Want))
		}
		return
	case *kind.MinProperties:
		if k.Want == 1 {
			r.add(e.InstanceLocation, "", r.subject(e.InstanceLocation)+" must not be empty")
		} else {
			r.add(e.InstanceLocation, "", fmt.Sprintf("%s must have at least %d keys", r.subject(e.InstanceLocation), k.Want))
		}
		return
	case *kind.Not, *kind.FalseSchema:
		r.add(e.InstanceLocation, "", r.subject(e.InstanceLocation)+" is not allowed here")
		return
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			r.walk(c)
		}
		return
	}
	// A keyword the schemas do not use today: the library's own words.
	msg := e.Error()
	if i := strings.Index(msg, "': "); strings.HasPrefix(msg, "at '") && i >= 0 {
		msg = msg[i+3:]
	}
	r.add(e.InstanceLocation, "", r.subject(e.InstanceLocation)+": "+msg)
}

// propertyNamesLocation returns where the mapping with a bad key name is.
// jsonschema v6.0.3 stores the InstanceLocation of a propertyNames error
// without copying it, so later siblings overwrite it (the error for
// connectors comes out at "mappings"); the schema location of the
// propertyNames keyword says where it is when it is reached through
// properties only, as it is in our schemas.
func (r *schemaReport) propertyNamesLocation(e *jsonschema.ValidationError, key string) []string {
	_, frag, _ := strings.Cut(e.SchemaURL, "#")
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	toks := strings.Split(strings.TrimPrefix(frag, "/"), "/")
	if len(toks) == 0 || toks[len(toks)-1] != "propertyNames" || len(toks)%2 != 1 {
		return e.InstanceLocation
	}
	var loc []string
	for i := 0; i+1 < len(toks); i += 2 {
		if toks[i] != "properties" {
			return e.InstanceLocation
		}
		loc = append(loc, strings.ReplaceAll(strings.ReplaceAll(toks[i+1], "~1", "/"), "~0", "~"))
	}
	n := config.Resolve(r.doc)
	for _, tok := range loc {
		if n, _ = child(n, tok); n == nil {
			return e.InstanceLocation
		}
	}
	if _, k := child(n, key); k == nil {
		return e.InstanceLocation
	}
	return loc
}

// alternatives reports an anyOf or oneOf that no branch satisfied. Branches
// that failed only because the value has another type are summed up in one
// "must be a string or a list"; when a branch of the right type failed
// deeper, its own errors say what is wrong.
func (r *schemaReport) alternatives(e *jsonschema.ValidationError) {
	var wants []string
	var got string
	var deeper []*jsonschema.ValidationError
	for _, c := range e.Causes {
		for {
			if _, ok := c.ErrorKind.(*kind.Reference); ok && len(c.Causes) == 1 {
				c = c.Causes[0]
				continue
			}
			break
		}
		if t, ok := c.ErrorKind.(*kind.Type); ok && samePath(c.InstanceLocation, e.InstanceLocation) {
			wants = append(wants, t.Want...)
			got = t.Got
			continue
		}
		deeper = append(deeper, c)
	}
	if len(deeper) == 0 {
		r.add(e.InstanceLocation, "", fmt.Sprintf("%s must be %s, not %s", r.subject(e.InstanceLocation), typeNoun(wants), gotNoun(got)))
		return
	}
	for _, c := range deeper {
		r.walk(c)
	}
}

func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// typeNoun names the JSON types a value may have the way the loader does.
// A text that also takes numbers and booleans is "a string".
func typeNoun(wants []string) string {
	set := map[string]bool{}
	for _, w := range wants {
		set[w] = true
	}
	if set["string"] && set["number"] && set["boolean"] && set["null"] {
		return "a string, number, boolean or null"
	}
	if set["string"] {
		delete(set, "number")
		delete(set, "integer")
		delete(set, "boolean")
	}
	nouns := map[string]string{
		"object": "a mapping", "array": "a list", "string": "a string",
		"integer": "a whole number", "number": "a number", "boolean": "true or false", "null": "null",
	}
	var names []string
	for _, t := range []string{"string", "integer", "number", "boolean", "null", "object", "array"} {
		if set[t] {
			names = append(names, nouns[t])
		}
	}
	switch len(names) {
	case 0:
		return "something else"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// gotNoun names the JSON type a value has, as kindName does.
func gotNoun(t string) string {
	switch t {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "string":
		return "a string"
	case "number", "integer":
		return "a number"
	case "boolean":
		return "a boolean"
	case "null":
		return "null"
	}
	return t
}

// gotValue renders a value in a message: a quoted string, or its kind.
func gotValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

// withSubject puts the subject before a message that starts with "must"
// (the schemas' messages are written so for editors, which show them at
// the value); other messages stand alone.
func (r *schemaReport) withSubject(loc []string, msg string) string {
	if strings.HasPrefix(msg, "must ") {
		return r.subject(loc) + " " + msg
	}
	return msg
}

// subject names the value at loc in a message: its key, with list indexes,
// e.g. "direction", "fields[4]", "connector erp", "option \"NET30\"".
func (r *schemaReport) subject(loc []string) string {
	nodes := r.path(loc)
	// nodes[i] is the node that holds loc[i].
	end := len(loc)
	i := end - 1
	for i >= 0 && i < len(nodes) && nodes[i] != nil && nodes[i].Kind == yaml.SequenceNode {
		i--
	}
	if i < 0 {
		name := r.kind.noun()
		for _, tok := range loc {
			name += "[" + tok + "]"
		}
		return name
	}
	name := loc[i]
	if i > 0 {
		switch parent := loc[i-1]; {
		case parent == "connectors" && i == 1 && r.kind == projectSchema:
			name = "connector " + name
		case parent == "entities":
			name = "entity " + name
		case parent == "options":
			name = "option " + strconv.Quote(name)
		}
		if strings.HasPrefix(loc[i], badKey) {
			name = "the value of a key that is not a string"
		}
	}
	for _, tok := range loc[i+1:] {
		name += "[" + tok + "]"
	}
	return name
}

// path returns, for each token of loc, the YAML node that holds it (a
// mapping or a list), nil where the path leaves the document.
func (r *schemaReport) path(loc []string) []*yaml.Node {
	nodes := make([]*yaml.Node, len(loc))
	n := config.Resolve(r.doc)
	for i, tok := range loc {
		if n == nil {
			break
		}
		nodes[i] = n
		n, _ = child(n, tok)
	}
	return nodes
}

// child returns the value node under tok in a mapping or list, and the key
// node in a mapping (the first of duplicate keys, as the loader reads it).
func child(n *yaml.Node, tok string) (val, key *yaml.Node) {
	n = config.Resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Value == tok ||
				k.Kind != yaml.ScalarNode && tok == fmt.Sprintf("%s%d:%d", badKey, k.Line, k.Column) {
				return config.Resolve(n.Content[i+1]), k
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(n.Content) {
			return config.Resolve(n.Content[i]), nil
		}
	}
	return nil, nil
}

// add reports msg at the node loc points to, or at the key node of key in
// the mapping loc points to when key is set (an unknown key, a bad name).
func (r *schemaReport) add(loc []string, key, msg string) {
	n := config.Resolve(r.doc)
	for _, tok := range loc {
		next, _ := child(n, tok)
		if next == nil {
			break
		}
		n = next
	}
	if key != "" {
		if _, k := child(n, key); k != nil {
			n = k
		}
	}
	r.diags.Errorf(r.pos(n), "%s", msg)
}

// message returns the message of the rule at schemaURL: a subschema under
// a keyword that relates keys or values (allOf, anyOf, oneOf, not, if,
// then, else, propertyNames) whose description starts with a lower-case
// letter ("must be a duration such as 30m or 1h", "basic auth needs
// username and password"). The schemas keep their messages there rather
// than in a keyword of their own (such as errorMessage) so that they stay
// valid for validators in strict mode, which reject unknown keywords; the
// schemas' tests hold rules to this form.
func (r *schemaReport) message(schemaURL string) string {
	_, frag, _ := strings.Cut(schemaURL, "#")
	rule := false
	for _, tok := range strings.Split(frag, "/") {
		if ruleKeywords[tok] {
			rule = true
		}
	}
	desc, _ := r.keyword(schemaURL, "description").(string)
	if first, _ := utf8.DecodeRuneInString(desc); !rule || !unicode.IsLower(first) {
		return ""
	}
	return desc
}

// ruleKeywords are the keywords whose subschemas are rules rather than
// the schemas of keys: a description under them may be a message.
var ruleKeywords = map[string]bool{
	"allOf": true, "anyOf": true, "oneOf": true, "not": true,
	"if": true, "then": true, "else": true, "propertyNames": true,
}

// keyword returns the value of keyword in the schema at schemaURL (an
// absolute URL whose fragment is a JSON pointer into one of the schemas),
// or nil.
func (r *schemaReport) keyword(schemaURL, keyword string) any {
	base, frag, _ := strings.Cut(schemaURL, "#")
	var node any = r.raw[base]
	if node == nil {
		return nil
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := node.(type) {
		case map[string]any:
			node = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			node = v[i]
		default:
			return nil
		}
	}
	if m, ok := node.(map[string]any); ok {
		return m[keyword]
	}
	return nil
}
