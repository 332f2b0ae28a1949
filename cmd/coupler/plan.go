package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
)

func newPlan(g *globals) *cobra.Command {
	var (
		opts     engine.PlanOptions
		format   string
		detailed bool
		limit    int
		explain  bool
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Read both sides and show what apply would change (a dry run)",
		Long: `plan reads both sides of each mapping (only records modified since the last
run, unless --full), stages them in the state database, computes one operation
per record and saves the result as a plan that apply can execute. It writes
nothing to either system.

With --explain it prints, per mapping and side, the exact request it would
send and which part of each filter is pushed down to the server, and reads
nothing.

With --detailed-exitcode the exit status tells a script what the plan holds
(docs/sync-semantics.md, "Exit codes"):

  0  no changes, and both sides are in step
  1  error: nothing was planned
  2  changes to apply (records may also have failed: the plan lists them,
     and apply exits 1 when any record fails)
  3  no changes to write, but not in step: records failed, are in conflict,
     or are skipped after failing twice

A plan is never "in step" while records fail or are skipped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			// Before reading anything: --out ./plans/x.plan names no file.
			if err := engine.CheckPlanName(opts.Name); err != nil {
				return err
			}
			if opts.ReplaceName && opts.Name == "" {
				return fmt.Errorf("--force replaces the plan named by --out: give --out NAME")
			}
			e, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			if explain {
				xs, err := e.Explain(cmd.Context(), opts)
				if err != nil {
					return err
				}
				if format == "json" {
					return view.WriteJSON(g.stdout, xs)
				}
				return engine.WriteExplanations(g.stdout, xs)
			}
			p, err := e.Plan(cmd.Context(), opts)
			g.progress.finish()
			if err != nil {
				return err
			}
			if err := printPlan(cmd, e, p.ID, format, limit); err != nil {
				return err
			}
			if format == "text" {
				switch {
				case p.HasChanges():
					fmt.Fprintf(g.stdout, "\nSaved as plan %s. To apply it: coupler apply %s\n", p.ID, p.ID)
				case !p.InStep():
					fmt.Fprintf(g.stdout, "\nSaved as plan %s. Applying it writes nothing but logs the failures (coupler errors): coupler apply %s\n", p.ID, p.ID)
				}
			}
			if code := planExitCode(p); detailed && code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.Mappings, "mapping", nil, "plan only this mapping (repeatable)")
	f.BoolVar(&opts.Full, "full", false, "read every record, ignoring watermarks")
	f.StringVar(&format, "format", "text", "output format: text, json, markdown or html")
	f.BoolVar(&detailed, "detailed-exitcode", false, "exit 0 for no changes and in step, 2 for changes, 3 for no changes but records failed or skipped, 1 for errors")
	f.IntVar(&limit, "limit", 20, "operations to list per mapping in text and Markdown output (0: all)")
	f.StringVar(&opts.Name, "out", "", "save the plan in the state under this name as well as its id (coupler show NAME, coupler apply NAME); to write a file, use coupler show -o FILE")
	f.BoolVar(&opts.ReplaceName, "force", false, "with --out: take the name from the plan that has it (that plan keeps its id)")
	f.BoolVar(&explain, "explain", false, "print the queries the plan would send and what coupler filters itself; read nothing")
	return cmd
}

// Exit codes of plan --detailed-exitcode, as Terraform's -detailed-exitcode
// has them (0 no changes, 1 error, 2 changes), with one more for a plan
// that writes nothing but leaves records out of step.
const (
	exitInStep    = 0
	exitChanges   = 2
	exitNotInStep = 3
)

// planExitCode is the exit status of plan --detailed-exitcode for p. A plan
// with changes exits 2 even when records failed too: the changes are worth
// applying, and apply exits 1 for the failures.
func planExitCode(p *plan.Plan) int {
	switch {
	case p.HasChanges():
		return exitChanges
	case !p.InStep():
		return exitNotInStep
	}
	return exitInStep
}

// planFormats are the renderings of a plan, by --format name.
var planFormats = map[string]func(io.Writer, *plan.Plan) error{
	"text":     report.PlanText,
	"json":     report.PlanJSON,
	"markdown": report.PlanMarkdown,
	"html":     report.PlanHTML,
}

func checkFormat(format string) error {
	if planFormats[format] == nil {
		return fmt.Errorf("--format must be text, json, markdown or html, not %q", format)
	}
	return nil
}

// printPlan renders a saved plan on the command's stdout.
func printPlan(cmd *cobra.Command, e *engine.Engine, id, format string, limit int) error {
	// Text and Markdown are read by people (a pull-request comment has a
	// size limit): they list limit operations per mapping. JSON and HTML
	// list every one.
	if (format != "text" && format != "markdown") || limit <= 0 {
		limit = -1
	}
	p, err := e.SavedPlan(cmd.Context(), id, limit)
	if err != nil {
		return err
	}
	return renderPlan(cmd.OutOrStdout(), format, p)
}

// renderPlan writes p in format to w, text in colour when w is a terminal
// that takes it.
func renderPlan(w io.Writer, format string, p *plan.Plan) error {
	return renderPlanColor(w, format, p, colorOn(w, os.Getenv))
}

// renderPlanColor writes p in format to w, text in colour when color says.
func renderPlanColor(w io.Writer, format string, p *plan.Plan, color bool) error {
	render := planFormats[format]
	if format == "text" && color {
		render = report.PlanTextColor
	}
	return render(w, p)
}
