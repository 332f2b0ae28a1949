// Package report renders plans and runs for people (text) and machines
// (JSON). It only reads plan values; it never looks at YAML or servers.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/couplerhq/coupler/engine/plan"
)

// PlanFormatVersion is the version of the JSON plan format.
const PlanFormatVersion = 1

// PlanJSON writes p as an indented JSON document with a format version, a
// "changes" flag and an "in_step" flag, so that a script can tell a no-op
// plan, and one that leaves records failed or skipped, at a glance.
func PlanJSON(w io.Writer, p *plan.Plan) error {
	p = withEmptyLists(p)
	doc := struct {
		FormatVersion int `json:"format_version"`
		*plan.Plan
		Changes bool        `json:"changes"`
		InStep  bool        `json:"in_step"`
		Totals  plan.Counts `json:"totals"`
	}{PlanFormatVersion, p, p.HasChanges(), p.InStep(), p.Totals()}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// withEmptyLists returns p, or a shallow copy of it whose nil lists of
// mappings and operations are empty, so that the JSON has [] where a
// script ranges over a list, never null.
func withEmptyLists(p *plan.Plan) *plan.Plan {
	fix := p.Mappings == nil
	for _, m := range p.Mappings {
		fix = fix || m.Operations == nil
	}
	if !fix {
		return p
	}
	c := *p
	c.Mappings = make([]*plan.MappingPlan, len(p.Mappings))
	for i, m := range p.Mappings {
		mc := *m
		if mc.Operations == nil {
			mc.Operations = []plan.Operation{}
		}
		c.Mappings[i] = &mc
	}
	return &c
}

// PlanText writes p for a terminal: per mapping what was read and a count
// of each kind of operation, then each listed operation with its changes.
func PlanText(w io.Writer, p *plan.Plan) error {
	return planText(&errWriter{w: w}, p)
}

// PlanTextColor is PlanText for a terminal that shows colour: each
// operation's symbol is coloured by what it does to the destination (green
// adds, yellow changes, red removes or fails), and nothing else is.
func PlanTextColor(w io.Writer, p *plan.Plan) error {
	return planText(&errWriter{w: w, color: true}, p)
}

func planText(ew *errWriter, p *plan.Plan) error {
	ew.printf("Plan %s", p.ID)
	if p.Full {
		ew.printf(" (--full: every record read)")
	}
	ew.printf("\n")
	if p.Full || p.FirstSync() {
		// The product's review before a full synchronization, and before
		// the first sync of a mapping.
		ew.printf("\nReview:\n")
		for _, m := range p.Mappings {
			ew.printf("  %s (%s): %d %s records, %d %s records, %d coupled: %s\n", m.Name, m.Direction,
				m.Read, m.Source.Entity, m.DestRead, m.Dest.Entity, m.Coupled, m.Recommendation())
		}
	}
	for _, m := range p.Mappings {
		ew.printf("\n%s: %s %s -> %s %s (%s)\n", m.Name, m.Source.Connector, m.Source.Entity, m.Dest.Connector, m.Dest.Entity, m.Direction)
		ew.printf("  %s\n", readLine(m))
		ew.printf("  %s\n", CountsLine(m.Counts, m.NotModified))
		for _, warn := range m.Warnings {
			ew.printf("  warning: %s\n", warn)
		}
		for _, r := range m.NeedsApproval {
			ew.printf("  needs approval: %s\n", r)
		}
		if len(m.Operations) > 0 {
			ew.printf("\n")
		}
		for _, op := range m.Operations {
			writeOperation(ew, m, op)
		}
		if m.Omitted > 0 {
			ew.printf("  ... %d more not shown (--limit 0 shows all; --format json for tools)\n", m.Omitted)
		}
	}
	var notModified int64
	for _, m := range p.Mappings {
		notModified += m.NotModified
	}
	ew.printf("\nPlan: %s.\n", CountsLine(p.Totals(), notModified))
	if line := stepLine(p); line != "" {
		ew.printf("%s\n", line)
	}
	if line := approvalLine(p); line != "" {
		ew.printf("%s\n", line)
	}
	if !p.HasChanges() {
		return ew.err
	}
	if line := appliedLine(p); line != "" {
		ew.printf("%s\n", line)
		return ew.err
	}
	// What apply will send, per destination connector: one request per
	// write, confirmed in batches of 200.
	writes := map[string]int64{}
	var order []string
	for _, m := range p.Mappings {
		if _, seen := writes[m.Dest.Connector]; !seen {
			order = append(order, m.Dest.Connector)
		}
		writes[m.Dest.Connector] += m.Writes() - m.Counts[plan.Couple]
	}
	for _, c := range order {
		if n := writes[c]; n > 0 {
			ew.printf("Apply will send about %d write request(s) to %s, in at most %d batch(es).\n", n, c, (n+plan.ApplyBatch-1)/plan.ApplyBatch)
		}
	}
	return ew.err
}

// changesHeadline says where a plan with changes stands: its changes are
// to apply only until its apply begins, and a page of an applied plan
// (coupler show, serve's /plans/ID) must not read as a promise of writes.
func changesHeadline(s plan.Status) string {
	switch s {
	case plan.Applying:
		return "Changes being applied"
	case plan.Applied:
		return "Changes applied"
	case plan.Interrupted:
		return "Apply interrupted"
	}
	return "Changes to apply"
}

// appliedLine says, for a plan whose apply began, where to see what it
// wrote instead of what apply will send; "" for a plan not yet applied.
func appliedLine(p *plan.Plan) string {
	switch p.Status {
	case plan.Applying:
		return "Being applied: coupler runs shows what was written so far."
	case plan.Applied:
		return "Applied: coupler runs shows what was written."
	case plan.Interrupted:
		return "Its apply was interrupted: coupler apply " + p.ID + " resumes it; coupler runs shows what was written."
	}
	return ""
}

// CountsLine summarises operations in the words every report uses ("3 to
// create, 1 left out, 5 unchanged"), naming only kinds present and
// counting the records not modified since the watermark as unchanged;
// coupler plans lists saved plans with it too, so that both agree.
func CountsLine(c plan.Counts, notModified int64) string {
	parts := []string{}
	add := func(n int64, label string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, label))
		}
	}
	add(c[plan.Create], "to create")
	add(c[plan.Couple], "to couple")
	add(c[plan.Update], "to update")
	add(c[plan.Restore], "to restore")
	add(c[plan.Delete], "to delete")
	add(c[plan.Uncouple], "to uncouple")
	if c[plan.Settled] == 1 {
		add(1, "conflict settled")
	} else {
		add(c[plan.Settled], "conflicts settled")
	}
	parts = append(parts, outOfStepParts(c)...)
	add(c[plan.Skip], "left out")
	add(c[plan.Unchanged]+notModified, "unchanged")
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, ", ")
}

