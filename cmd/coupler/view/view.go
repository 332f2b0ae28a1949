// Package view renders what coupler's commands list (runs, plans, failed
// records, writes in flight, the result of validate) as text for people
// or as JSON for scripts, one renderer per listing shared by every command
// that shows it, as Terraform's views do. The JSON shapes are a stable
// interface, described in docs/cli-json.md and pinned by golden files:
// fields are added, never renamed or removed.
package view

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// Format is how a listing is printed.
type Format string

// The formats every listing has.
const (
	Text Format = "text"
	JSON Format = "json"
)

// ParseFormat checks a --format value of a listing.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Text, JSON:
		return f, nil
	}
	return "", fmt.Errorf("--format must be text or json, not %q", s)
}

// TimeLayout is how text shows a time: the local time with its offset
// from UTC, so that a listing read elsewhere, or pasted, says when.
const TimeLayout = "2006-01-02 15:04:05 -07:00"

// Printer prints listings in one format.
type Printer struct {
	W      io.Writer
	Format Format
	// Loc is the zone text shows times in; nil is the local zone. JSON
	// shows times in UTC, as RFC 3339.
	Loc *time.Location
	// Redact scrubs secrets from text stored before it was scrubbed (a
	// failure's message); nil leaves it as it is.
	Redact func(string) string
}

// WriteJSON writes v as indented JSON, as every command's JSON is.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (p *Printer) time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	loc := p.Loc
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc).Format(TimeLayout)
}

func (p *Printer) redact(s string) string {
	if p.Redact == nil {
		return s
	}
	return p.Redact(s)
}

