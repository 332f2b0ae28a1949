package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/examples/demo"
)

// The docs that run: TestDocs executes the ```console blocks of README.md and
// docs/*.md against the demo's fake servers and compares what each command
// prints with what the page shows. docs/architecture.md ("Docs that run")
// describes the convention for writers; this file is its reference.

var updateDocs = flag.Bool("update", false, "TestDocs: rewrite the expected output of console blocks that differ from what the commands print")

// docsRoot is the repository root, seen from this package.
const docsRoot = "../.."

// docsEnv are the variables a page may export (`$ export BC_URL=...`, as
// init's next steps say): the test sets each to the demo servers' value
// instead of the placeholder the page shows.
func docsEnv(srv *demo.Servers) map[string]string {
	return map[string]string{
		"BC_URL":          srv.ERPURL(),
		"BC_TOKEN":        "demo-token",
		"DATAVERSE_URL":   srv.CRMURL(),
		"DATAVERSE_TOKEN": "demo-token",
	}
}

// TestDocs runs every page with console blocks, pages in parallel, each in
// its own directory against its own fake servers; a page's blocks run in
// order, so a walkthrough's steps build on each other.
func TestDocs(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(docsRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{filepath.Join(docsRoot, "README.md")}, pages...)
	for _, file := range pages {
		p, err := parseDocPage(file)
		if err != nil {
			t.Fatal(err)
		}
		if !p.runs() {
			continue
		}
		t.Run(filepath.Base(p.name), func(t *testing.T) {
			t.Parallel()
			r := newPageRun(t, p)
			r.run(p, true)
			r.finish()
		})
	}
}

// docPage is a Markdown page's runnable parts.
type docPage struct {
	file  string // path on disk
	name  string // path from the repository root, as messages name it
	lines []string
	items []docItem
}

// docItem is a console block or a docs-run directive, in page order.
type docItem struct {
	line      int      // 1-based line of the fence or the directive
	directive []string // a directive's words; nil for a console block
	body      []string // file: the fenced block after the directive
	steps     []docStep
}

// docStep is one command of a console block and the output the page shows
// for it.
type docStep struct {
	line    int // 1-based line of the command
	command string
	out     []string // expected output, without trailing blank lines
	outAt   int      // 0-based index of the first output line in docPage.lines
}

func (p *docPage) runs() bool {
	for _, it := range p.items {
		if it.directive == nil {
			return true
		}
	}
	return false
}

var directiveRE = regexp.MustCompile(`^<!--\s*docs-run:\s*(.*?)\s*-->\s*$`)

