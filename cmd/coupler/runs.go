package main

import (
	"github.com/spf13/cobra"
)

func newRuns(g *globals) *cobra.Command {
	var (
		limit  int
		format string
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List past runs, newest first",
		Long: `runs lists what apply did, one line per mapping applied: direction, start,
duration, and how many records were inserted, coupled by matching, modified,
deleted, uncoupled, unchanged, skipped (after failing twice in a row, until
coupler retry; not those a filter left out) and failed (conflicts included).
A run that has not finished is "running" while its apply runs and
"interrupted" once the next plan or apply has settled what it left (coupler
apply PLAN resumes it). Times are local, with their offset from UTC;
--format json prints them in UTC (docs/cli-json.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			e, err := g.openReader(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			runs, err := e.Runs(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return pr.Runs(runs)
		},
	}
	formatFlag(cmd, &format)
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs to list")
	serveTokenFlag(cmd, g)
	return cmd
}
