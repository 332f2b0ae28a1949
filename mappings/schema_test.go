package mappings

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"
	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/config"
	"github.com/couplerhq/coupler/connectors/odata"
	"github.com/couplerhq/coupler/connectors/transport"
	"github.com/couplerhq/coupler/engine/state/location"
	"github.com/couplerhq/coupler/mappings/defaults"
	"github.com/couplerhq/coupler/schemas"
)

// kindOf says which schema a file of a project is checked against.
func kindOf(name string) schemaKind {
	if filepath.Base(name) == ProjectFile {
		return projectSchema
	}
	return mappingSchema
}

// TestSchemasAcceptBundledDefaults keeps the mapping schema in step with
// the loader from one side: every bundled default mapping file, which the
// loader accepts, must pass the schema without a word.
func TestSchemasAcceptBundledDefaults(t *testing.T) {
	n := 0
	err := fs.WalkDir(defaults.FS, ".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".yaml") || IsTestFile(path) {
			return err
		}
		src, err := fs.ReadFile(defaults.FS, path)
		if err != nil {
			return err
		}
		n++
		for _, d := range schemaDiagnostics("defaults/"+path, src, mappingSchema) {
			t.Errorf("%s", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no bundled mapping file found")
	}
}

// TestSchemasAcceptValidProjects checks every valid project under testdata
// (the loader loads each without an error) and the example mappings.
func TestSchemasAcceptValidProjects(t *testing.T) {
	archives, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(archives) == 0 {
		t.Fatalf("no valid projects: %v", err)
	}
	for _, archive := range archives {
		a, err := txtar.ParseFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			if !strings.HasSuffix(f.Name, ".yaml") || IsTestFile(f.Name) {
				continue
			}
			for _, d := range schemaDiagnostics(f.Name, f.Data, kindOf(f.Name)) {
				t.Errorf("%s: %s", archive, d)
			}
		}
	}
	examples, _ := filepath.Glob("../examples/*/project/mappings/*.yaml")
	for _, file := range examples {
		if IsTestFile(file) {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range schemaDiagnostics(file, src, mappingSchema) {
			t.Errorf("%s", d)
		}
	}
}

// schemaCase is one project under testdata/schema: its comment names the
// position ("at: m.yaml:3:22") the case is about, and for cases the loader
// misses, the schema's message there ("want: ...").
type schemaCase struct {
	at, want string
	// schema holds what the schema alone says about every file of the
	// project, loader what the loader alone says, and loaded what Load
	// reports: both, merged.
	schema, loader, loaded Diagnostics
}

func loadSchemaCase(t *testing.T, archive string) schemaCase {
	t.Helper()
	abs, err := filepath.Abs(archive)
	if err != nil {
		t.Fatal(err)
	}
	a, err := txtar.ParseFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	var c schemaCase
	sc := bufio.NewScanner(bytes.NewReader(a.Comment))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "at: "); ok {
			c.at = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "want: "); ok {
			c.want = v
		}
	}
	if c.at == "" {
		t.Fatalf("%s: no \"at: file:line:col\" line in the comment", archive)
	}
	for _, f := range a.Files {
		if strings.HasSuffix(f.Name, ".yaml") && !IsTestFile(f.Name) {
			c.schema = append(c.schema, schemaDiagnostics(f.Name, f.Data, kindOf(f.Name))...)
		}
	}
	extract(t, abs)
	_, c.loaded = Load(".", LoadOptions{Getenv: testEnv})
	skipSchemaChecks.Store(true)
	defer skipSchemaChecks.Store(false)
	_, c.loader = Load(".", LoadOptions{Getenv: testEnv})
	return c
}

// errorsAt returns the errors of ds at pos (file:line:col).
func errorsAt(ds Diagnostics, pos string) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error && d.Pos.String() == pos {
			out = append(out, d)
		}
	}
	return out
}

