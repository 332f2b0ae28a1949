package main

import (
	"bytes"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
)

func newSync(g *globals) *cobra.Command {
	var (
		opts   engine.PlanOptions
		format string
	)
	cmd := &cobra.Command{
		Use:   "sync MAPPING",
		Short: "Plan and apply one mapping now, or one coupled record of it",
		Long: `sync plans MAPPING and applies that plan at once, printing both: the
product's "synchronize now" for a table mapping. The plan is saved like any
other, so coupler runs and the state database show what happened.

With --record ID it synchronizes just the coupled record with that id (on
either side), reading both sides by key whatever the watermarks say, and
leaves the watermarks where they are. When that record changed on both sides,
--prefer table or --prefer integration says which side wins.

--format json prints the plan and what applying it did as one object
(docs/cli-json.md); on a terminal it needs --auto-approve.`,
		Example: `  coupler sync CUSTOMER
  coupler sync CUSTOMER --record 6b1c0e42-8c7e-4bd1-9b7e-6f3f1b7a3c01 --prefer integration`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Mappings = []string{args[0]}
			if opts.Prefer != "" && opts.Record == "" {
				return fmt.Errorf("--prefer settles one record: give --record too")
			}
			pr, err := g.writePrinter(cmd, format)
			if err != nil {
				return err
			}
			e, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			return planAndApply(cmd, g, e, pr, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Record, "record", "", "synchronize only the coupled record with this id (either side)")
	cmd.Flags().StringVar(&opts.Prefer, "prefer", "", "with --record: the side that wins a conflict, table or integration")
	cmd.Flags().BoolVar(&opts.Full, "full", false, "read every record, ignoring watermarks")
	formatFlag(cmd, &format)
	autoApproveFlag(cmd, g)
	return cmd
}

// autoApproveFlag gives a command that writes --auto-approve: on a
// terminal it asks before writing unless given.
func autoApproveFlag(cmd *cobra.Command, g *globals) {
	cmd.Flags().BoolVar(&g.autoApprove, "auto-approve", false, "apply without asking for confirmation (it asks only when stdin is a terminal)")
}

// planAndApply plans, shows the plan, asks on a terminal (prompt.go), and
// applies it when it has anything to do, or records that failed: applying logs them (coupler
// errors, and skipping after two failures) and exits 1, where stopping at
// the plan would exit 0 as if both sides were in step. With --format json
// it prints the plan and what applying it did as one object, at the end.
func planAndApply(cmd *cobra.Command, g *globals, e *engine.Engine, pr *view.Printer, opts engine.PlanOptions) error {
	p, err := e.Plan(cmd.Context(), opts)
	g.progress.finish()
	if err != nil {
		return err
	}
	if pr.Format == view.JSON {
		return planAndApplyJSON(cmd, g, e, pr, p)
	}
	if err := printPlan(cmd, e, p.ID, "text", 20); err != nil {
		return err
	}
	if p.InStep() {
		return nil
	}
	if err := g.approve(cmd); err != nil {
		return err
	}
	fmt.Fprintln(g.stdout)
	res, err := applyShown(cmd, g, e, p)
	return reportApply(pr, res, err)
}

// applyShown applies p, just planned, with progress on a terminal.
func applyShown(cmd *cobra.Command, g *globals, e *engine.Engine, p *plan.Plan) (*engine.ApplyResult, error) {
	g.progress.expect(p)
	res, err := e.Apply(cmd.Context(), p.ID)
	g.progress.finish()
	return res, err
}

// planAndApplyJSON applies p, saved just now, without asking
// (writePrinter refused a terminal without --auto-approve), and prints
// view.PlanApplyJSON: the plan as plan --format json has it, every
// operation listed, and what applying it did. An apply that failed before
// it began prints nothing.
func planAndApplyJSON(cmd *cobra.Command, g *globals, e *engine.Engine, pr *view.Printer, p *plan.Plan) error {
	saved, err := e.SavedPlan(cmd.Context(), p.ID, -1)
	if err != nil {
		return err
	}
	var planJSON bytes.Buffer
	if err := report.PlanJSON(&planJSON, saved); err != nil {
		return err
	}
	if p.InStep() {
		return pr.PlanApply(planJSON.Bytes(), nil)
	}
	res, err := applyShown(cmd, g, e, p)
	if res != nil {
		a := applyView(res, err)
		// stdout: nothing to do about a failed write.
		_ = pr.PlanApply(planJSON.Bytes(), &a)
	}
	return applyExit(res, err)
}
