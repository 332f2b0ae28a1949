package report

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// summaryKinds are the columns of the summary tables of PlanMarkdown and
// PlanHTML, in order; Unchanged counts NotModified too (see kindCount).
var summaryKinds = []plan.Kind{plan.Create, plan.Couple, plan.Update, plan.Restore, plan.Delete, plan.Uncouple, plan.Settled, plan.Conflict, plan.Fail, plan.Skipped, plan.Unchanged, plan.Skip}

// kindLabels name the kinds in summary tables.
var kindLabels = map[plan.Kind]string{
	plan.Create: "create", plan.Couple: "couple", plan.Update: "update", plan.Restore: "restore",
	plan.Delete: "delete", plan.Uncouple: "uncouple", plan.Settled: "conflict settled", plan.Conflict: "conflict", plan.Fail: "fail",
	plan.Skipped: "skipped", plan.Unchanged: "unchanged", plan.Skip: "left out",
}

// kindCount is a mapping's count of kind k, with the coupled records not
// read because they did not change counted as unchanged, as PlanText does.
func kindCount(m *plan.MappingPlan, k plan.Kind) int64 {
	n := m.Counts[k]
	if k == plan.Unchanged {
		n += m.NotModified
	}
	return n
}

// totalCount is kindCount over every mapping of p.
func totalCount(p *plan.Plan, k plan.Kind) int64 {
	var n int64
	for _, m := range p.Mappings {
		n += kindCount(m, k)
	}
	return n
}

// totalNotModified adds up NotModified over every mapping of p.
func totalNotModified(p *plan.Plan) int64 {
	var n int64
	for _, m := range p.Mappings {
		n += m.NotModified
	}
	return n
}

// readLine says what a mapping read, as PlanText's second line does. The
// result is plain text: callers escape it for their format.
func readLine(m *plan.MappingPlan) string {
	if s := changesLine(m); s != "" {
		return s
	}
	switch {
	case m.Record != "":
		return fmt.Sprintf("read record %s of %s (%d found)", Printable(m.Record), m.Source.Entity, m.Read)
	case m.Since.IsZero():
		return fmt.Sprintf("read all %d records of %s", m.Read, m.Source.Entity)
	}
	s := fmt.Sprintf("read %d records of %s modified since %s", m.Read, m.Source.Entity, m.Since.UTC().Format(time.RFC3339))
	if m.NotModified > 0 {
		s += fmt.Sprintf("; %d coupled records not modified", m.NotModified)
	}
	return s
}