// TestSchemaRejectsWhatLoaderRejects keeps the schemas in step with the
// loader from the other side: each project under testdata/schema/reject has
// one defect (a misspelled key at each level, a wrong type, a bad value, a
// missing key, a broken rule between keys). The schema must reject it, the
// loader must reject it at the same file:line:col, and so every schema
// finding must give way to the loader's better worded one.
func TestSchemaRejectsWhatLoaderRejects(t *testing.T) {
	archives, err := filepath.Glob("testdata/schema/reject/*.txtar")
	if err != nil || len(archives) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, archive := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(archive), ".txtar"), func(t *testing.T) {
			c := loadSchemaCase(t, archive)
			if len(errorsAt(c.schema, c.at)) == 0 {
				t.Errorf("the schema does not reject the defect at %s; it says:\n%v", c.at, c.schema)
			}
			if len(errorsAt(c.loader, c.at)) == 0 {
				t.Errorf("the loader does not reject the defect at %s; it says:\n%v", c.at, c.loader)
			}
			if !slices.Equal(c.loaded, c.loader) {
				t.Errorf("Load reports more than the loader: a schema finding where the loader reports no error\n--- Load\n%v\n--- loader alone\n%v", c.loaded, c.loader)
			}
		})
	}
}

// TestSchemaReportsWhatLoaderMisses loads the projects under
// testdata/schema/missed, where the loader's own checks stop early: the
// schema's finding must reach the diagnostics.
func TestSchemaReportsWhatLoaderMisses(t *testing.T) {
	archives, err := filepath.Glob("testdata/schema/missed/*.txtar")
	if err != nil || len(archives) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, archive := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(archive), ".txtar"), func(t *testing.T) {
			c := loadSchemaCase(t, archive)
			if got := errorsAt(c.loader, c.at); len(got) != 0 {
				t.Errorf("the loader reports it after all, the case is not needed: %v", got)
			}
			want := c.at + ": " + c.want
			var got []string
			for _, d := range errorsAt(c.loaded, c.at) {
				got = append(got, d.String())
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("errors at %s = %q, want only %q\nall:\n%v", c.at, got, want, c.loaded)
			}
		})
	}
}

