// Package config decodes the YAML of coupler's configuration files node by
// node, keeping the file:line:col of every value, so that a mistake is
// reported where it was written and every mistake of a file is reported in
// one go. The mapping loader decodes the common keys with it, and each
// connector type decodes its own settings with it (see connectors.Spec),
// so that the loader knows no setting of any one type.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Pos is a position in a source file. Line and Col are 1-based; a zero Line
// means the position is the whole file.
type Pos struct {
	File string
	Line int
	Col  int
}

// String renders the position as file:line:col, the form editors jump to.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Reporter collects the problems a Decoder finds.
type Reporter interface {
	Errorf(pos Pos, format string, args ...any)
	Warnf(pos Pos, format string, args ...any)
}

// Getenv looks up an environment variable, so that tests and the demo need
// not touch the process environment.
type Getenv func(name string) (string, bool)

// OSGetenv is the process environment.
func OSGetenv(name string) (string, bool) { return os.LookupEnv(name) }

// Decoder walks the yaml.Nodes of one file, collecting every problem
// instead of stopping at the first.
type Decoder struct {
	// File is the file's path as problems name it.
	File string
	// Diags collects the problems.
	Diags Reporter
	// Getenv resolves ${NAME} references (Expand); nil leaves them unset.
	Getenv Getenv
	// Unset, when set, is told of each ${NAME} reference to a variable
	// that is not set, instead of it being reported as an error: a loader
	// that defers the check until a connector is built (commands that read
	// only the state need no secrets) records them there.
	Unset func(pos Pos, name string)
	// Dir is the directory relative paths are relative to (Path).
	Dir string
}

// Pos is the position of n.
func (d *Decoder) Pos(n *yaml.Node) Pos {
	return Pos{File: d.File, Line: n.Line, Col: n.Column}
}

// Errorf reports an error at n.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	d.Diags.Errorf(d.Pos(n), format, args...)
}

// Warnf reports a warning at n.
func (d *Decoder) Warnf(n *yaml.Node, format string, args ...any) {
	d.Diags.Warnf(d.Pos(n), format, args...)
}

// KindName names a node's kind the way a user thinks of YAML.
func KindName(n *yaml.Node) string {
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

// KeyFunc decodes the value of one key of a YAML mapping.
type KeyFunc func(key, val *yaml.Node)

// Object decodes a YAML mapping whose keys are known in advance. Unknown and
// duplicate keys are errors; required keys that are missing are errors at the
// mapping itself. It reports whether n was a mapping at all.
func (d *Decoder) Object(n *yaml.Node, what string, required []string, keys map[string]KeyFunc) bool {
	n = Resolve(n)
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s must be a mapping, not %s", what, KindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], Resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, "%s: keys must be strings", what)
			continue
		}
		if seen[k.Value] {
			d.Errorf(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		h, ok := keys[k.Value]
		if !ok {
			d.Errorf(k, "%s: unknown key %q%s", what, k.Value, Suggest(k.Value, keys))
			continue
		}
		h(k, v)
	}
	for _, r := range required {
		if !seen[r] {
			d.Errorf(n, "%s: missing required key %q", what, r)
		}
	}
	return true
}

// Suggest proposes the closest known key for a misspelt one: " (did you
// mean "x"?)", or the list of keys when none is close.
func Suggest[V any](got string, keys map[string]V) string {
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

// Resolve returns the node an alias stands for, or n itself.
func Resolve(n *yaml.Node) *yaml.Node {
	// Aliases are resolved once: an alias to an alias is rejected by yaml.v3.
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// KeyNode returns the key node named key of the YAML mapping n, nil when
// n is not a mapping or has no such key.
func KeyNode(n *yaml.Node, key string) *yaml.Node {
	if n = Resolve(n); n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// ValueNode returns the value of key in the YAML mapping n, nil when there
// is none.
func ValueNode(n *yaml.Node, key string) *yaml.Node {
	if n = Resolve(n); n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return Resolve(n.Content[i+1])
		}
	}
	return nil
}

// Str decodes a string.
func (d *Decoder) Str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, "%s must be a string, not %s", what, KindName(n))
		return "", false
	}
	return n.Value, true
}

