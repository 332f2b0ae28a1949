package scaffold

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Conflict is a place where the user and the bundled update changed a
// mapping file differently, or a file that cannot be merged at all.
type Conflict struct {
	// File is the project file, e.g. mappings/customer.yaml; Merge leaves it
	// empty and PlanReset fills it in.
	File string
	// Path names the key: filter, table.key,
	// fields[displayName -> name].to_integration. It is empty when the whole
	// file cannot be merged; Reason then says why.
	Path string
	// Yours, Bundled and Base render the three values: "upper(value)" (a
	// quoted string), 5, {field: x, ...}, or (deleted) / (absent).
	Yours, Bundled, Base string
	Reason               string
}

func (c Conflict) String() string {
	prefix := ""
	if c.File != "" {
		prefix = c.File + ": "
	}
	if c.Path == "" {
		return prefix + c.Reason
	}
	return fmt.Sprintf("%s%s: yours %s, bundled %s, base %s", prefix, c.Path, c.Yours, c.Bundled, c.Base)
}

// MergeResult is the outcome of a three-way merge.
type MergeResult struct {
	// Content is the merged file. It is the user's file byte for byte when
	// the bundled update brings nothing new, and the bundled file byte for
	// byte when the user changed nothing. It is undefined when there are
	// conflicts.
	Content []byte
	// Conflicts lists the keys changed differently on both sides.
	Conflicts []Conflict
}

// Merge merges, in one YAML file, the user's changes (base -> ours) with the
// bundled update (base -> theirs). base may be nil: then every key both sides
// hold with different values is a conflict.
//
// The merge works on YAML keys. Mappings merge key by key, recursively. A
// list whose items all name a field pair (field / integration_field, as
// fields: and match.fields: do) merges item by item, each item identified by
// its pair; so does a list whose items all have a name: (the cases of a test
// file). Any other list (depends_on, say) merges as a set: the bundled order,
// then what the user added. A value changed on one side only takes that
// side's value, changed identically on both is kept, changed differently is
// a conflict; a deletion is a change like any other.
//
// The result keeps the user's key order, with new keys appended in the
// bundled order and new list items placed after their bundled predecessor.
// It keeps the user's comments and formatting wherever the merge changed
// nothing, and is written as yaml.v3 writes it (2-space indent) elsewhere.
// An error means a file could not be read as YAML or holds more than one
// document.
func Merge(base, ours, theirs []byte) (*MergeResult, error) {
	bd, err := parseOne(base, "base")
	if err != nil {
		return nil, err
	}
	od, err := parseOne(ours, "your file")
	if err != nil {
		return nil, err
	}
	td, err := parseOne(theirs, "bundled file")
	if err != nil {
		return nil, err
	}
	if base != nil && bytes.Equal(base, ours) {
		// The user changed nothing, not even a comment.
		return &MergeResult{Content: theirs}, nil
	}
	var m merger
	b, o, t := root(bd), root(od), root(td)
	r := m.merge(b, o, t, "")
	res := &MergeResult{Conflicts: m.conflicts}
	switch {
	case len(m.conflicts) > 0:
	case r == o:
		res.Content = ours
	case r == t:
		res.Content = theirs
	case r == nil:
		res.Content = nil
	default:
		res.Content = render(ours, od, r)
	}
	return res, nil
}

// parseOne parses a file that holds at most one YAML document; an empty
// file gives nil.
func parseOne(src []byte, what string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not valid YAML: %v", what, err)
		}
		docs = append(docs, &n)
	}
	switch len(docs) {
	case 0:
		return nil, nil
	case 1:
		return docs[0], nil
	}
	return nil, fmt.Errorf("%s holds %d YAML documents; only a file of one mapping can be merged", what, len(docs))
}