// TestSchemaMessagesAndPositions checks how findings are worded and where
// they point: key nodes for unknown keys, value nodes otherwise, the
// anchor's node through an alias; and that YAML tags decide the JSON type.
func TestSchemaMessagesAndPositions(t *testing.T) {
	const head = "name: CUSTOMER\ntable: { connector: erp, entity: customers, key: id }\nintegration: { connector: crm, entity: accounts, key: accountid }\n"
	tests := []struct {
		name string
		kind schemaKind
		src  string
		want []string
	}{{
		name: "two rules at one node",
		src:  head + "fields:\n  - { field: a, integration_field: b, constant: null, to_integration: x }\n",
		want: []string{
			"f:5:49: a constant and a transform exclude each other",
			"f:5:49: a constant writes one side only; keep field or integration_field, not both",
		},
	}, {
		name: "unknown key with a suggestion, at the key",
		src:  head + "fields:\n  - field: a\n    integration_feld: b\n",
		want: []string{`f:6:5: unknown key "integration_feld" (did you mean "integration_field"?)`},
	}, {
		name: "unknown key without a close one",
		src:  head + "colour: red\nfields: [{ field: a }]\n",
		want: []string{`f:4:1: unknown key "colour"; expected one of conflicts, depends_on, direction, fields, filter, inactivity_timeout, integration, integration_filter, match, name, propagate_deletes, schedule, sync_only_coupled, table`},
	}, {
		name: "enum",
		src:  head + "direction: sideways\nfields: [{ field: a }]\n",
		want: []string{`f:4:12: direction must be one of to_integration, from_integration, bidirectional, not "sideways"`},
	}, {
		name: "missing keys, at the mapping",
		src:  "name: CUSTOMER\nfields: [{ field: a }]\n",
		want: []string{`f:1:1: missing required key "integration"`, `f:1:1: missing required key "table"`},
	}, {
		name: "a quoted number is a string",
		kind: projectSchema,
		src:  "version: 1\nconnectors:\n  erp: { type: odata, base_url: \"http://x\", page_size: \"5\", max_retries: 0x100 }\nmappings: m.yaml\n",
		want: []string{`f:3:56: page_size must be a whole number, not a string`, `f:3:74: max_retries must be between 0 and 100`},
	}, {
		name: "numbers and booleans are text, as the loader takes them",
		src:  "name: CUSTOMER\ntable: { connector: erp, entity: 2024, key: true }\nintegration: { connector: crm, entity: accounts, key: 1.5 }\nfields: [{ field: 1, integration_field: false }]\n",
	}, {
		name: "through an alias, at the anchor",
		src:  "name: CUSTOMER\ntable: &side { connector: erp, entity: customers, key: id, bogus: 1 }\nintegration: *side\nfields: [{ field: a }]\n",
		want: []string{`f:2:60: unknown key "bogus"; expected one of changes, connector, display, entity, key, modified`},
	}, {
		name: "a recursive alias",
		src:  head + "fields: &a [*a]\n",
		want: []string{`f:4:9: fields[0] must be a mapping, not a list`},
	}, {
		name: "keys must be strings",
		src:  head + "fields: [{ field: a, direction: to_integration, options: { [x]: 1, ok: 2 } }]\n",
		want: []string{`f:4:60: keys must be strings, not a list`},
	}, {
		name: "under a key that is not a string",
		src:  head + "fields: [{ field: a, direction: to_integration, options: { [x]: [1] } }]\n",
		want: []string{
			`f:4:60: keys must be strings, not a list`,
			`f:4:65: the value of a key that is not a string must be a string, number, boolean or null, not a list`,
		},
	}, {
		name: "an option value",
		src:  head + "fields: [{ field: a, direction: to_integration, options: { x: [1] } }]\n",
		want: []string{`f:4:63: option "x" must be a string, number, boolean or null, not a list`},
	}, {
		name: "one of several types",
		src:  head + "depends_on: { A: 1 }\nfields: [{ field: a }]\n",
		want: []string{`f:4:13: depends_on must be a string or a list, not a mapping`},
	}, {
		name: "the branch of the right type says what is wrong",
		src:  head + "depends_on: [A, \"\"]\nfields: [{ field: a }]\n",
		want: []string{`f:4:17: depends_on[1] must not be empty`},
	}, {
		name: "connector names, at the key",
		kind: projectSchema,
		src:  "version: 1\nconnectors:\n  Erp: { type: odata, base_url: \"http://x\" }\nmappings: [m.yaml]\n",
		want: []string{`f:3:3: connector name "Erp" must be lower case letters, digits, - and _, starting with a letter`},
	}, {
		name: "a connector",
		kind: projectSchema,
		src:  "version: 1\nconnectors:\n  erp: 5\ndefaults: bc-dataverse\n",
		want: []string{`f:3:8: connector erp must be a mapping, not a number`},
	}, {
		name: "the first of duplicate keys counts, as in the loader",
		src:  head + "direction: to_integration\ndirection: nowhere\nfields: [{ field: a }]\n",
	}, {
		name: "not a mapping",
		src:  "[1, 2]\n",
		want: []string{`f:1:1: mapping must be a mapping, not a list`},
	}, {
		name: "timeout zero is a duration",
		kind: projectSchema,
		src:  "version: 1\nconnectors:\n  erp: { type: odata, base_url: \"${URL}\", timeout: 0 }\ndefaults: x\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range schemaDiagnostics("f", []byte(tt.src), tt.kind) {
				got = append(got, d.String())
			}
			sort.Strings(got)
			sort.Strings(tt.want)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestSchemaAliasBomb checks that aliases expanding beyond the node budget
// are left to the loader instead of stalling the load.
func TestSchemaAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	start := time.Now()
	ds := schemaDiagnostics("f", []byte(b.String()), mappingSchema)
	if len(ds) != 0 {
		t.Errorf("got %v, want nothing: the document is too big to check", ds)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestScalarJSON(t *testing.T) {
	var doc yaml.Node
	src := "[1, -2, 0x10, 0o17, 1_000, 1.5, .inf, .nan, true, false, null, ~, \"3\", '4', abc, 2024-01-02, !!str 5, 99999999999999999999]"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var got []any
	for _, n := range doc.Content[0].Content {
		got = append(got, scalarJSON(n))
	}
	want := []any{1.0, -2.0, 16.0, 15.0, 1000.0, 1.5, ".inf", ".nan", true, false, nil, nil, "3", "4", "abc", "2024-01-02", "5", 1e20}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestMergeSchemaDiagnostics(t *testing.T) {
	at := func(line int) Pos { return Pos{File: "m.yaml", Line: line, Col: 3} }
	var loader, schema Diagnostics
	loader.Errorf(at(1), "mapping CUSTOMER: direction must be to_integration, from_integration or bidirectional, not \"x\"")
	loader.Warnf(at(2), "a warning")
	schema.Errorf(at(1), "direction must be one of to_integration, from_integration, bidirectional, not \"x\"")
	schema.Errorf(at(2), "shown: the loader only warns here")
	schema.Errorf(at(3), "shown: the loader says nothing here")
	schema.Errorf(at(3), "shown: the loader says nothing here")
	schema.Errorf(Pos{File: "other.yaml", Line: 1, Col: 3}, "shown: another file")
	got := mergeSchemaDiagnostics(slices.Clone(loader), schema)
	want := append(slices.Clone(loader), schema[1], schema[2], schema[4])
	if !slices.Equal(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

// loaderKeys are the keys of one map[string]config.KeyFunc literal in the
// loader, with the required keys of the d.object call it is passed to.
type loaderKeys struct {
	pos      string
	keys     []string
	required []string // nil when the literal is not passed to d.object
	fn       string   // the function the literal is in
}

// typeSources are the connector types' sources, which decode the keys
// of nested objects of their settings (a rest entity's paging) with
// literals of their own.
var typeSources = []string{"../connectors/odata/*.go", "../connectors/rest/*.go"}

// loaderKeySets parses the loader's source, and the connector types',
// and returns every map[string]config.KeyFunc literal: the keys each
// object in a file accepts.
func loaderKeySets(t *testing.T) []loaderKeys {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range typeSources {
		more, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, more...)
	}
	fset := token.NewFileSet()
	isKeyMap := func(e ast.Expr) (*ast.CompositeLit, bool) {
		lit, ok := e.(*ast.CompositeLit)
		if !ok {
			return nil, false
		}
		mt, ok := lit.Type.(*ast.MapType)
		if !ok {
			return nil, false
		}
		k, kok := mt.Key.(*ast.Ident)
		v, vok := mt.Value.(*ast.SelectorExpr)
		return lit, kok && vok && k.Name == "string" && v.Sel.Name == "KeyFunc"
	}
	strs := func(e ast.Expr) []string {
		var out []string
		if lit, ok := e.(*ast.CompositeLit); ok {
			for _, el := range lit.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					el = kv.Key
				}
				if bl, ok := el.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					s, err := strconv.Unquote(bl.Value)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, s)
				}
			}
		}
		return out
	}
	var sets []loaderKeys
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		required := map[*ast.CompositeLit][]string{}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 4 {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Object" {
				return true
			}
			if lit, ok := isKeyMap(call.Args[3]); ok {
				required[lit] = append([]string{}, strs(call.Args[2])...)
			}
			return true
		})
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				if e, ok := n.(ast.Expr); ok {
					if lit, ok := isKeyMap(e); ok && len(lit.Elts) > 0 {
						sets = append(sets, loaderKeys{pos: fset.Position(lit.Pos()).String(), keys: strs(lit), required: required[lit], fn: fn.Name.Name})
					}
				}
				return true
			})
		}
	}
	return sets
}

