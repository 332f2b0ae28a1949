package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks yaml.Nodes of one file, collecting every problem instead of
// stopping at the first, so that one validate run shows them all.
type decoder struct {
	file  string
	diags *Diagnostics
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.diags.Errorf(d.pos(n), format, args...)
}

// kindName names a node's kind the way a user thinks of YAML.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// keyHandler decodes the value of one key.
type keyHandler func(key, val *yaml.Node)

// object decodes a YAML mapping whose keys are known in advance. Unknown and
// duplicate keys are errors; required keys that are missing are errors at the
// mapping itself. It reports whether n was a mapping at all.
func (d *decoder) object(n *yaml.Node, what string, required []string, keys map[string]keyHandler) bool {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be strings", what)
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		h, ok := keys[k.Value]
		if !ok {
			d.errorf(k, "%s: unknown key %q%s", what, k.Value, suggest(k.Value, keys))
			continue
		}
		h(k, v)
	}
	for _, r := range required {
		if !seen[r] {
			d.errorf(n, "%s: missing required key %q", what, r)
		}
	}
	return true
}

// suggest proposes the closest known key for a misspelt one.
func suggest(got string, keys map[string]keyHandler) string {
	best, bestDist := "", 3
	for k := range keys {
		if dist := EditDistance(got, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	return "; expected one of " + strings.Join(names, ", ")
}

// EditDistance is the Levenshtein distance between a and b, in bytes: how
// far a misspelt name is from a known one.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	// Aliases are resolved once: an alias to an alias is rejected by yaml.v3.
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// nonEmpty decodes a string that must not be blank.
func (d *decoder) nonEmpty(n *yaml.Node, what string) (string, bool) {
	s, ok := d.str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		d.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

func (d *decoder) integer(n *yaml.Node, what string, lo, hi int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, "%s must be a whole number, not %s", what, kindName(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		d.errorf(n, "%s must be between %d and %d", what, lo, hi)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, "%s must be true or false, not %s", what, kindName(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.errorf(n, "%s must be true or false", what)
		return false, false
	}
	return b, true
}

func (d *decoder) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := d.str(n, what)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.errorf(n, "%s must be a duration such as 30s or 2m, not %q", what, s)
		return 0, false
	}
	return v, true
}

func (d *decoder) strings(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list of strings, not %s", what, kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := d.nonEmpty(resolveAlias(c), what+" entry")
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// expr records an expression with enough about its YAML style to map an
// error inside it back to a file position.
func (d *decoder) expr(n *yaml.Node, what string) (Expr, bool) {
	s, ok := d.nonEmpty(n, what)
	if !ok {
		return Expr{}, false
	}
	e := Expr{Source: s, Pos: d.pos(n)}
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		e.quoted = true
	case yaml.LiteralStyle, yaml.FoldedStyle:
		e.block = true
	}
	return e, true
}

// scalarValue decodes a constant: null, bool, number or string, keeping
// numbers exact as their source text.
func (d *decoder) scalarValue(n *yaml.Node, what string) (any, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s must be a string, number, boolean or null, not %s", what, kindName(n))
		return nil, false
	}
	switch n.Tag {
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errorf(n, "%s: %v", what, err)
			return nil, false
		}
		return b, true
	case "!!int", "!!float":
		// Kept as its digits, so that 12345678901234567891 or 0.1 is
		// written exactly as it was typed.
		text := strings.ReplaceAll(n.Value, "_", "")
		if _, err := strconv.ParseFloat(text, 64); err != nil || !json.Valid([]byte(text)) {
			d.errorf(n, "%s: %q is not a number coupler can write", what, n.Value)
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
			d.diags.Errorf(Pos{File: d.file, Line: line, Col: col}, "invalid YAML: %s", msg)
			return docs
		}
		if len(doc.Content) == 0 {
			continue
		}
		docs = append(docs, doc.Content[0])
	}
}
