package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/engine"
)

func newApply(g *globals) *cobra.Command {
	var refresh bool
	cmd := &cobra.Command{
		Use:   "apply [PLAN_ID]",
		Short: "Execute a saved plan (default: the latest one)",
		Long: `apply writes exactly what a saved plan says: its creates and updates, each
update conditional on the destination record being unchanged since the plan.
It records couplings, the run log and watermarks as each batch of writes is
confirmed. A record that fails is logged and does not stop the others; apply
then exits 1.

With --refresh it plans again first, shows that plan, and applies it: for a
saved plan that has gone stale, or for scripts that want plan and apply in one
step.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if refresh && len(args) > 0 {
				return fmt.Errorf("--refresh makes a new plan: give no plan id")
			}
			e, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			if refresh {
				return planAndApply(cmd, g, e, engine.PlanOptions{})
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			if err := confirmSaved(cmd, g, e, id); err != nil {
				return err
			}
			g.progress.expectSaved(cmd.Context(), e, id)
			res, err := e.Apply(cmd.Context(), id)
			g.progress.finish()
			return reportApply(g, res, err)
		},
	}
	cmd.Flags().BoolVar(&refresh, "refresh", false, "plan again first, then apply that plan")
	autoApproveFlag(cmd, g)
	return cmd
}

// reportApply prints what an apply did and turns failed records into exit
// status 1.
func reportApply(g *globals, res *engine.ApplyResult, err error) error {
	if res != nil {
		printApply(g.stdout, res)
	}
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

func printApply(w io.Writer, res *engine.ApplyResult) {
	fmt.Fprintf(w, "Applied plan %s\n", res.PlanID)
	printApplySummary(w, res)
}
