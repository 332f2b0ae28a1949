package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newRuns(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List past runs, newest first",
		Long: `runs lists what apply did, one line per mapping applied: direction, start,
duration, and how many records were inserted, coupled by matching, modified,
deleted, uncoupled, unchanged, skipped (after failing twice in a row, until
coupler retry; not those a filter left out) and failed (conflicts included).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			runs, err := e.State().Runs(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if len(runs) == 0 {
				fmt.Fprintln(g.stdout, "No runs yet. Run coupler plan, then coupler apply.")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tMAPPING\tDIRECTION\tSTARTED\tDURATION\tINSERTED\tCOUPLED\tMODIFIED\tDELETED\tUNCOUPLED\tUNCHANGED\tSKIPPED\tFAILED")
			for _, r := range runs {
				dur := "running"
				if !r.FinishedAt.IsZero() {
					dur = r.Duration().Round(1e6).String()
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", r.ID, r.Mapping, r.Direction,
					r.StartedAt.Local().Format("2006-01-02 15:04:05"), dur, r.Inserted, r.Coupled, r.Modified, r.Deleted, r.Uncoupled,
					r.Unchanged, r.Skipped, r.Failed)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs to list")
	return cmd
}
