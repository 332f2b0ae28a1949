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
		Use:   "apply [PLAN]",
		Short: "Execute a saved plan, by id or name (default: latest, the newest)",
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
				id = engine.PlanRef(args[0]) // latest: as no argument
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
		printApply(g.stdout, res, err)
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

// printApply says what an apply did: "Applied plan" only when everything
// was written, so that the line never reads as success above a failure.
func printApply(w io.Writer, res *engine.ApplyResult, err error) {
	var failed int64
	for _, r := range res.Runs {
		failed += r.Failed
	}
	switch {
	case err != nil:
		fmt.Fprintf(w, "Plan %s was applied in part: it stopped with an error\n", res.PlanID)
	case failed == 1:
		fmt.Fprintf(w, "Applied plan %s with 1 failure\n", res.PlanID)
	case failed > 0:
		fmt.Fprintf(w, "Applied plan %s with %d failures\n", res.PlanID, failed)
	default:
		fmt.Fprintf(w, "Applied plan %s\n", res.PlanID)
	}
	printApplySummary(w, res)
}