// schemaObject is an object the schemas close with additionalProperties:
// false: the keys one YAML mapping may hold.
type schemaObject struct {
	where    string
	keys     []string
	required []string
}

// schemaKeySets returns the closed objects of both schemas, and every name
// that appears under a properties keyword anywhere in them.
func schemaKeySets(t *testing.T) ([]schemaObject, map[string]bool) {
	t.Helper()
	var objects []schemaObject
	all := map[string]bool{}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				var keys []string
				for k := range props {
					keys = append(keys, k)
					all[k] = true
				}
				if v["additionalProperties"] == false {
					var req []string
					if r, ok := v["required"].([]any); ok {
						for _, x := range r {
							req = append(req, x.(string))
						}
					}
					objects = append(objects, schemaObject{where: where, keys: keys, required: req})
				}
			}
			for k, c := range v {
				walk(where+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s/%d", where, i), c)
			}
		}
	}
	for name, src := range map[string][]byte{schemas.ProjectURL: schemas.Project, schemas.MappingURL: schemas.Mapping} {
		var doc any
		if err := json.Unmarshal(src, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		walk(name+"#", doc)
	}
	return objects, all
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestSchemaKeysMatchLoader fails when a key is added to the loader but not
// to the schemas, or the other way round: each map[string]config.KeyFunc
// literal of the loader must be exactly the properties of one closed object
// of the schemas, with the same required keys, and each closed object must
// be one of the loader's.
func TestSchemaKeysMatchLoader(t *testing.T) {
	loader := withTypeKeys(t, loaderKeySets(t))
	objects, schemaNames := schemaKeySets(t)
	if len(loader) < 10 {
		t.Fatalf("found %d key literals in the loader, want the 10 objects of the two file kinds at least", len(loader))
	}
	loaderNames := map[string]bool{}
	for _, l := range loader {
		for _, k := range l.keys {
			loaderNames[k] = true
			if !schemaNames[k] {
				t.Errorf("%s: the loader accepts key %q, which no schema lists as a property", l.pos, k)
			}
		}
	}
	for k := range schemaNames {
		if !loaderNames[k] {
			t.Errorf("the schemas list property %q, which the loader does not accept", k)
		}
	}
	matched := map[int]bool{}
	for _, l := range loader {
		found := false
		for i, o := range objects {
			if !sameSet(l.keys, o.keys) {
				continue
			}
			found = true
			matched[i] = true
			if l.required != nil && !sameSet(l.required, o.required) {
				t.Errorf("%s: the loader requires %q, %s requires %q", l.pos, l.required, o.where, o.required)
			}
		}
		if !found {
			t.Errorf("%s: no schema object has exactly the keys %q", l.pos, l.keys)
		}
	}
	for i, o := range objects {
		if !matched[i] {
			t.Errorf("%s: the loader has no object with exactly the keys %q", o.where, o.keys)
		}
	}
}

// withTypeKeys merges the keys the connector types add (their Settings'
// Keys and EntityKeys, asked at run time) into the loader's common keys of
// a connector (the literal in func connector) and of an entity
// declaration (in decodeEntities): the schema's objects have them all.
func withTypeKeys(t *testing.T, sets []loaderKeys) []loaderKeys {
	t.Helper()
	var connectorKeys, entityKeys []string
	for _, typ := range connectors.Types() {
		spec, _ := connectors.SpecOf(typ)
		s := spec.NewSettings()
		connectorKeys = append(connectorKeys, slices.Collect(maps.Keys(s.Keys(&config.Decoder{}, "")))...)
		entityKeys = append(entityKeys, slices.Collect(maps.Keys(s.EntityKeys(&config.Decoder{}, "", "e")))...)
	}
	// A key several types have (max_pages) is one key.
	slices.Sort(connectorKeys)
	connectorKeys = slices.Compact(connectorKeys)
	slices.Sort(entityKeys)
	entityKeys = slices.Compact(entityKeys)
	var out []loaderKeys
	for _, l := range sets {
		switch l.fn {
		case "Keys", "EntityKeys":
			if isSubset(l.keys, connectorKeys) || isSubset(l.keys, entityKeys) {
				continue // merged below, as the types return them
			}
		case "connector":
			l.keys = append(l.keys, connectorKeys...)
		case "decodeEntities":
			l.keys = append(l.keys, entityKeys...)
		}
		out = append(out, l)
	}
	return out
}

// isSubset reports whether every string of a is in b.
func isSubset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// schemaAt returns the value at a JSON pointer in one of the schemas.
func schemaAt(t *testing.T, src []byte, pointer string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %s in the schema", pointer)
		}
		v = m[tok]
	}
	return v
}

