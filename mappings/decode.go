package mappings

import (
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors/config"
)

// decoder walks yaml.Nodes of one file, collecting every problem instead of
// stopping at the first, so that one validate run shows them all. The
// generic decoding is config.Decoder's, which the connector types share;
// what is here is the mapping language's own.
type decoder struct {
	config.Decoder
	diags *Diagnostics
}

// newDecoder returns a decoder of file reporting into diags.
func newDecoder(file string, diags *Diagnostics, getenv Getenv, dir string) *decoder {
	return &decoder{Decoder: config.Decoder{File: file, Diags: diags, Getenv: getenv, Dir: dir}, diags: diags}
}

// EditDistance is the Levenshtein distance between a and b, in bytes: how
// far a misspelt name is from a known one.
func EditDistance(a, b string) int { return config.EditDistance(a, b) }

// expr records an expression with enough about its YAML style to map an
// error inside it back to a file position.
func (d *decoder) expr(n *yaml.Node, what string) (Expr, bool) {
	s, ok := d.NonEmpty(n, what)
	if !ok {
		return Expr{}, false
	}
	e := Expr{Source: s, Pos: d.Pos(n)}
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		e.quoted = true
	case yaml.LiteralStyle, yaml.FoldedStyle:
		e.block = true
	}
	// Here, before anything parses it: see maxExprDepth.
	if lim := e.checkLimits(); lim != nil {
		d.diags.Errorf(lim.Pos, "%s: %s", what, lim.Message)
		return Expr{}, false
	}
	return e, true
}

// scalarValue decodes a constant: null, bool, number or string, keeping
// numbers exact as their source text.
func (d *decoder) scalarValue(n *yaml.Node, what string) (any, bool) {
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, "%s must be a string, number, boolean or null, not %s", what, config.KindName(n))
		return nil, false
	}
	switch n.Tag {
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			d.Errorf(n, "%s: %v", what, err)
			return nil, false
		}
		return b, true
	case "!!int", "!!float":
		// Kept as its digits, so that 12345678901234567891 or 0.1 is
		// written exactly as it was typed.
		text := strings.ReplaceAll(n.Value, "_", "")
		if _, err := strconv.ParseFloat(text, 64); err != nil || !json.Valid([]byte(text)) {
			d.Errorf(n, "%s: %q is not a number coupler can write", what, n.Value)
			return nil, false
		}
		return json.Number(text), true
	}
	return n.Value, true
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the yaml.v3 parser (not scanner) errors, whose line
// yaml.v3 reports zero-based; scanner errors are already one-based.
var parserProblems = map[string]bool{
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected key":              true,
	"did not find expected '-' indicator":    true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
}

// documents parses every YAML document in src. A syntax error becomes one
// diagnostic at the line yaml.v3 names.
func (d *decoder) documents(src []byte) []*yaml.Node {
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			msg := err.Error()
			line := 0
			if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
				if parserProblems[msg] {
					line++
				}
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			col := 0
			if line > 0 {
				col = 1
			}
			d.diags.Errorf(Pos{File: d.File, Line: line, Col: col}, "invalid YAML: %s", msg)
			return docs
		}
		if len(doc.Content) == 0 {
			continue
		}
		docs = append(docs, doc.Content[0])
	}
}