// NonEmpty decodes a string that must not be blank.
func (d *Decoder) NonEmpty(n *yaml.Node, what string) (string, bool) {
	s, ok := d.Str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		d.Errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

// OneOf decodes a string that must be one of the values given, each with
// the words that say what it does ("record (each record succeeds or fails
// on its own)"), so that the error explains the choice.
func (d *Decoder) OneOf(n *yaml.Node, what string, values ...[2]string) (string, bool) {
	s, ok := d.NonEmpty(n, what)
	if !ok {
		return "", false
	}
	var choices []string
	for _, v := range values {
		if v[0] == s {
			return s, true
		}
		choice := v[0]
		if v[1] != "" {
			choice += " (" + v[1] + ")"
		}
		choices = append(choices, choice)
	}
	last := len(choices) - 1
	list := choices[last]
	if last > 0 {
		list = strings.Join(choices[:last], ", ") + " or " + choices[last]
	}
	d.Errorf(n, "%s must be %s, not %q", what, list, s)
	return s, false
}

// Int decodes a whole number between lo and hi.
func (d *Decoder) Int(n *yaml.Node, what string, lo, hi int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.Errorf(n, "%s must be a whole number, not %s", what, KindName(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		d.Errorf(n, "%s must be between %d and %d", what, lo, hi)
		return 0, false
	}
	return v, true
}

// sizeUnits are the units Size reads, in bytes.
var sizeUnits = map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}

var sizeRE = regexp.MustCompile(`^([0-9]+) ?(B|KiB|MiB|GiB|TiB)?$`)

// Size decodes a number of bytes between lo and hi: a whole number, or a
// string of one with a binary unit, such as 512MiB or 8GiB.
func (d *Decoder) Size(n *yaml.Node, what string, lo, hi int64) (int64, bool) {
	bad := func() (int64, bool) {
		d.Errorf(n, "%s must be a number of bytes between %d and %d, or one with a unit (B, KiB, MiB, GiB, TiB), e.g. 512MiB", what, lo, hi)
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return bad()
	}
	m := sizeRE.FindStringSubmatch(n.Value)
	if m == nil {
		return bad()
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	unit := sizeUnits[m[2]]
	if err != nil || v > hi/unit || v*unit < lo {
		return bad()
	}
	return v * unit, true
}

// Bool decodes true or false.
func (d *Decoder) Bool(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.Errorf(n, "%s must be true or false, not %s", what, KindName(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.Errorf(n, "%s must be true or false", what)
		return false, false
	}
	return b, true
}

// Duration decodes a duration such as 30s, not negative.
func (d *Decoder) Duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := d.Str(n, what)
	if !ok {
		return 0, false
	}
	v, err := ParseDuration(s)
	if err != nil || v < 0 {
		d.Errorf(n, "%s must be a duration such as 30s, 2m or 7d, not %q", what, s)
		return 0, false
	}
	return v, true
}

// Strings decodes a list of non-blank strings; a single string is a list
// of one.
func (d *Decoder) Strings(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, "%s must be a list of strings, not %s", what, KindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := d.NonEmpty(Resolve(c), what+" entry")
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// Expanded decodes a non-blank string with its ${NAME} references
// replaced (Expand).
func (d *Decoder) Expanded(n *yaml.Node, what string) (string, bool) {
	s, ok := d.NonEmpty(n, what)
	if !ok {
		return "", false
	}
	return d.Expand(s, d.Pos(n)), true
}

// Path decodes a file path, with ${NAME} references replaced; a relative
// one is made relative to the Decoder's Dir.
func (d *Decoder) Path(n *yaml.Node, what string) (string, bool) {
	s, ok := d.Expanded(n, what)
	if ok && s != "" && !filepath.IsAbs(s) && d.Dir != "" {
		s = filepath.Join(d.Dir, s)
	}
	return s, ok
}

// envRefRE matches ${NAME} references in values.
var envRefRE = regexp.MustCompile(`\$\{([^}]*)\}`)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Expand replaces every ${NAME} in s. Unset or malformed references are
// reported at pos; "$${" stands for a literal "${".
func (d *Decoder) Expand(s string, pos Pos) string {
	const escaped = "\x00dollar-brace\x00"
	s = strings.ReplaceAll(s, "$${", escaped)
	out := envRefRE.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if !envNameRE.MatchString(name) {
			d.Diags.Errorf(pos, "invalid environment reference %q: names are letters, digits and _", ref)
			return ""
		}
		var v string
		ok := false
		if d.Getenv != nil {
			v, ok = d.Getenv(name)
		}
		if !ok {
			if d.Unset != nil {
				d.Unset(pos, name)
				return ""
			}
			d.Diags.Errorf(pos, "environment variable %s is not set", name)
			return ""
		}
		return v
	})
	return strings.ReplaceAll(out, escaped, "${")
}
