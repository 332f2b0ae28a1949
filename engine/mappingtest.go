package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/mappings/defaults"
)

// TestFile is a file of mapping tests: records in, expected fields out, run
// offline with lookups stubbed. It sits beside its mapping file as
// name.test.yaml.
type TestFile struct {
	Path    string `yaml:"-"`
	Mapping string `yaml:"mapping"`
	// Lookups stubs couplings: mapping -> table-side id -> integration-side id.
	Lookups map[string]map[string]string `yaml:"lookups"`
	Cases   []TestCase                   `yaml:"cases"`
}

// TestCase is one record through one direction of a mapping.
type TestCase struct {
	Name string `yaml:"name"`
	// Direction is required when the mapping is bidirectional.
	Direction string         `yaml:"direction"`
	Input     map[string]any `yaml:"input"`
	// Output lists every destination field the mapping computes.
	Output map[string]any `yaml:"output"`
	// Filtered expects the record to be left out by the source filter.
	Filtered bool `yaml:"filtered"`
	// Error expects the record to fail with a message containing it.
	Error string `yaml:"error"`
	Line  int    `yaml:"-"`
}

// TestResult is the outcome of one case.
type TestResult struct {
	File string
	Case TestCase
	// Problems lists each mismatch; empty when the case passed.
	Problems []string
}

// Passed reports whether the case passed.
func (r TestResult) Passed() bool { return len(r.Problems) == 0 }