func root(doc *yaml.Node) *yaml.Node {
	if doc == nil || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

type merger struct {
	conflicts []Conflict
}

// merge returns the merged value of one key: o itself when the result is
// the user's value, t itself when it is the bundled one, nil when the key is
// deleted, or a new node.
func (m *merger) merge(b, o, t *yaml.Node, path string) *yaml.Node {
	rb, ro, rt := resolve(b), resolve(o), resolve(t)
	switch {
	case equal(o, t), equal(b, t):
		return o
	case equal(b, o):
		// Only the bundled side changed the value. A scalar is simply
		// theirs; a mapping or list is merged all the same, so that the
		// user's comments and order survive where the update leaves them.
		if ro == nil || rt == nil || ro.Kind != rt.Kind || (ro.Kind != yaml.MappingNode && ro.Kind != yaml.SequenceNode) {
			return t
		}
	}
	if ro != nil && rt != nil && ro.Kind == rt.Kind && (rb == nil || rb.Kind == ro.Kind) {
		switch ro.Kind {
		case yaml.MappingNode:
			return m.mergeMap(rb, ro, rt, path)
		case yaml.SequenceNode:
			return m.mergeList(rb, ro, rt, path)
		}
	}
	m.conflicts = append(m.conflicts, Conflict{
		Path:    displayKeyPath(path),
		Yours:   renderValue(o, "(deleted)"),
		Bundled: renderValue(t, "(deleted)"),
		Base:    renderValue(b, "(absent)"),
	})
	return o
}

func displayKeyPath(p string) string {
	if p == "" {
		return "(the whole document)"
	}
	return p
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func joinPath(path, key string) string {
	if !plainKeyRE.MatchString(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

type pairs struct {
	keys []string
	vals map[string]*yaml.Node
}

func mapPairs(n *yaml.Node) pairs {
	p := pairs{vals: map[string]*yaml.Node{}}
	if n == nil {
		return p
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := keyString(n.Content[i])
		if _, dup := p.vals[k]; dup {
			continue
		}
		p.keys = append(p.keys, k)
		p.vals[k] = n.Content[i+1]
	}
	return p
}

func keyString(k *yaml.Node) string {
	k = resolve(k)
	if k.Kind == yaml.ScalarNode {
		return k.Value
	}
	return canon(k)
}

func (m *merger) mergeMap(b, o, t *yaml.Node, path string) *yaml.Node {
	bp, op, tp := mapPairs(b), mapPairs(o), mapPairs(t)
	var content []*yaml.Node
	changed := false
	seen := map[string]bool{}
	for i := 0; i+1 < len(o.Content); i += 2 {
		k, ov := o.Content[i], o.Content[i+1]
		key := keyString(k)
		if seen[key] {
			content = append(content, k, ov)
			continue
		}
		seen[key] = true
		r := m.merge(bp.vals[key], ov, tp.vals[key], joinPath(path, key))
		if r == nil {
			changed = true
			continue
		}
		if r != ov {
			changed = true
		}
		content = append(content, k, r)
	}
	for i := 0; i+1 < len(t.Content); i += 2 {
		k := t.Content[i]
		key := keyString(k)
		if _, inOurs := op.vals[key]; inOurs || seen[key] {
			continue
		}
		seen[key] = true
		if r := m.merge(bp.vals[key], nil, t.Content[i+1], joinPath(path, key)); r != nil {
			content = append(content, k, r)
			changed = true
		}
	}
	if !changed {
		return o
	}
	n := *o
	n.Content = content
	return &n
}

// listItem is one item of a list merged by identity.
type listItem struct {
	id, label string
	node      *yaml.Node
}

type identity func(n *yaml.Node) (id, label string, ok bool)

// fieldIdentity identifies a field mapping by its pair.
func fieldIdentity(n *yaml.Node) (string, string, bool) {
	p := mapPairs(mappingOf(n))
	f, fok := scalarOf(p.vals["field"])
	i, iok := scalarOf(p.vals["integration_field"])
	if mappingOf(n) == nil || (!fok && !iok) {
		return "", "", false
	}
	label := f + " -> " + i
	switch {
	case !iok:
		label = f
	case !fok:
		label = i
	}
	return f + "\x00" + i, label, true
}

// nameIdentity identifies an item by its name: key, as a test case.
func nameIdentity(n *yaml.Node) (string, string, bool) {
	s, ok := scalarOf(mapPairs(mappingOf(n)).vals["name"])
	if mappingOf(n) == nil || !ok {
		return "", "", false
	}
	return s, s, true
}

func mappingOf(n *yaml.Node) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

func scalarOf(n *yaml.Node) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	return n.Value, true
}

// items identifies every item of a list, numbering repeated identities.
func items(n *yaml.Node, id identity) ([]listItem, bool) {
	if n == nil {
		return nil, true
	}
	var out []listItem
	count := map[string]int{}
	for _, c := range n.Content {
		i, label, ok := id(c)
		if !ok {
			return nil, false
		}
		count[i]++
		if k := count[i]; k > 1 {
			i = fmt.Sprintf("%s#%d", i, k)
			label = fmt.Sprintf("%s #%d", label, k)
		}
		out = append(out, listItem{id: i, label: label, node: c})
	}
	return out, true
}

func (m *merger) mergeList(b, o, t *yaml.Node, path string) *yaml.Node {
	for _, id := range []identity{fieldIdentity, nameIdentity} {
		bi, bok := items(b, id)
		oi, ook := items(o, id)
		ti, tok := items(t, id)
		if bok && ook && tok && len(oi)+len(ti) > 0 {
			return m.mergeByIdentity(bi, oi, ti, o, path)
		}
	}
	return mergeSet(b, o, t)
}

func (m *merger) mergeByIdentity(bi, oi, ti []listItem, o *yaml.Node, path string) *yaml.Node {
	index := func(list []listItem) map[string]*yaml.Node {
		out := map[string]*yaml.Node{}
		for _, it := range list {
			out[it.id] = it.node
		}
		return out
	}
	bm, om, tm := index(bi), index(oi), index(ti)
	var result []listItem
	changed := false
	for _, it := range oi {
		r := m.merge(bm[it.id], it.node, tm[it.id], path+"["+it.label+"]")
		if r == nil {
			changed = true
			continue
		}
		if r != it.node {
			changed = true
		}
		result = append(result, listItem{id: it.id, node: r})
	}
	// Items new in the bundled list go after their bundled predecessor.
	after := -1
	for _, it := range ti {
		if _, inOurs := om[it.id]; inOurs {
			for i, r := range result {
				if r.id == it.id {
					after = i
				}
			}
			continue
		}
		r := m.merge(bm[it.id], nil, it.node, path+"["+it.label+"]")
		if r == nil {
			continue
		}
		result = append(result, listItem{})
		copy(result[after+2:], result[after+1:])
		result[after+1] = listItem{id: it.id, node: r}
		after++
		changed = true
	}
	if !changed {
		return o
	}
	n := *o
	n.Content = nil
	for _, r := range result {
		n.Content = append(n.Content, r.node)
	}
	return &n
}

// mergeSet merges lists as sets: the bundled items the user did not remove,
// in the bundled order, then the items the user added.
func mergeSet(b, o, t *yaml.Node) *yaml.Node {
	set := func(n *yaml.Node) map[string]*yaml.Node {
		out := map[string]*yaml.Node{}
		if n != nil {
			for _, c := range n.Content {
				if _, dup := out[canon(c)]; !dup {
					out[canon(c)] = c
				}
			}
		}
		return out
	}
	bs, oset, ts := set(b), set(o), set(t)
	var content []*yaml.Node
	seen := map[string]bool{}
	for _, c := range t.Content {
		k := canon(c)
		if seen[k] {
			continue
		}
		seen[k] = true
		if on, inOurs := oset[k]; inOurs {
			content = append(content, on)
		} else if _, inBase := bs[k]; !inBase {
			content = append(content, c)
		}
	}
	for _, c := range o.Content {
		k := canon(c)
		if seen[k] {
			continue
		}
		seen[k] = true
		_, inBase := bs[k]
		_, inTheirs := ts[k]
		if !inBase && !inTheirs {
			content = append(content, c)
		}
	}
	same := len(content) == len(o.Content)
	for i := 0; same && i < len(content); i++ {
		same = content[i] == o.Content[i]
	}
	if same {
		return o
	}
	n := *o
	n.Content = content
	return &n
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func equal(a, b *yaml.Node) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a == b || canon(a) == canon(b)
}

// canon renders a node's value, ignoring style, comments and key order, so
// that equal values render equally.
func canon(n *yaml.Node) string {
	n = resolve(n)
	if n == nil {
		return "~absent"
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return "~empty"
		}
		return canon(n.Content[0])
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return "!" + n.ShortTag() + ":" + strconv.Quote(n.Value)
		}
		return fmt.Sprintf("%T:%#v", v, v)
	case yaml.MappingNode:
		var kv []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			kv = append(kv, canon(n.Content[i])+"="+canon(n.Content[i+1]))
		}
		sort.Strings(kv)
		return "{" + strings.Join(kv, ",") + "}"
	case yaml.SequenceNode:
		var items []string
		for _, c := range n.Content {
			items = append(items, canon(c))
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	return "?"
}

// renderValue renders a value for a conflict message, on one line.
func renderValue(n *yaml.Node, absent string) string {
	n = resolve(n)
	if n == nil {
		return absent
	}
	if n.Kind == yaml.ScalarNode {
		if n.ShortTag() == "!!str" {
			return quote(n.Value)
		}
		return n.Value
	}
	c := flowCopy(n)
	out, err := yaml.Marshal(c)
	if err != nil {
		return "?"
	}
	s := strings.TrimSpace(string(out))
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	return s
}

// quote quotes a string for a message: "like this", or 'like this' when it
// holds double quotes and no control character, as filters often do.
func quote(s string) string {
	q := strconv.Quote(s)
	if strings.Contains(s, `"`) && q == `"`+strings.ReplaceAll(s, `"`, `\"`)+`"` {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return q
}

// flowCopy copies a node tree without comments, in flow style.
func flowCopy(n *yaml.Node) *yaml.Node {
	n = resolve(n)
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	if c.Kind != yaml.ScalarNode {
		c.Style = yaml.FlowStyle
	}
	c.Content = nil
	for _, k := range n.Content {
		c.Content = append(c.Content, flowCopy(k))
	}
	return &c
}

func encode(n *yaml.Node) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil
	}
	if err := enc.Close(); err != nil {
		return nil
	}
	return b.Bytes()
}

// render writes a merged document. yaml.v3 writes it without the user's
// blank lines and spacing (merged); the user's file written by yaml.v3
// (normalized) differs from the user's file (ours) only in formatting. A
// line-level three-way merge of the two, with normalized as base, takes the
// user's lines wherever the merge changed nothing, and yaml.v3's elsewhere.
// If that gives anything but the merged value, the plain yaml.v3 rendering
// is used.
func render(ours []byte, od *yaml.Node, result *yaml.Node) []byte {
	doc := *od
	doc.Content = []*yaml.Node{result}
	merged := encode(&doc)
	normalized := encode(od)
	if merged == nil || normalized == nil {
		return merged
	}
	out := restoreFormatting(ours, normalized, merged)
	if parsed, err := parseOne(out, "merged"); err == nil && parsed != nil && canon(parsed) == canon(&doc) {
		return out
	}
	return merged
}

var (
	spacedBraceRE   = regexp.MustCompile(`\{ \S`)
	tightBraceRE    = regexp.MustCompile(`\{[^\s}]`)
	spacedBracketRE = regexp.MustCompile(`\[ \S`)
	tightBracketRE  = regexp.MustCompile(`\[[^\s\]]`)
	flowLineRE      = regexp.MustCompile(`^(\s*(?:- )*(?:[A-Za-z0-9_.-]+: )?)([{\[])(\S.*\S|\S)([}\]])\n?$`)
)

func restoreFormatting(ours, normalized, merged []byte) []byte {
	o, n, m := splitLines(string(ours)), splitLines(string(normalized)), splitLines(string(merged))
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
	matchA := matches(diffLines(n, o, squeeze), len(n))
	matchB := matches(diffLines(n, m, nil), len(n))
	spaceBraces := len(spacedBraceRE.FindAllString(string(ours), -1)) > len(tightBraceRE.FindAllString(string(ours), -1))
	spaceBrackets := len(spacedBracketRE.FindAllString(string(ours), -1)) > len(tightBracketRE.FindAllString(string(ours), -1))
	var out strings.Builder
	i, a, b := 0, 0, 0
	for {
		j := i
		for j < len(n) && (matchA[j] < 0 || matchB[j] < 0) {
			j++
		}
		aj, bj := len(o), len(m)
		if j < len(n) {
			aj, bj = matchA[j], matchB[j]
		}
		mergeChanged := bj-b != j-i
		for k := i; k < j && !mergeChanged; k++ {
			mergeChanged = matchB[k] < 0
		}
		if mergeChanged {
			// The user's blank lines around the region stay.
			region := o[a:aj]
			lead := 0
			for lead < len(region) && strings.TrimSpace(region[lead]) == "" {
				lead++
			}
			trail := 0
			for trail < len(region)-lead && strings.TrimSpace(region[len(region)-1-trail]) == "" {
				trail++
			}
			for _, l := range region[:lead] {
				out.WriteString(l)
			}
			for _, l := range m[b:bj] {
				out.WriteString(respace(l, spaceBraces, spaceBrackets))
			}
			for _, l := range region[len(region)-trail:] {
				out.WriteString(l)
			}
		} else {
			for _, l := range o[a:aj] {
				out.WriteString(l)
			}
		}
		if j == len(n) {
			break
		}
		out.WriteString(o[aj])
		i, a, b = j+1, aj+1, bj+1
	}
	return []byte(out.String())
}

// matches maps each line of a diff's first sequence to its equal line in
// the second, or -1.
func matches(edits []edit, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = -1
	}
	for _, e := range edits {
		if e.kind == opEqual {
			out[e.a] = e.b
		}
	}
	return out
}

// respace writes a one-line flow collection as { a: b } or [ a, b ] when the
// user's file does.
func respace(line string, braces, brackets bool) string {
	sm := flowLineRE.FindStringSubmatch(line)
	if sm == nil {
		return line
	}
	open, close := sm[2], sm[4]
	if (open == "{") != (close == "}") || (open == "{" && !braces) || (open == "[" && !brackets) {
		return line
	}
	nl := ""
	if strings.HasSuffix(line, "\n") {
		nl = "\n"
	}
	return sm[1] + open + " " + sm[3] + " " + close + nl
}
