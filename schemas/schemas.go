// Package schemas holds the JSON Schemas (draft 2020-12) of coupler's two
// file kinds, the project file coupler.yaml and the mapping files, and of
// the JSON plan format. Editors
// use them for completion, hover and checking (a YAML file opts in with a
// "# yaml-language-server: $schema=<URL>" first line); coupler validates
// every file it loads against them as well, so they are kept in step with
// the loader in package mappings by its tests.
package schemas

import (
	_ "embed"
)

// URLs are the schemas' $id: where editors look them up, and the names
// under which coupler compiles them.
const (
	ProjectURL = "https://coupler.dev/schemas/coupler.schema.json"
	MappingURL = "https://coupler.dev/schemas/mapping.schema.json"
	PlanURL    = "https://coupler.dev/schemas/plan.schema.json"
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

// Plan is the schema of a plan as plan --format json prints it.
//
//go:embed plan.schema.json
var Plan []byte

// Modeline is the first line that makes the YAML language server check a
// mapping file against the mapping schema.
const Modeline = "# yaml-language-server: $schema=" + MappingURL