// FindTests reads the test files beside the program's mapping files, in
// mapping order. Bundled mappings find theirs in the bundled set.
func (p *Program) FindTests() ([]*TestFile, error) {
	var out []*TestFile
	seen := map[string]bool{}
	for _, m := range p.Project.Mappings {
		path := mappings.TestFileFor(m.Pos.File)
		if seen[path] {
			continue
		}
		seen[path] = true
		var src []byte
		var err error
		if strings.HasPrefix(m.Origin, "defaults:") {
			src, err = fs.ReadFile(defaults.FS, strings.TrimPrefix(path, "defaults/"))
		} else {
			src, err = os.ReadFile(path)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		tf, err := parseTestFile(path, src)
		if err != nil {
			return nil, err
		}
		out = append(out, tf)
	}
	return out, nil
}

func parseTestFile(path string, src []byte) (*TestFile, error) {
	var node yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	tf := &TestFile{Path: path}
	if err := yaml.Unmarshal(src, &node); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := dec.Decode(tf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tf.Path = path
	// Keep each case's line, so that a failure points at it.
	if len(node.Content) == 1 {
		root := node.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "cases" {
				for j, c := range root.Content[i+1].Content {
					if j < len(tf.Cases) {
						tf.Cases[j].Line = c.Line
					}
				}
			}
		}
	}
	if tf.Mapping == "" {
		return nil, fmt.Errorf("%s: missing key mapping", path)
	}
	return tf, nil
}

// stubLookups answers lookups from a test file's table.
type stubLookups map[string]map[string]string

func (s stubLookups) Translate(mapping string, fromTable bool, id string) (string, bool) {
	for from, to := range s[mapping] {
		if fromTable && from == id {
			return to, true
		}
		if !fromTable && to == id {
			return from, true
		}
	}
	return "", false
}

// RunTests runs every case of the files against the compiled mappings.
// Lookups are read under the names the project's connectors read them
// under (connectors.LookupReader), which building the connectors tells
// without sending a request; a connector that cannot be built is named in
// the problems of the failing cases of its mappings.
func (p *Program) RunTests(files []*TestFile) []TestResult {
	readers := map[string]connectors.LookupReader{}
	unbuilt := map[string]error{}
	for _, c := range p.Project.Connectors {
		// Tests need no secrets: naming lookups sends no request, so the
		// connector is built without credentials, and with any URL when
		// its variable is not set.
		cfg := c.Config
		cfg.Auth = connectors.Auth{}
		if cfg.BaseURL == "" {
			cfg.BaseURL = "https://base-url.invalid/"
		}
		conn, err := connectors.New(cfg)
		if err != nil {
			unbuilt[c.Name] = err
			continue
		}
		if r, ok := conn.(connectors.LookupReader); ok {
			readers[c.Name] = r
		}
	}
	p.readLookupsWith(func(name string) connectors.LookupReader { return readers[name] })
	var out []TestResult
	for _, tf := range files {
		for _, c := range tf.Cases {
			problems := p.runCase(tf, c)
			if m := p.Project.Mapping(tf.Mapping); len(problems) > 0 && m != nil {
				for _, name := range slices.Compact([]string{m.Table.Connector, m.Integration.Connector}) {
					if err := unbuilt[name]; err != nil {
						problems = append(problems, fmt.Sprintf("lookups were read under their own names: %v", err))
					}
				}
			}
			out = append(out, TestResult{File: tf.Path, Case: c, Problems: problems})
		}
	}
	return out
}

func (p *Program) runCase(tf *TestFile, c TestCase) []string {
	passes := p.Passes(tf.Mapping)
	if len(passes) == 0 {
		return []string{p.unknownMapping(tf.Mapping).Error()}
	}
	var m *Mapping
	switch {
	case c.Direction == "" && len(passes) == 1:
		m = passes[0]
	case c.Direction == "":
		return []string{"the mapping is bidirectional: give the case a direction"}
	default:
		for _, pass := range passes {
			if string(pass.Direction) == c.Direction {
				m = pass
			}
		}
		if m == nil {
			return []string{fmt.Sprintf("mapping %s has no %s flow", tf.Mapping, c.Direction)}
		}
	}
	rec := connectors.Record{}
	for k, v := range c.Input {
		rec[k] = v
	}
	for _, f := range m.Fields {
		// Tests may name a lookup as the mapping does (ownerid) rather
		// than as its connector reads it.
		if _, has := rec[f.SourceRead]; !has && f.SourceRead != f.Source {
			if v, ok := rec[f.Source]; ok {
				rec[f.SourceRead] = v
			}
		}
	}
	numbersForExpressions(rec)
	if m.Source.Filter != nil {
		in, err := m.Source.Filter.RunFilter(rec)
		if err != nil {
			return expectError(c, "filter: "+err.Error())
		}
		if !in {
			if c.Filtered {
				return nil
			}
			return []string{"left out by the filter, but the case expects it to pass"}
		}
	}
	if c.Filtered {
		return []string{"passes the filter, but the case expects it left out"}
	}
	got := map[string]*string{}
	for _, f := range m.Fields {
		v, err := f.Value(rec, stubLookups(tf.Lookups))
		if err != nil && f.ClearOnFailure {
			v, err = nil, nil
		}
		if err != nil {
			return expectError(c, fmt.Sprintf("field %s: %v", f.Label, err))
		}
		cv, err := canonical(v)
		if err != nil {
			return expectError(c, fmt.Sprintf("field %s: %v", f.Label, err))
		}
		if cv == nil && f.NotNull {
			continue // not written; the destination keeps its value
		}
		got[f.Dest] = cv
	}
	if c.Error != "" {
		return []string{fmt.Sprintf("expected an error containing %q, got none", c.Error)}
	}
	return diffFields(c.Output, got)
}

func expectError(c TestCase, msg string) []string {
	if c.Error != "" && strings.Contains(msg, c.Error) {
		return nil
	}
	if c.Error != "" {
		return []string{fmt.Sprintf("error %q does not contain %q", msg, c.Error)}
	}
	return []string{"failed: " + msg}
}

// diffFields compares expected with computed fields, one line per field.
func diffFields(want map[string]any, got map[string]*string) []string {
	var problems []string
	names := slices.Collect(maps.Keys(got))
	for k := range want {
		if _, ok := got[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	show := func(s *string) string {
		if s == nil {
			return "null"
		}
		return *s
	}
	for _, name := range names {
		g, computed := got[name]
		w, expected := want[name]
		switch {
		case !expected:
			problems = append(problems, fmt.Sprintf("%s: not expected, got %s", name, show(g)))
		case !computed:
			wc, _ := canonical(w)
			problems = append(problems, fmt.Sprintf("%s: want %s, not computed", name, show(wc)))
		default:
			wc, err := canonical(normalizeYAML(w))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: expected value: %v", name, err))
				continue
			}
			if show(wc) != show(g) {
				problems = append(problems, fmt.Sprintf("%s: want %s, got %s", name, show(wc), show(g)))
			}
		}
	}
	return problems
}

// normalizeYAML turns what yaml.v3 decodes into the types canonical knows.
func normalizeYAML(v any) any {
	switch v := v.(type) {
	case int:
		return int64(v)
	case map[string]any:
		for k, e := range v {
			v[k] = normalizeYAML(e)
		}
	case []any:
		for i, e := range v {
			v[i] = normalizeYAML(e)
		}
	}
	return v
}