// table prints a header and rows aligned in columns.
func (p *Printer) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.W, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// utc is a time as JSON shows it: RFC 3339 in UTC, null when unknown.
func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// RunJSON is one run as runs --format json lists it.
type RunJSON struct {
	ID        int64  `json:"id"`
	PlanID    string `json:"plan_id"`
	Mapping   string `json:"mapping"`
	Direction string `json:"direction"`
	// Status is "finished", "running" or "interrupted".
	Status     string     `json:"status"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// DurationMS is null until the run finishes.
	DurationMS *int64 `json:"duration_ms"`
	Inserted   int64  `json:"inserted"`
	Coupled    int64  `json:"coupled"`
	Modified   int64  `json:"modified"`
	Deleted    int64  `json:"deleted"`
	Uncoupled  int64  `json:"uncoupled"`
	Unchanged  int64  `json:"unchanged"`
	Skipped    int64  `json:"skipped"`
	Failed     int64  `json:"failed"`
}

func runStatus(r state.Run) string {
	switch {
	case !r.FinishedAt.IsZero():
		return "finished"
	case r.Interrupted:
		return "interrupted"
	}
	return "running"
}

// runJSON is r as JSON shows it, in the run log and in what apply did.
func runJSON(r state.Run) RunJSON {
	j := RunJSON{ID: r.ID, PlanID: r.PlanID, Mapping: r.Mapping, Direction: r.Direction, Status: runStatus(r),
		StartedAt: utc(r.StartedAt), FinishedAt: utc(r.FinishedAt), Inserted: r.Inserted, Coupled: r.Coupled,
		Modified: r.Modified, Deleted: r.Deleted, Uncoupled: r.Uncoupled, Unchanged: r.Unchanged, Skipped: r.Skipped, Failed: r.Failed}
	if !r.FinishedAt.IsZero() {
		ms := r.Duration().Milliseconds()
		j.DurationMS = &ms
	}
	return j
}

// Runs prints the run log: a table, or {"runs": [RunJSON...]}.
func (p *Printer) Runs(runs []state.Run) error {
	if p.Format == JSON {
		out := make([]RunJSON, 0, len(runs))
		for _, r := range runs {
			out = append(out, runJSON(r))
		}
		return WriteJSON(p.W, map[string]any{"runs": out})
	}
	if len(runs) == 0 {
		_, err := fmt.Fprintln(p.W, "No runs yet. Run coupler plan, then coupler apply.")
		return err
	}
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		dur := runStatus(r)
		if dur == "finished" {
			dur = r.Duration().Round(time.Millisecond).String()
		}
		rows = append(rows, []string{fmt.Sprint(r.ID), r.Mapping, r.Direction, p.time(r.StartedAt), dur,
			fmt.Sprint(r.Inserted), fmt.Sprint(r.Coupled), fmt.Sprint(r.Modified), fmt.Sprint(r.Deleted), fmt.Sprint(r.Uncoupled),
			fmt.Sprint(r.Unchanged), fmt.Sprint(r.Skipped), fmt.Sprint(r.Failed)})
	}
	return p.table("RUN\tMAPPING\tDIRECTION\tSTARTED\tDURATION\tINSERTED\tCOUPLED\tMODIFIED\tDELETED\tUNCOUPLED\tUNCHANGED\tSKIPPED\tFAILED", rows)
}

// PlanJSON is one saved plan as plans --format json lists it.
type PlanJSON struct {
	ID string `json:"id"`
	// Name is the plan's name (plan --out), "" when it has none.
	Name      string     `json:"name"`
	CreatedAt *time.Time `json:"created_at"`
	// Status is "planned", "applying", "applied", "interrupted" and so on
	// (plan.Status).
	Status   string   `json:"status"`
	Mappings []string `json:"mappings"`
	// Operations counts the operations of each kind, every kind present,
	// under the kinds' names (skip is what text calls "left out").
	Operations map[plan.Kind]int64 `json:"operations"`
	// NotModified counts the records an incremental read left out as not
	// modified since the watermark, which text counts as unchanged.
	NotModified int64 `json:"not_modified"`
	// NeedsApproval says that some part of the plan waits for a person's
	// approval before coupler serve applies it.
	NeedsApproval bool `json:"needs_approval"`
	// Approval is who approved the plan and when, null when nobody has.
	Approval *ApprovalRecord `json:"approval"`
}

// ApprovalRecord is who approved a plan and when.
type ApprovalRecord struct {
	By string     `json:"by"`
	At *time.Time `json:"at"`
}

func approvalRecord(a *plan.Approval) *ApprovalRecord {
	if a == nil {
		return nil
	}
	return &ApprovalRecord{By: a.By, At: utc(a.At)}
}

// planStatus is a plan's status as the plans table shows it: whether it
// waits for a person, or who approved it, beside its status.
func planStatus(s state.PlanSummary) string {
	switch {
	case s.Approved != nil:
		return string(s.Status) + ", approved by " + s.Approved.By
	case s.NeedsApproval && s.Status == plan.Planned:
		return string(s.Status) + ", waiting for approval"
	}
	return string(s.Status)
}

// Plans prints the saved plans: a table, or {"plans": [PlanJSON...]}.
func (p *Printer) Plans(ps []state.PlanSummary) error {
	if p.Format == JSON {
		out := make([]PlanJSON, 0, len(ps))
		for _, s := range ps {
			ops := make(map[plan.Kind]int64, len(plan.Kinds))
			for _, k := range plan.Kinds {
				ops[k] = s.Counts[k]
			}
			maps := s.Mappings
			if maps == nil {
				maps = []string{}
			}
			out = append(out, PlanJSON{ID: s.ID, Name: s.Name, CreatedAt: utc(s.CreatedAt), Status: string(s.Status), Mappings: maps, Operations: ops, NotModified: s.NotModified,
				NeedsApproval: s.NeedsApproval, Approval: approvalRecord(s.Approved)})
		}
		return WriteJSON(p.W, map[string]any{"plans": out})
	}
	if len(ps) == 0 {
		_, err := fmt.Fprintln(p.W, "No plans yet. Run coupler plan.")
		return err
	}
	rows := make([][]string, 0, len(ps))
	for _, s := range ps {
		rows = append(rows, []string{s.ID, s.Name, p.time(s.CreatedAt), planStatus(s), strings.Join(s.Mappings, ", "), report.CountsLine(s.Counts, s.NotModified)})
	}
	return p.table("ID\tNAME\tCREATED\tSTATUS\tMAPPINGS\tOPERATIONS", rows)
}

// Approval is what coupler approve prints.
type Approval struct {
	Plan       string     `json:"plan"`
	ApprovedBy string     `json:"approved_by"`
	ApprovedAt *time.Time `json:"approved_at"`
	// Reasons says why each part of the plan needed approval; empty when
	// coupler serve approved it, whose answer is in Serve.
	Reasons []string `json:"reasons"`
	// Serve is coupler serve's answer when serve approved the plan (it
	// held the state database), absent otherwise.
	Serve string `json:"serve,omitempty"`
}

// Approval prints an approval: what was approved, by whom, when and
// why, or the same as JSON. The time is RFC 3339 in UTC in both, as the
// plan records it.
func (p *Printer) Approval(a Approval) error {
	if a.Reasons == nil {
		a.Reasons = []string{}
	}
	if p.Format == JSON {
		return WriteJSON(p.W, a)
	}
	at := "-"
	if a.ApprovedAt != nil {
		at = a.ApprovedAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(p.W, "Plan %s approved by %s at %s\n", a.Plan, a.ApprovedBy, at)
	for _, r := range a.Reasons {
		fmt.Fprintf(p.W, "  %s\n", r)
	}
	if a.Serve != "" {
		fmt.Fprintf(p.W, "  coupler serve: %s\n", a.Serve)
	}
	return nil
}

// FailureJSON is one failed or skipped record as errors --format json
// lists it.
type FailureJSON struct {
	RunID     int64  `json:"run_id"`
	Mapping   string `json:"mapping"`
	Direction string `json:"direction"`
	SourceID  string `json:"source_id"`
	// DestID is "" when the record has none (a create that failed).
	DestID string `json:"dest_id"`
	// Op is what was attempted, or "skipped".
	Op      string     `json:"op"`
	At      *time.Time `json:"at"`
	Message string     `json:"message"`
	// SourceDisplay and DestDisplay are the record's display fields as its
	// run's plan read them (a side's display:), absent when it names none.
	SourceDisplay plan.Display `json:"source_display,omitempty"`
	DestDisplay   plan.Display `json:"destination_display,omitempty"`
}

// Failures prints failed and skipped records: a table, or
// {"failures": [FailureJSON...]}.
func (p *Printer) Failures(fs []state.Failure) error {
	if p.Format == JSON {
		out := make([]FailureJSON, 0, len(fs))
		for _, f := range fs {
			out = append(out, FailureJSON{RunID: f.RunID, Mapping: f.Mapping, Direction: f.Direction, SourceID: f.SourceID,
				DestID: f.DestID, Op: f.Op, At: utc(f.At), Message: p.redact(f.Message),
				SourceDisplay: f.SourceDisplay, DestDisplay: f.DestDisplay})
		}
		return WriteJSON(p.W, map[string]any{"failures": out})
	}
	if len(fs) == 0 {
		_, err := fmt.Fprintln(p.W, "No failures in the latest runs.")
		return err
	}
	rows := make([][]string, 0, len(fs))
	for _, f := range fs {
		// A server's id or message may hold control or bidi characters
		// that would reorder the line on a terminal.
		rows = append(rows, []string{fmt.Sprint(f.RunID), f.Mapping, f.Direction, report.WithDisplay(f.SourceID, f.SourceDisplay), report.WithDisplay(f.DestID, f.DestDisplay), f.Op, p.time(f.At), report.Printable(p.redact(f.Message))})
	}
	return p.table("RUN\tMAPPING\tDIRECTION\tSOURCE\tDESTINATION\tOP\tAT\tMESSAGE", rows)
}

// IntentJSON is one write in flight as state intents --format json lists
// it.
type IntentJSON struct {
	RunID     int64  `json:"run_id"`
	Seq       int64  `json:"seq"`
	PlanID    string `json:"plan_id"`
	Mapping   string `json:"mapping"`
	Direction string `json:"direction"`
	Op        string `json:"op"`
	SourceID  string `json:"source_id"`
	DestID    string `json:"dest_id"`
	// ClientKey is the key a create sent for the new record, "" when the
	// destination makes the key.
	ClientKey string     `json:"client_key"`
	CreatedAt *time.Time `json:"created_at"`
}

// intentJSON is in as JSON shows it, in the listing and in what
// forget-intent forgot.
func intentJSON(in state.Intent) IntentJSON {
	return IntentJSON{RunID: in.RunID, Seq: in.Seq, PlanID: in.PlanID, Mapping: in.Mapping, Direction: in.Direction,
		Op: in.Op, SourceID: in.SourceID, DestID: in.DestID, ClientKey: in.ClientKey, CreatedAt: utc(in.CreatedAt)}
}

// Intents prints writes in flight: a table, or {"intents": [IntentJSON...]}.
func (p *Printer) Intents(ins []state.Intent) error {
	if p.Format == JSON {
		out := make([]IntentJSON, 0, len(ins))
		for _, in := range ins {
			out = append(out, intentJSON(in))
		}
		return WriteJSON(p.W, map[string]any{"intents": out})
	}
	if len(ins) == 0 {
		_, err := fmt.Fprintln(p.W, "No writes in flight.")
		return err
	}
	rows := make([][]string, 0, len(ins))
	for _, in := range ins {
		rows = append(rows, []string{fmt.Sprint(in.RunID), fmt.Sprint(in.Seq), in.PlanID, in.Mapping, in.Direction, in.Op,
			in.SourceID, in.DestID, in.ClientKey, p.time(in.CreatedAt)})
	}
	return p.table("RUN\tSEQ\tPLAN\tMAPPING\tDIRECTION\tOP\tSOURCE\tDESTINATION\tCLIENT KEY\tSINCE", rows)
}

// Validation is what validate found.
type Validation struct {
	// File is the project file.
	File string
	// Diagnostics are the problems of the files, then those found against
	// the services (--online).
	Diagnostics mappings.Diagnostics
	// UnsetEnv are the connectors' references to unset environment
	// variables: no error offline, but the commands that connect need
	// them.
	UnsetEnv mappings.Diagnostics
	// Connectors, Mappings and Fields count what the project declares,
	// when it is valid.
	Connectors, Mappings, Fields int
}

// DiagnosticJSON is one problem as validate --format json lists it.
type DiagnosticJSON struct {
	// Severity is "error", "warning" or "note".
	Severity string `json:"severity"`
	File     string `json:"file"`
	// Line and Col are 1-based; 0 when the problem is the whole file.
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

// ValidationJSON is validate --format json's output.
type ValidationJSON struct {
	Valid       bool             `json:"valid"`
	File        string           `json:"file"`
	Diagnostics []DiagnosticJSON `json:"diagnostics"`
	// UnsetEnv lists the references to environment variables that are
	// not set, which plan, apply and the other commands that connect
	// need.
	UnsetEnv   []DiagnosticJSON `json:"unset_env"`
	Connectors int              `json:"connectors"`
	Mappings   int              `json:"mappings"`
	Fields     int              `json:"fields"`
}

var severities = map[mappings.Severity]string{mappings.Error: "error", mappings.Warning: "warning", mappings.Note: "note"}

// diagnosticsJSON renders ds, each with severity sev when it is not empty.
func diagnosticsJSON(ds mappings.Diagnostics, sev string, redact func(string) string) []DiagnosticJSON {
	out := make([]DiagnosticJSON, 0, len(ds))
	for _, d := range ds {
		s := sev
		if s == "" {
			s = severities[d.Severity]
		}
		out = append(out, DiagnosticJSON{Severity: s, File: d.File, Line: d.Line, Col: d.Col, Message: redact(d.Message)})
	}
	return out
}

// Validation prints what validate found: each problem as file:line:col:
// message and a last line saying whether the project is valid, or one
// ValidationJSON.
func (p *Printer) Validation(v Validation) error {
	valid := !v.Diagnostics.HasErrors()
	if p.Format == JSON {
		j := ValidationJSON{Valid: valid, File: v.File, Diagnostics: diagnosticsJSON(v.Diagnostics, "", p.redact),
			// Offline they are warnings, as text shows them.
			UnsetEnv: diagnosticsJSON(v.UnsetEnv, "warning", p.redact)}
		if valid {
			j.Connectors, j.Mappings, j.Fields = v.Connectors, v.Mappings, v.Fields
		}
		return WriteJSON(p.W, j)
	}
	for _, d := range v.Diagnostics {
		// A service's answer (--online) may echo a credential.
		fmt.Fprintln(p.W, p.redact(d.String()))
	}
	for _, d := range v.UnsetEnv {
		fmt.Fprintf(p.W, "%s: warning: %s: plan, apply and the other commands that connect need it\n", d.Pos, d.Message)
	}
	if !valid {
		return nil
	}
	_, err := fmt.Fprintf(p.W, "%s is valid: %d connector(s), %d mapping(s), %d field mapping(s)\n", v.File, v.Connectors, v.Mappings, v.Fields)
	return err
}

// Migration is what coupler state migrate copied.
type Migration struct {
	// From and To name the two states, without passwords.
	From, To string
	// Tables are the tables copied, with their rows and checksums.
	Tables []state.TableCopy
	// LastRunID is the source's last run id, after which the
	// destination's go on.
	LastRunID int64
	// Replaced are the tables the destination held rows in, which
	// --force replaced.
	Replaced []state.TableCopy
}

// MigrationJSON is state migrate --format json's output.
type MigrationJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Verified is true: a copy whose counts or checksums differ fails
	// and prints no result.
	Verified  bool             `json:"verified"`
	Tables    []TableCopyJSON  `json:"tables"`
	LastRunID int64            `json:"last_run_id"`
	Replaced  []TableCountJSON `json:"replaced"`
}

// TableCopyJSON is one table state migrate copied.
type TableCopyJSON struct {
	Table    string `json:"table"`
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"`
}