// parseDocPage reads a page's console blocks and directives. A fence is
// "```" (or more backticks) at the start of a line; only blocks whose info
// string is "console" run.
func parseDocPage(file string) (*docPage, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	name, _ := filepath.Rel(docsRoot, file)
	p := &docPage{file: file, name: filepath.ToSlash(name), lines: strings.Split(string(data), "\n")}
	var pendingFile *docItem
	for i := 0; i < len(p.lines); i++ {
		line := p.lines[i]
		if m := directiveRE.FindStringSubmatch(line); m != nil {
			words, err := splitWords(m[1])
			if err != nil || len(words) == 0 {
				return nil, fmt.Errorf("%s:%d: docs-run directive: %v", p.name, i+1, err)
			}
			p.items = append(p.items, docItem{line: i + 1, directive: words})
			if words[0] == "file" {
				pendingFile = &p.items[len(p.items)-1]
			}
			continue
		}
		if !strings.HasPrefix(line, "```") {
			continue
		}
		fence := line[:len(line)-len(strings.TrimLeft(line, "`"))]
		info := strings.Fields(strings.TrimPrefix(line, fence))
		start := i
		var body []string
		for i++; i < len(p.lines) && strings.TrimSpace(p.lines[i]) != fence; i++ {
			body = append(body, p.lines[i])
		}
		if i == len(p.lines) {
			return nil, fmt.Errorf("%s:%d: code block not closed", p.name, start+1)
		}
		if pendingFile != nil {
			pendingFile.body = body
			pendingFile = nil
			continue
		}
		if len(info) == 0 || info[0] != "console" {
			continue
		}
		it := docItem{line: start + 1}
		for j := 0; j < len(body); j++ {
			at := start + 1 + j
			text := body[j]
			if !strings.HasPrefix(text, "$ ") {
				if len(it.steps) == 0 {
					if strings.TrimSpace(text) == "" {
						continue
					}
					return nil, fmt.Errorf("%s:%d: a console block starts with a command, \"$ coupler ...\" (use ```text for output alone)", p.name, at+1)
				}
				s := &it.steps[len(it.steps)-1]
				if len(s.out) == 0 {
					s.outAt = at
				}
				s.out = append(s.out, text)
				continue
			}
			cmd := strings.TrimPrefix(text, "$ ")
			for strings.HasSuffix(cmd, `\`) && j+1 < len(body) {
				j++
				cmd = strings.TrimSuffix(cmd, `\`) + "\n" + body[j]
			}
			it.steps = append(it.steps, docStep{line: at + 1, command: cmd, outAt: start + 2 + j})
		}
		for k := range it.steps {
			s := &it.steps[k]
			for len(s.out) > 0 && strings.TrimSpace(s.out[len(s.out)-1]) == "" {
				s.out = s.out[:len(s.out)-1]
			}
		}
		p.items = append(p.items, it)
	}
	if pendingFile != nil {
		return nil, fmt.Errorf("%s:%d: docs-run file: no code block follows", p.name, pendingFile.line)
	}
	return p, nil
}

// splitWords splits a directive or a command line like a shell would, with
// Go's double quotes and the shell's single quotes: edit bc customers
// number=C00010 displayName="Adatum (renamed)".
func splitWords(s string) ([]string, error) {
	var words []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		var word strings.Builder
		for s != "" && s[0] != ' ' && s[0] != '\t' {
			switch s[0] {
			case '"':
				q, err := strconv.QuotedPrefix(s)
				if err != nil {
					return nil, fmt.Errorf("bad quoting in %q", s)
				}
				v, _ := strconv.Unquote(q)
				word.WriteString(v)
				s = s[len(q):]
			case '\'':
				end := strings.IndexByte(s[1:], '\'')
				if end < 0 {
					return nil, fmt.Errorf("unclosed quote in %q", s)
				}
				word.WriteString(s[1 : 1+end])
				s = s[end+2:]
			default:
				word.WriteByte(s[0])
				s = s[1:]
			}
		}
		words = append(words, word.String())
	}
	return words, nil
}

// pageRun is one page's run: its directory, environment and servers.
type pageRun struct {
	t       *testing.T
	page    *docPage
	dir     string // the page's working directory
	cwd     string // where commands run: dir, or below it after `cd`
	env     map[string]string
	srv     *demo.Servers
	edits   map[int][]string // line index -> new output lines, for -update
	cleared map[int]int      // line index -> number of old output lines replaced
}

func newPageRun(t *testing.T, p *docPage) *pageRun {
	srv, err := demo.StartAllServers(30)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	// A clean environment: what the page exports is all a command sees
	// beyond the basics, and nothing from the developer's shell leaks in.
	env := map[string]string{
		"PATH":     os.Getenv("PATH"),
		"HOME":     dir,
		"TZ":       "UTC",
		"LANG":     "C.UTF-8",
		"TERM":     "dumb",
		"NO_COLOR": "1",
		"TMPDIR":   os.TempDir(),
	}
	return &pageRun{t: t, page: p, dir: dir, cwd: dir, env: env, srv: srv,
		edits: map[int][]string{}, cleared: map[int]int{}}
}

// run runs the page's items in order; compare is false for a page run
// as another page's start (directive "continue").
func (r *pageRun) run(p *docPage, compare bool) {
	t := r.t
	for _, it := range p.items {
		if t.Failed() && !*updateDocs {
			return // later steps build on this one
		}
		if it.directive != nil {
			if err := r.directive(p, it); err != nil {
				t.Errorf("%s:%d: docs-run %s: %v", p.name, it.line, strings.Join(it.directive, " "), err)
			}
			continue
		}
		for _, s := range it.steps {
			got, err := r.exec(s.command)
			if err != nil {
				t.Errorf("%s:%d: $ %s: %v", p.name, s.line, s.command, err)
				return
			}
			if !compare || docsMatch(s.out, got, r.normalizer()) {
				continue
			}
			if *updateDocs && !slices.ContainsFunc(s.out, isEllipsis) {
				edit := mergeOutput(s.out, got, r.normalizer())
				if next := s.outAt + len(s.out); len(edit) > 0 && next < len(p.lines) && strings.HasPrefix(p.lines[next], "$ ") {
					edit = append(edit, "") // a blank line before the next command, for the reader
				}
				r.edits[s.outAt] = edit
				r.cleared[s.outAt] = len(s.out)
				continue
			}
			how := ""
			if *updateDocs {
				how = " (-update leaves a block with \"...\" lines alone: fix it by hand)"
			}
			t.Errorf("%s:%d: $ %s: the output differs from the page%s (-page +command):\n%s",
				p.name, s.line, s.command, how, docsDiff(s.out, got, r.normalizer()))
		}
	}
}

// finish writes the page back when -update changed its expected output.
func (r *pageRun) finish() {
	if len(r.edits) == 0 {
		return
	}
	var out []string
	for i := 0; i < len(r.page.lines); {
		if edit, ok := r.edits[i]; ok {
			out = append(out, edit...)
			if n := r.cleared[i]; n > 0 {
				i += n
				continue
			}
		}
		out = append(out, r.page.lines[i])
		i++
	}
	if err := os.WriteFile(r.page.file, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("%s: rewrote the output of %d command(s)", r.page.name, len(r.edits))
}

// directive carries out a docs-run directive:
//
//	file PATH                   write the next code block to PATH
//	edit bc|dataverse SET FIELD=VALUE... SET=VALUE...
//	                            change a record on a fake server as a person would:
//	                            the first FIELD=VALUE finds it, the rest are set
//	continue PAGE               run PAGE's blocks first (unchecked): this page goes on from there
func (r *pageRun) directive(p *docPage, it docItem) error {
	words := it.directive
	switch words[0] {
	case "file":
		if len(words) != 2 {
			return errors.New("usage: file PATH")
		}
		path := filepath.Join(r.cwd, words[1])
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, []byte(strings.Join(it.body, "\n")+"\n"), 0o644)
	case "edit":
		if len(words) < 5 {
			return errors.New("usage: edit bc|dataverse SET FIELD=VALUE FIELD=VALUE...")
		}
		s := r.srv.ERP
		if words[1] == "dataverse" {
			s = r.srv.CRM
		}
		set := words[2]
		schema := s.Schema().Entity(set)
		if schema == nil || len(schema.Key) != 1 {
			return fmt.Errorf("no entity set %s with a single key", set)
		}
		field, value, _ := strings.Cut(words[3], "=")
		patch := connectors.Record{}
		for _, w := range words[4:] {
			k, v, _ := strings.Cut(w, "=")
			patch[k] = v
		}
		for _, rec := range s.All(set) {
			if fmt.Sprint(rec[field]) == value {
				return s.Patch(set, fmt.Sprint(rec[schema.Key[0]]), patch)
			}
		}
		return fmt.Errorf("no %s record with %s = %q", set, field, value)
	case "continue":
		if len(words) != 2 {
			return errors.New("usage: continue PAGE")
		}
		other, err := parseDocPage(filepath.Join(docsRoot, words[1]))
		if err != nil {
			return err
		}
		r.run(other, false)
		return nil
	}
	return fmt.Errorf("unknown directive %q", words[0])
}

// exec runs one command line as a user's shell would, with stdout and
// stderr together as a terminal shows them. export and cd change the
// page's environment and directory for the commands after them.
func (r *pageRun) exec(command string) (string, error) {
	line, _, _ := strings.Cut(command, " #")
	words, err := splitWords(line)
	if err == nil && len(words) > 0 {
		switch words[0] {
		case "export":
			for _, w := range words[1:] {
				k, v, ok := strings.Cut(w, "=")
				if !ok {
					return "", fmt.Errorf("export %s: no value", w)
				}
				if demoValue, ok := docsEnv(r.srv)[k]; ok {
					v = demoValue
				}
				r.env[k] = v
			}
			return "", nil
		case "cd":
			if len(words) != 2 {
				return "", errors.New("usage: cd DIR")
			}
			r.cwd = filepath.Join(r.cwd, words[1])
			return "", nil
		}
	}
	// The fake servers stamp what one command writes, and the edits made
	// before the next, at the instant the command started: with the real
	// clock, a slow apply on a busy machine spread its creates over
	// seconds, so the watermark after it, and what the next plan reads,
	// depended on the machine's load, not on what the page does.
	at := time.Now()
	r.srv.ERP.SetClock(func() time.Time { return at })
	r.srv.CRM.SetClock(func() time.Time { return at })
	ctx, cancel := context.WithTimeout(r.t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = r.cwd
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = nil // the page shows the error and the test compares it
	}
	return out.String(), err
}

// normalizer returns the function both sides of a comparison go through.
func (r *pageRun) normalizer() func(string) string {
	return func(s string) string { return normalizeDocLine(s, r.dir) }
}

// What varies from run to run, and what a page may show in its place. The
// page shows realistic values; both the page's line and the command's go
// through the same replacements before they are compared.
var docsVarying = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b\d{8}-\d{6}-[0-9a-f]{6}\b`), "<plan>"},
	{regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), "<uuid>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z| ?[+-]\d\d:\d\d)?`), "<time>"},
	{regexp.MustCompile(`\b(\d+(\.\d+)?(ns|µs|us|ms|s|m|h))+\b`), "<duration>"},
	{regexp.MustCompile(`\b127\.0\.0\.1:\d+`), "127.0.0.1:<port>"},
	{regexp.MustCompile(`/tmp/[^\s/:]+`), "/tmp/<dir>"},
	{regexp.MustCompile(`\s+`), " "},
}

func normalizeDocLine(s, dir string) string {
	if dir != "" {
		s = strings.ReplaceAll(s, dir+string(filepath.Separator), "")
		s = strings.ReplaceAll(s, dir, ".")
	}
	for _, v := range docsVarying {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return strings.TrimSpace(s)
}

// isEllipsis reports whether a page's output line stands for any number of
// lines, "..." alone on its line.
func isEllipsis(s string) bool { return strings.TrimSpace(s) == "..." }

// docsMatch reports whether got matches the page's lines want, "..." lines
// matching any number of lines.
func docsMatch(want []string, got string, norm func(string) string) bool {
	g := outputLines(got)
	var match func(w, g []string) bool
	match = func(w, g []string) bool {
		for len(w) > 0 {
			if isEllipsis(w[0]) {
				for k := 0; k <= len(g); k++ {
					if match(w[1:], g[k:]) {
						return true
					}
				}
				return false
			}
			if len(g) == 0 || norm(w[0]) != norm(g[0]) {
				return false
			}
			w, g = w[1:], g[1:]
		}
		return len(g) == 0
	}
	return match(want, g)
}

// outputLines splits a command's output as the page shows it: without
// trailing blank lines.
func outputLines(out string) []string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// lcs pairs the lines of a and b that a longest common subsequence of
// their normalised forms keeps: pairs[i] is the index in b of a[i], or -1.
func lcs(a, b []string, norm func(string) string) []int {
	na, nb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		na[i] = norm(a[i])
	}
	for j := range b {
		nb[j] = norm(b[j])
	}
	n := make([][]int, len(a)+1)
	for i := range n {
		n[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if na[i] == nb[j] {
				n[i][j] = n[i+1][j+1] + 1
			} else {
				n[i][j] = max(n[i+1][j], n[i][j+1])
			}
		}
	}
	pairs := make([]int, len(a))
	for i, j := 0, 0; i < len(a); {
		switch {
		case j < len(b) && na[i] == nb[j]:
			pairs[i] = j
			i++
			j++
		case j < len(b) && n[i][j+1] >= n[i+1][j]:
			j++
		default:
			pairs[i] = -1
			i++
		}
	}
	return pairs
}

// docsDiff shows want against got, line by line.
func docsDiff(want []string, got string, norm func(string) string) string {
	g := outputLines(got)
	pairs := lcs(want, g, norm)
	var b strings.Builder
	j := 0
	for i, w := range want {
		if pairs[i] < 0 {
			fmt.Fprintf(&b, "  - %s\n", w)
			continue
		}
		for ; j < pairs[i]; j++ {
			fmt.Fprintf(&b, "  + %s\n", g[j])
		}
		fmt.Fprintf(&b, "    %s\n", w)
		j++
	}
	for ; j < len(g); j++ {
		fmt.Fprintf(&b, "  + %s\n", g[j])
	}
	return b.String()
}

// mergeOutput is the new expected output for -update: the command's lines,
// except that a line equal to the page's after normalisation keeps the
// page's text, so that the ids and times a page shows do not churn.
func mergeOutput(want []string, got string, norm func(string) string) []string {
	g := outputLines(got)
	if len(g) == 1 && g[0] == "" {
		return nil
	}
	out := slices.Clone(g)
	for i, j := range lcs(want, g, norm) {
		if j >= 0 {
			out[j] = want[i]
		}
	}
	return out
}