// TestSchemaDefaultsMatchLoader checks every default the schemas announce
// to editors against what the loader, or the connector, actually uses when
// the key is left out.
func TestSchemaDefaultsMatchLoader(t *testing.T) {
	dir := t.TempDir()
	project := "version: 1\nconnectors:\n  erp: { type: odata, base_url: \"http://erp\" }\n  crm: { type: odata, base_url: \"http://crm\" }\nmappings: [m.yaml]\n"
	mapping := "name: CUSTOMER\ntable: { connector: erp, entity: customers, key: id }\nintegration: { connector: crm, entity: accounts, key: accountid }\nconflicts: {}\nmatch: { fields: [{ field: number, integration_field: accountnumber }] }\nfields:\n  - { field: number, integration_field: accountnumber }\n"
	if err := os.WriteFile(filepath.Join(dir, ProjectFile), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(mapping), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := Load(dir, LoadOptions{Getenv: testEnv})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%v", diags)
	}
	m := p.Mapping("CUSTOMER")
	f, mf := m.Fields[0], m.Match.Fields[0]
	none := func(policy string) string {
		if policy == "" {
			return PolicyNone
		}
		return policy
	}
	checks := []struct {
		schema  []byte
		pointer string
		loader  any
	}{
		{schemas.Mapping, "/properties/direction/default", string(m.Direction)},
		{schemas.Mapping, "/properties/sync_only_coupled/default", m.SyncOnlyCoupled},
		{schemas.Mapping, "/properties/conflicts/properties/update/default", none(m.Conflicts.Update)},
		{schemas.Mapping, "/properties/conflicts/properties/delete/default", none(m.Conflicts.Delete)},
		{schemas.Mapping, "/properties/match/properties/create_if_no_match/default", m.Match.CreateIfNoMatch},
		{schemas.Mapping, "/properties/match/properties/sync_after/default", m.Match.SyncAfter},
		{schemas.Mapping, "/$defs/matchField/properties/priority/default", float64(mf.Priority)},
		{schemas.Mapping, "/$defs/matchField/properties/case_sensitive/default", mf.CaseSensitive},
		{schemas.Mapping, "/$defs/field/properties/enabled/default", f.Enabled},
		{schemas.Mapping, "/$defs/field/properties/not_null/default", f.NotNull},
		{schemas.Mapping, "/$defs/field/properties/clear_on_failure/default", f.ClearOnFailure},
		{schemas.Mapping, "/$defs/field/properties/create_only/default", f.CreateOnly},
		{schemas.Project, "/properties/state/default", DefaultStatePath},
		{schemas.Project, "/properties/state_schema/default", location.DefaultSchema},
		{schemas.Project, "/properties/approval/properties/changed_share/default", ShareString(p.Approval.ChangedShare)},
		{schemas.Project, "/properties/approval/properties/min_records/default", float64(p.Approval.MinRecords)},
		{schemas.Project, "/properties/approval/properties/deletes/default", p.Approval.Deletes},
		// The loader leaves these unset; the connector fills them in.
		{schemas.Project, "/$defs/connector/properties/lookups/default", odata.LookupsValue},
		{schemas.Project, "/$defs/connector/properties/max_retries/default", float64(transport.DefaultMaxRetries)},
		{schemas.Project, "/$defs/connector/properties/max_concurrency/default", float64(odata.DefaultMaxConcurrency)},
	}
	if s, _ := schemaAt(t, schemas.Project, "/$defs/connector/properties/timeout/default").(string); s == "" {
		t.Error("no timeout default in the schema")
	} else if d, err := time.ParseDuration(s); err != nil || d != transport.DefaultTimeout {
		t.Errorf("schema timeout default %s, the connector uses %v", s, transport.DefaultTimeout)
	}
	if p.State != filepath.Join(p.Dir, DefaultStatePath) {
		t.Errorf("state = %s, want the default %s", p.State, DefaultStatePath)
	}
	for _, ch := range checks {
		if got := schemaAt(t, ch.schema, ch.pointer); got != ch.loader {
			t.Errorf("schema %s = %#v, the loader uses %#v", ch.pointer, got, ch.loader)
		}
	}
}

