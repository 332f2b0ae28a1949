package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
)

func newTest(g *globals) *cobra.Command {
	var (
		only    []string
		verbose bool
		format  string
	)
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the mapping tests beside the mapping files, offline",
		Long: `test runs the fixture files that sit beside mapping files (customer.yaml ->
customer.test.yaml): each case feeds an input record through one direction of a
mapping, with lookups stubbed, and compares every computed destination field
with the expected output. It talks to no server. It prints a field-level diff
for each failing case and exits 1 if any failed. --format json prints every
case, passing or not, as one object (docs/cli-json.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			// Offline: the connectors' secrets are not needed.
			prog, diags := engine.Load(g.dir, g.loadOptions(true))
			for _, d := range diags {
				fmt.Fprintln(g.stderr, d)
			}
			if diags.HasErrors() {
				return &exitError{code: 1, err: fmt.Errorf("%d error(s) in the project; fix them first (coupler validate)", errorCount(diags))}
			}
			files, err := prog.FindTests()
			if err != nil {
				return err
			}
			for _, name := range only {
				if err := prog.CheckMapping(name); err != nil {
					return err
				}
			}
			if len(only) > 0 {
				files = slices.DeleteFunc(files, func(f *engine.TestFile) bool { return !slices.Contains(only, f.Mapping) })
			}
			results := prog.RunTests(files)
			run := view.TestRun{Files: len(files), Verbose: verbose, Cases: make([]view.TestCase, 0, len(results))}
			for _, r := range results {
				run.Cases = append(run.Cases, view.TestCase{File: r.File, Line: r.Case.Line, Direction: r.Case.Direction, Name: r.Case.Name,
					Passed: r.Passed(), Problems: r.Problems})
			}
			if err := pr.TestRun(run); err != nil {
				return err
			}
			if run.Failed() > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&only, "mapping", nil, "run only this mapping's tests (repeatable)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing cases too")
	formatFlag(cmd, &format)
	return cmd
}
