package schemas

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// all are the schemas of the YAML file kinds, which document every key for
// editors (the plan schema is checked by plan_schema_test.go).
var all = []struct {
	url, file string
	data      []byte
}{{ProjectURL, ProjectFile, Project}, {MappingURL, MappingFile, Mapping}, {TestURL, TestFile, Test}}

func compiler(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	for _, s := range all {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.data))
		if err != nil {
			t.Fatalf("%s: %v", s.url, err)
		}
		if err := c.AddResource(s.url, doc); err != nil {
			t.Fatalf("%s: %v", s.url, err)
		}
	}
	return c
}

// TestSchemasCompile checks the schemas against the draft 2020-12
// metaschema, and their identity: a relative $id, the file's name.
func TestSchemasCompile(t *testing.T) {
	c := compiler(t)
	for _, s := range all {
		if _, err := c.Compile(s.url); err != nil {
			t.Errorf("%s: %v", s.url, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(s.data, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %v, want draft 2020-12", s.url, doc["$schema"])
		}
		if doc["$id"] != s.file {
			t.Errorf("$id = %v, want %s", doc["$id"], s.file)
		}
		if title, _ := doc["title"].(string); title == "" {
			t.Errorf("%s: no title", s.url)
		}
	}
	for _, s := range All {
		if got, ok := Named(s.Name); !ok || got.File != s.File || !bytes.Equal(got.Data, s.Data) {
			t.Errorf("Named(%q) = %v, %v", s.Name, got.File, ok)
		}
		var doc map[string]any
		if err := json.Unmarshal(s.Data, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["$id"] != s.File {
			t.Errorf("%s: $id = %v, want %s", s.Name, doc["$id"], s.File)
		}
	}
}

// constraint keywords hold rules between keys, not the keys themselves:
// their properties need no description and are not closed.
var constraint = map[string]bool{"if": true, "then": true, "else": true, "not": true, "allOf": true, "anyOf": true, "oneOf": true}

// walkSchemas calls fn for every subschema that declares keys (has
// properties), outside rules between keys, with its JSON pointer.
func walkSchemas(t *testing.T, fn func(url, ptr string, sch map[string]any)) {
	t.Helper()
	var walk func(url, ptr string, v any)
	walk = func(url, ptr string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["properties"].(map[string]any); ok {
				fn(url, ptr, v)
			}
			for k, c := range v {
				if constraint[k] {
					continue
				}
				if k == "properties" || k == "$defs" {
					if m, ok := c.(map[string]any); ok {
						for name, s := range m {
							walk(url, ptr+"/"+k+"/"+name, s)
						}
					}
					continue
				}
				walk(url, ptr+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(url, ptr+"/"+itoa(i), c)
			}
		}
	}
	for _, s := range all {
		var doc any
		if err := json.Unmarshal(s.data, &doc); err != nil {
			t.Fatal(err)
		}
		walk(s.url, "", doc)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestEveryPropertyDescribed checks that every key has a description for
// editors to show, with an example, and that every object a file may
// hold rejects unknown keys as the loader does.
func TestEveryPropertyDescribed(t *testing.T) {
	n := 0
	walkSchemas(t, func(url, ptr string, sch map[string]any) {
		if sch["additionalProperties"] != false {
			t.Errorf("%s#%s: additionalProperties is not false", url, ptr)
		}
		for name, p := range sch["properties"].(map[string]any) {
			n++
			desc, _ := p.(map[string]any)["description"].(string)
			if desc == "" {
				t.Errorf("%s#%s/properties/%s: no description", url, ptr, name)
			} else if !strings.Contains(desc, "Example: `") {
				t.Errorf("%s#%s/properties/%s: the description gives no example", url, ptr, name)
			}
		}
	})
	for _, s := range all {
		var doc struct {
			Defs map[string]map[string]any `json:"$defs"`
		}
		if err := json.Unmarshal(s.data, &doc); err != nil {
			t.Fatal(err)
		}
		for name, d := range doc.Defs {
			if desc, _ := d["description"].(string); desc == "" {
				t.Errorf("%s#/$defs/%s: no description", s.url, name)
			}
		}
	}
	if n < 40 {
		t.Errorf("found %d properties, want the 40 or so keys of the two file kinds", n)
	}
}

var exampleRE = regexp.MustCompile("Example: `([^`]*)`")

// TestDescriptionExamples validates the example in each description, when
// it is "key: value" for the key it describes, against that key's schema,
// so that no description teaches something the schema (or coupler)
// rejects.
func TestDescriptionExamples(t *testing.T) {
	c := compiler(t)
	checked := 0
	walkSchemas(t, func(url, ptr string, sch map[string]any) {
		for name, p := range sch["properties"].(map[string]any) {
			desc, _ := p.(map[string]any)["description"].(string)
			m := exampleRE.FindStringSubmatch(desc)
			if m == nil {
				continue
			}
			var ex map[string]any
			if err := yaml.Unmarshal([]byte(m[1]), &ex); err != nil {
				t.Errorf("%s#%s/properties/%s: example %q is not YAML: %v", url, ptr, name, m[1], err)
				continue
			}
			v, ok := ex[name]
			if !ok || len(ex) != 1 {
				t.Logf("%s#%s/properties/%s: example %q is not of the key alone, not checked", url, ptr, name, m[1])
				continue
			}
			sch, err := c.Compile(url + "#" + ptr + "/properties/" + name)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); err != nil {
				t.Errorf("%s#%s/properties/%s: example %q is invalid: %v", url, ptr, name, m[1], err)
			}
			checked++
		}
	})
	if checked < 40 {
		t.Errorf("checked %d examples, want 40 at least", checked)
	}
}