// FuzzSchemaNotStricter feeds arbitrary bytes to the loader as a mapping
// file and as a project file: whatever the loader accepts, the schema must
// accept too, or editors would flag files coupler runs.
func FuzzSchemaNotStricter(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/schema/*/*.txtar")
	more, _ := filepath.Glob("testdata/*.txtar")
	for _, s := range append(seeds, more...) {
		a, err := txtar.ParseFile(s)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range a.Files {
			f.Add(file.Data)
		}
	}
	_ = fs.WalkDir(defaults.FS, ".", func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && !IsTestFile(path) {
			src, _ := fs.ReadFile(defaults.FS, path)
			f.Add(src)
		}
		return nil
	})
	const project = "version: 1\nconnectors:\n  erp: { type: odata, base_url: \"http://x\" }\n  crm: { type: odata, base_url: \"http://y\" }\nmappings: [\"m.yaml\"]\n"
	const mapping = "name: CUSTOMER\ntable: { connector: erp, entity: customers, key: id }\nintegration: { connector: crm, entity: accounts, key: accountid }\nfields: [{ field: a, integration_field: b }]\n"
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, files := range []map[string][]byte{
			{ProjectFile: []byte(project), "m.yaml": data},
			{ProjectFile: data, "m.yaml": []byte(mapping)},
		} {
			dir := t.TempDir()
			for name, src := range files {
				if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			skipSchemaChecks.Store(true)
			_, diags := Load(dir, LoadOptions{Getenv: testEnv})
			skipSchemaChecks.Store(false)
			if diags.HasErrors() {
				continue
			}
			for name, src := range files {
				var ds Diagnostics
				for _, d := range schemaDiagnostics(name, src, kindOf(name)) {
					// The loader takes any key of an option map or an
					// entity list, as its text: the one place the schema
					// is stricter on purpose.
					if !strings.HasPrefix(d.Message, "keys must be strings") {
						ds = append(ds, d)
					}
				}
				if len(ds) > 0 {
					t.Errorf("the loader accepts %s but the schema says:\n%v\n--- %s\n%s", name, ds, name, src)
				}
			}
		}
	})
}