// outOfStepParts names the counts of the kinds that leave records out of
// step (plan.OutOfStep), as countsLine does.
func outOfStepParts(c plan.Counts) []string {
	var parts []string
	for _, k := range plan.OutOfStep {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[k], outOfStepLabels[k]))
		}
	}
	return parts
}

var outOfStepLabels = map[plan.Kind]string{plan.Conflict: "in conflict", plan.Fail: "failed", plan.Skipped: "skipped (failed twice)"}

// stepLine says whether the plan leaves both sides in step: never that
// they are when records failed, are in conflict or are skipped, whether or
// not there is anything to write. Empty for a plan with changes and
// nothing out of step.
func stepLine(p *plan.Plan) string {
	out := strings.Join(outOfStepParts(p.Totals()), ", ")
	switch {
	case p.InStep():
		return "No changes. Both sides are in step."
	case out == "":
		return ""
	case p.HasChanges():
		return "Not in step after apply: " + out + "."
	}
	return "No changes to write, but not in step: " + out + "."
}

var symbols = map[plan.Kind]string{plan.Create: "+", plan.Couple: "&", plan.Update: "~", plan.Restore: "+", plan.Delete: "D", plan.Uncouple: "/",
	plan.Settled: "%", plan.Conflict: "x", plan.Fail: "!", plan.Skipped: "#", plan.Skip: "-", plan.Unchanged: "="}

func writeOperation(ew *errWriter, m *plan.MappingPlan, op plan.Operation) {
	dest := op.DestID
	switch {
	case dest == "" && op.Kind == plan.Create:
		dest = "(new)"
	case dest == "":
		dest = "(none)"
	}
	ew.printf("  %s %-9s %s %s -> %s %s\n", ew.symbol(op.Kind), op.Kind, m.Source.Entity, WithDisplay(op.SourceID, op.SourceDisplay), m.Dest.Entity, WithDisplay(dest, op.DestDisplay))
	if op.Reason != "" {
		ew.printf("        %s\n", Printable(op.Reason))
	}
	if len(op.Changes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	for _, c := range op.Changes {
		if op.Kind == plan.Create || op.Kind == plan.Restore {
			fmt.Fprintf(tw, "        %s\t%s\n", Printable(c.Field), Printable(shorten(c.After)))
		} else {
			fmt.Fprintf(tw, "        %s\t%s -> %s\n", Printable(c.Field), Printable(shorten(c.Before)), Printable(shorten(c.After)))
		}
	}
	if err := tw.Flush(); err != nil && ew.err == nil {
		ew.err = err
	}
}

// WithDisplay is a record's id followed by its display values in
// parentheses, "c-1 (C00010 · Contoso)", or the id alone when it has none,
// with control characters escaped (Printable): how text output shows a
// record to people.
func WithDisplay(id string, d plan.Display) string {
	if s := d.Text(); s != "" {
		return Printable(id) + " (" + Printable(s) + ")"
	}
	return Printable(id)
}

// Printable escapes what is not printable in text from the servers, as Go
// quotes a string (\x1b, \u202e), so that an id or a message cannot move
// the cursor or recolour the terminal, nor hide or reorder text: control
// characters, invisible formatting ones (a right-to-left override shows
// "gpj.exe" as "exe.jpg"; a zero-width space makes two ids look the same),
// line separators, spaces other than ASCII's, and bytes that are not UTF-8.
func Printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// shorten renders a JSON value for a terminal line.
func shorten(raw json.RawMessage) string {
	if raw == nil {
		return "null"
	}
	if _, ok := plan.KnownAfterApplyOf(raw); ok {
		return "(known after apply)"
	}
	s := string(raw)
	const max = 60
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max-1]) + "…"
	}
	return s
}

// errWriter keeps the first write error so rendering code stays linear.
type errWriter struct {
	w   io.Writer
	err error
	// color marks operation symbols with ANSI colours (PlanTextColor).
	color bool
}

// symbolColors are the SGR colours of the operation symbols on a terminal.
var symbolColors = map[plan.Kind]string{plan.Create: "32", plan.Restore: "32", plan.Couple: "32", plan.Update: "33", plan.Settled: "33",
	plan.Delete: "31", plan.Uncouple: "31", plan.Conflict: "31", plan.Fail: "31", plan.Skipped: "31"}

// symbol is the symbol of kind k, coloured when the writer shows colour.
func (e *errWriter) symbol(k plan.Kind) string {
	if c, ok := symbolColors[k]; ok && e.color {
		return "\x1b[" + c + "m" + symbols[k] + "\x1b[0m"
	}
	return symbols[k]
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}
