package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/report"
)

func newApply(g *globals) *cobra.Command {
	var (
		refresh bool
		format  string
	)
	cmd := &cobra.Command{
		Use:   "apply [PLAN]",
		Short: "Execute a saved plan, by id or name (default: latest, the newest)",
		Long: `apply writes exactly what a saved plan says: its creates and updates, each
update conditional on the destination record being unchanged since the plan.
It records couplings, the run log and watermarks as each batch of writes is
confirmed. A record that fails is logged and does not stop the others; apply
then exits 1.

With --refresh it plans again first, shows that plan, and applies it: for a
saved plan that has gone stale, or for scripts that want plan and apply in one
step.

--format json prints what apply did as one object, and with --refresh the
plan too (docs/cli-json.md); on a terminal it needs --auto-approve.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if refresh && len(args) > 0 {
				return fmt.Errorf("--refresh makes a new plan: give no plan id")
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
			if refresh {
				return planAndApply(cmd, g, e, pr, engine.PlanOptions{})
			}
			id := ""
			if len(args) == 1 {
				id = engine.PlanRef(args[0]) // latest: as no argument
			}
			if err := confirmSaved(cmd, g, e, id); err != nil {
				return err
			}
			g.progress.expectSaved(cmd.Context(), e, id)
			res, err := e.Apply(cmd.Context(), id)
			g.progress.finish()
			return reportApply(pr, res, err)
		},
	}
	cmd.Flags().BoolVar(&refresh, "refresh", false, "plan again first, then apply that plan")
	formatFlag(cmd, &format)
	autoApproveFlag(cmd, g)
	return cmd
}

// reportApply prints what an apply did and turns failed records into exit
// status 1.
func reportApply(pr *view.Printer, res *engine.ApplyResult, err error) error {
	if res != nil {
		// stdout: nothing to do about a failed write.
		_ = pr.Apply(applyView(res, err))
	}
	return applyExit(res, err)
}

// applyExit is the error an apply ends with: its own, or exit status 1
// when records failed.
func applyExit(res *engine.ApplyResult, err error) error {
	if err != nil {
		return err
	}
	for _, r := range res.Runs {
		if r.Failed > 0 {
			return &exitError{code: 1, err: fmt.Errorf("some records failed; see coupler errors")}
		}
	}
	return nil
}

// applyView is what res (and err, which stopped it) says for the printer.
func applyView(res *engine.ApplyResult, err error) view.Apply {
	fs := make([]report.ApplyFailure, len(res.Failures))
	for i, f := range res.Failures {
		fs[i] = report.ApplyFailure{Mapping: f.Mapping, SourceID: f.SourceID, DestID: f.DestID, Message: f.Message}
	}
	return view.Apply{PlanID: res.PlanID, Runs: res.Runs, Failures: fs, Err: err}
}