// PlanMarkdown writes p as GitHub-flavoured Markdown for a pull-request
// comment: a title saying whether the plan changes anything, a summary
// table with one row per mapping and direction, the warnings (each said
// once, with the mappings that share it), then per mapping a collapsed
// <details> block with each listed operation and a table of its changed
// fields. It stays within MarkdownLimit: the operations that do not fit
// are counted in a last line pointing at coupler show.
//
// Everything that comes from a server or a project file is escaped: "|"
// and backticks cannot break a table or open a code span, "<" and "&"
// cannot inject HTML, and Markdown punctuation cannot add emphasis or links.
func PlanMarkdown(w io.Writer, p *plan.Plan) error {
	var b strings.Builder
	ew := &errWriter{w: &b}
	title := "Plan " + mdText(p.ID)
	if p.Name != "" {
		title += " (" + mdText(p.Name) + ")"
	}
	out := strings.Join(outOfStepParts(p.Totals()), ", ")
	switch {
	case p.HasChanges() && out != "":
		ew.printf("### %s: %s, not in step\n\n", title, strings.ToLower(changesHeadline(p.Status)))
	case p.HasChanges():
		ew.printf("### %s: %s\n\n", title, strings.ToLower(changesHeadline(p.Status)))
	case out != "":
		ew.printf("### %s: no changes to write, not in step\n\n", title)
	default:
		ew.printf("### %s: no changes\n\n", title)
	}
	if p.Full || p.FirstSync() {
		// The product's review before a full synchronization.
		ew.printf("Planned with `--full`: every record read. Review:\n\n")
		for _, m := range p.Mappings {
			ew.printf("- %s\n", mdText(fmt.Sprintf("%s (%s): %d %s records, %d %s records, %d coupled: %s", m.Name, m.Direction,
				m.Read, m.Source.Entity, m.DestRead, m.Dest.Entity, m.Coupled, m.Recommendation())))
		}
		ew.printf("\n")
	}
	ew.printf("%s.\n\n", mdText(upperFirst(CountsLine(p.Totals(), totalNotModified(p)))))

	if len(p.Mappings) > 0 {
		ew.printf("| mapping | direction |")
		for _, k := range summaryKinds {
			ew.printf(" %s |", kindLabels[k])
		}
		ew.printf("\n| --- | --- |%s\n", strings.Repeat(" ---: |", len(summaryKinds)))
		for _, m := range p.Mappings {
			ew.printf("| %s | %s |", mdText(m.Name), mdText(m.Direction))
			for _, k := range summaryKinds {
				ew.printf(" %s |", mdCount(kindCount(m, k)))
			}
			ew.printf("\n")
		}
		if len(p.Mappings) > 1 {
			ew.printf("| **total** | |")
			for _, k := range summaryKinds {
				ew.printf(" %s |", mdCount(totalCount(p, k)))
			}
			ew.printf("\n")
		}
		ew.printf("\n")
	}

	switch {
	case p.InStep():
		ew.printf("**No changes.** Both sides are in step.\n\n")
	case out != "":
		ew.printf("> [!CAUTION]\n> %s\n\n", mdText(stepLine(p)))
	}

	if line := approvalLine(p); line != "" {
		kind := "IMPORTANT"
		if p.Approved != nil {
			kind = "NOTE"
		}
		ew.printf("> [!%s]\n> %s\n", kind, mdText(line))
		for _, r := range p.ApprovalReasons() {
			ew.printf("> - %s\n", mdText(r))
		}
		ew.printf("\n")
	}

	if warnings := groupWarnings(p); len(warnings) > 0 {
		ew.printf("> [!WARNING]\n")
		for _, warn := range warnings {
			ew.printf("> - %s\n", mdText(warn))
		}
		ew.printf("\n")
	}

	// The operations fill what the comment limit leaves; once the next one
	// would not fit, the rest are counted in a pointer to coupler show.
	var left int64
	cut := false
	fits := func(more int) bool {
		cut = cut || b.Len()+more+markdownReserve > MarkdownLimit
		return !cut
	}
	for _, m := range p.Mappings {
		if cut {
			left += int64(len(m.Operations)) + m.Omitted
			continue
		}
		var head strings.Builder
		hw := &errWriter{w: &head}
		// Markdown is not read inside the HTML block that <details> opens
		// up to the next blank line: that line is escaped as HTML.
		hw.printf("<details><summary>%s (%s): %s</summary>\n\n",
			htmlText(m.Name), htmlText(m.Direction), htmlText(CountsLine(m.Counts, m.NotModified)))
		hw.printf("%s %s → %s %s: %s.\n\n", mdText(m.Source.Connector), mdText(m.Source.Entity),
			mdText(m.Dest.Connector), mdText(m.Dest.Entity), mdText(readLine(m)))
		if !fits(head.Len()) {
			left += int64(len(m.Operations)) + m.Omitted
			continue
		}
		ew.printf("%s", head.String())
		for i, op := range m.Operations {
			var one strings.Builder
			writeMarkdownOperation(&errWriter{w: &one}, m, op)
			if !fits(one.Len()) {
				left += int64(len(m.Operations)-i) + m.Omitted
				break
			}
			ew.printf("%s", one.String())
		}
		if m.Omitted > 0 && !cut {
			ew.printf("… %d more not shown (`--limit 0` shows all; `--format json` for tools).\n\n", m.Omitted)
		}
		if len(m.Operations) == 0 && m.Omitted == 0 {
			ew.printf("No operations listed.\n\n")
		}
		ew.printf("</details>\n\n")
	}
	if cut {
		ew.printf("… %s more operations not shown, to stay within a comment's %s characters: run `coupler show %s` for all.\n",
			thousands(left), thousands(MarkdownLimit), strings.ReplaceAll(p.ID, "`", ""))
	}
	if ew.err != nil {
		return ew.err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MarkdownLimit is the most characters PlanMarkdown writes: GitHub's limit
// on a pull-request comment's body. A plan that would be longer lists the
// operations that fit and points at coupler show for the rest.
const MarkdownLimit = 65536

// markdownReserve is the room kept below MarkdownLimit for what follows
// the last operation listed: the closing tags and the pointer.
const markdownReserve = 512

// maxWarningMappings is how many mappings a grouped warning names.
const maxWarningMappings = 10

// groupWarnings lists each distinct warning of p's mappings once, in order
// of first appearance: a warning of one mapping as "NAME (direction):
// warning", one that several share as "warning (N mappings: NAME
// (direction), ...)", naming at most maxWarningMappings.
func groupWarnings(p *plan.Plan) []string {
	var order []string
	by := map[string][]string{}
	for _, m := range p.Mappings {
		for _, warn := range m.Warnings {
			if _, seen := by[warn]; !seen {
				order = append(order, warn)
			}
			by[warn] = append(by[warn], m.Name+" ("+m.Direction+")")
		}
	}
	out := make([]string, 0, len(order))
	for _, warn := range order {
		names := by[warn]
		if len(names) == 1 {
			out = append(out, names[0]+": "+warn)
			continue
		}
		list := strings.Join(names[:min(len(names), maxWarningMappings)], ", ")
		if len(names) > maxWarningMappings {
			list += fmt.Sprintf(" and %d more", len(names)-maxWarningMappings)
		}
		out = append(out, fmt.Sprintf("%s (%d mappings: %s)", warn, len(names), list))
	}
	return out
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func writeMarkdownOperation(ew *errWriter, m *plan.MappingPlan, op plan.Operation) {
	dest := mdCode(op.DestID) + mdDisplay(op.DestDisplay)
	if op.DestID == "" {
		dest = "(new)"
	}
	ew.printf("**%s %s** %s %s → %s %s", mdText(symbols[op.Kind]), mdText(string(op.Kind)),
		mdText(m.Source.Entity), mdCode(op.SourceID)+mdDisplay(op.SourceDisplay), mdText(m.Dest.Entity), dest)
	if op.Reason != "" {
		ew.printf(": %s", mdText(op.Reason))
	}
	ew.printf("\n\n")
	if len(op.Changes) == 0 {
		return
	}
	ew.printf("| field | before | after |\n| --- | --- | --- |\n")
	for _, c := range op.Changes {
		before := mdValue(shorten(c.Before))
		if op.Kind == plan.Create {
			before = "—"
		}
		ew.printf("| %s | %s | %s |\n", mdText(c.Field), before, mdValue(shorten(c.After)))
	}
	ew.printf("\n")
}

// mdText escapes s for a Markdown paragraph or table cell: control
// characters as Printable does, HTML's "<", ">" and "&", the table's "|"
// and the code span's backtick as character references (which Markdown
// never reads as syntax), and the other punctuation that could start
// emphasis, a link or strikethrough with a backslash.
func mdText(s string) string {
	s = Printable(s)
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '|':
			b.WriteString("&#124;")
		case '`':
			b.WriteString("&#96;")
		case '\\', '*', '_', '[', ']', '~':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdDisplay is a record's display values after its id, " C00010 · Contoso",
// escaped; "" when it has none.
func mdDisplay(d plan.Display) string {
	if s := d.Text(); s != "" {
		return " " + mdText(s)
	}
	return ""
}

// mdCode shows an id or a value in <code>: monospace, and out of reach of
// GitHub's @mentions and #references. Markdown is read inside raw inline
// HTML, so the text is escaped as mdText does.
func mdCode(s string) string {
	return "<code>" + mdText(s) + "</code>"
}

// mdValue renders a value from shorten: JSON in <code>, or the placeholder
// for a value only the destination will know.
func mdValue(s string) string {
	if s == "(known after apply)" {
		return "*(known after apply)*"
	}
	return mdCode(s)
}

// mdCount renders a count in a summary table, zero as a dot so that the
// kinds present stand out.
func mdCount(n int64) string {
	if n == 0 {
		return "·"
	}
	return fmt.Sprint(n)
}

// htmlText escapes s for raw HTML in Markdown, where Markdown is not read;
// "|" and backticks too, in case a renderer reads it after all.
func htmlText(s string) string {
	return htmlTextReplacer.Replace(html.EscapeString(Printable(s)))
}

var htmlTextReplacer = strings.NewReplacer("|", "&#124;", "`", "&#96;")

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
