// Package schemas holds the JSON Schemas (draft 2020-12) of coupler's file
// kinds: the project file coupler.yaml, the mapping files and the mapping
// test files (name.test.yaml), and of the JSON plan format. Editors use
// them for completion, hover and checking: a YAML file opts in with a
// "# yaml-language-server: $schema=<path>" first line (Modeline), and
// coupler init writes the schemas into the project (see package scaffold)
// so that the path is a relative one that resolves offline. coupler also
// validates every project and mapping file it loads against them, so they
// are kept in step with the loaders by tests.
//
// The schemas use only the keywords of draft 2020-12, so that validators
// in strict mode (ajv) accept them. A subschema whose description starts
// with a lower-case letter is a rule, and its description is the message
// coupler reports when a value breaks it (package mappings); a description
// that documents a key starts with a capital letter.
package schemas

import (
	_ "embed"
)

// The schemas' file names. Each is also its schema's $id, a relative one:
// a schema's base URI is then wherever its file is read from (this
// repository's schemas/, a project's .coupler-schemas/), so that nothing
// names a host that would have to serve it.
const (
	ProjectFile = "coupler.schema.json"
	MappingFile = "mapping.schema.json"
	TestFile    = "test.schema.json"
	PlanFile    = "plan.schema.json"
)

// Base is the base URI against which coupler resolves the relative $ids
// when it compiles the schemas. It is a name, never read.
const Base = "file:///coupler/schemas/"

// URLs are the schemas' absolute URIs, their $ids resolved against Base:
// the names under which coupler compiles them.
const (
	ProjectURL = Base + ProjectFile
	MappingURL = Base + MappingFile
	TestURL    = Base + TestFile
	PlanURL    = Base + PlanFile
)

// Project is the schema of the project file, coupler.yaml.
//
//go:embed coupler.schema.json
var Project []byte

// Mapping is the schema of a mapping file: each YAML document in it is one
// table mapping.
//
//go:embed mapping.schema.json
var Mapping []byte

// Test is the schema of a mapping test file, name.test.yaml.
//
//go:embed test.schema.json
var Test []byte

// Plan is the schema of a plan as plan --format json prints it.
//
//go:embed plan.schema.json
var Plan []byte

// Schema is one of the embedded schemas.
type Schema struct {
	// Name is what coupler schema takes: project, mapping, test or plan.
	Name string
	// File is the schema's file name, which is also its $id.
	File string
	// Data is the schema, JSON.
	Data []byte
}

// All lists the schemas: project, mapping, test, plan.
var All = []Schema{
	{"project", ProjectFile, Project},
	{"mapping", MappingFile, Mapping},
	{"test", TestFile, Test},
	{"plan", PlanFile, Plan},
}

// Named returns the schema called name (see Schema.Name).
func Named(name string) (Schema, bool) {
	for _, s := range All {
		if s.Name == name {
			return s, true
		}
	}
	return Schema{}, false
}

// ModelinePrefix starts the first line that makes the YAML language server
// check a file against a schema; the schema's path or URL follows.
const ModelinePrefix = "# yaml-language-server: $schema="

// Modeline returns the first line that points the YAML language server at
// the schema at path, a URL or a path relative to the file it heads.
func Modeline(path string) string {
	return ModelinePrefix + path
}
