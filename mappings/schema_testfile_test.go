package mappings

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/mappings/defaults"
	"github.com/couplerhq/coupler/schemas"
)

// testFileLoader is the source of the loader of mapping test files, which
// lives with the engine that runs them; it is read, not imported, so that
// this package's tests do not build the engine.
const testFileLoader = "../engine/mappingtest.go"

// yamlTags returns the yaml keys of the fields of struct name in file.
func yamlTags(t *testing.T, file *ast.File, name string) []string {
	t.Helper()
	var keys []string
	found := false
	ast.Inspect(file, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != name {
			return true
		}
		found = true
		for _, f := range ts.Type.(*ast.StructType).Fields.List {
			if f.Tag == nil {
				t.Errorf("%s.%s has no yaml tag", name, f.Names[0].Name)
				continue
			}
			tag, _ := strconv.Unquote(f.Tag.Value)
			key, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
			if key != "-" {
				keys = append(keys, key)
			}
		}
		return false
	})
	if !found {
		t.Fatalf("no type %s in %s", name, testFileLoader)
	}
	return keys
}

// TestTestSchemaKeysMatchLoader keeps the schema of mapping test files in
// step with their loader (engine.TestFile and engine.TestCase, decoded
// with known fields only): the same keys at the top and in a case.
func TestTestSchemaKeysMatchLoader(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), testFileLoader, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	top := schemaAt(t, schemas.Test, "/properties").(map[string]any)
	cases := schemaAt(t, schemas.Test, "/$defs/case/properties").(map[string]any)
	for _, c := range []struct {
		typ    string
		schema map[string]any
	}{{"TestFile", top}, {"TestCase", cases}} {
		loader := yamlTags(t, file, c.typ)
		if want := slices.Sorted(maps.Keys(c.schema)); !sameSet(loader, want) {
			t.Errorf("%s decodes %q, the test schema lists %q", c.typ, loader, want)
		}
	}
}

// TestTestSchemaAcceptsBundledTests validates every bundled test file
// against the test schema, and a misspelled key in one against it.
func TestTestSchemaAcceptsBundledTests(t *testing.T) {
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Test))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(schemas.TestURL, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemas.TestURL)
	if err != nil {
		t.Fatal(err)
	}
	validate := func(name string, src []byte) error {
		var diags Diagnostics
		docs := newDecoder(name, &diags, nil, "").documents(src)
		if len(docs) != 1 {
			t.Fatalf("%s: %d documents: %v", name, len(docs), diags)
		}
		conv := yamlToJSON{budget: schemaNodeBudget, active: map[*yaml.Node]bool{}, report: &schemaReport{}}
		v, _ := conv.value(docs[0])
		return sch.Validate(v)
	}
	n := 0
	err = fs.WalkDir(defaults.FS, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !IsTestFile(p) {
			return err
		}
		src, err := fs.ReadFile(defaults.FS, p)
		if err != nil {
			return err
		}
		n++
		if err := validate(p, src); err != nil {
			t.Errorf("defaults/%s: %v", p, err)
		}
		if n == 1 {
			typo := bytes.Replace(src, []byte("\n    input:"), []byte("\n    inptu:"), 1)
			if bytes.Equal(typo, src) {
				t.Fatalf("defaults/%s: no input: to misspell", p)
			}
			if validate(p, typo) == nil {
				t.Errorf("defaults/%s: the schema accepts a misspelled input", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no bundled test file")
	}
}