// TableCountJSON is one table the destination held rows in.
type TableCountJSON struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// Migration prints what state migrate copied: a table of the tables with
// their rows and checksums, or a MigrationJSON.
func (p *Printer) Migration(m Migration) error {
	if p.Format == JSON {
		out := MigrationJSON{From: m.From, To: m.To, Verified: true, LastRunID: m.LastRunID,
			Tables: make([]TableCopyJSON, 0, len(m.Tables)), Replaced: make([]TableCountJSON, 0, len(m.Replaced))}
		for _, t := range m.Tables {
			out.Tables = append(out.Tables, TableCopyJSON{Table: t.Table, Rows: t.Rows, Checksum: t.Checksum})
		}
		for _, t := range m.Replaced {
			out.Replaced = append(out.Replaced, TableCountJSON{Table: t.Table, Rows: t.Rows})
		}
		return WriteJSON(p.W, out)
	}
	fmt.Fprintf(p.W, "Copied %s\n    to %s\n", m.From, m.To)
	if len(m.Replaced) > 0 {
		var held []string
		for _, t := range m.Replaced {
			held = append(held, fmt.Sprintf("%d %s", t.Rows, t.Table))
		}
		fmt.Fprintf(p.W, "Replaced what the destination held (--force): %s.\n", strings.Join(held, ", "))
	}
	rows := make([][]string, 0, len(m.Tables))
	for _, t := range m.Tables {
		rows = append(rows, []string{t.Table, fmt.Sprint(t.Rows), t.Checksum})
	}
	if err := p.table("TABLE\tROWS\tCHECKSUM", rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(p.W, "Verified: every table's row count and checksum in the destination match the source's. Its run numbers go on after %d.\n", m.LastRunID)
	return err
}
