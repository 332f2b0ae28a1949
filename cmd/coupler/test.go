package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/engine"
)

func newTest(g *globals) *cobra.Command {
	var (
		only    []string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the mapping tests beside the mapping files, offline",
		Long: `test runs the fixture files that sit beside mapping files (customer.yaml ->
customer.test.yaml): each case feeds an input record through one direction of a
mapping, with lookups stubbed, and compares every computed destination field
with the expected output. It talks to no server. It prints a field-level diff
for each failing case and exits 1 if any failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			if len(files) == 0 {
				fmt.Fprintln(g.stdout, "no mapping tests found (write name.test.yaml beside name.yaml)")
				return nil
			}
			failed := 0
			results := prog.RunTests(files)
			for _, r := range results {
				if r.Passed() {
					if verbose {
						fmt.Fprintf(g.stdout, "ok    %s:%d: %s %q\n", r.File, r.Case.Line, r.Case.Direction, r.Case.Name)
					}
					continue
				}
				failed++
				fmt.Fprintf(g.stdout, "FAIL  %s:%d: %s %q\n", r.File, r.Case.Line, r.Case.Direction, r.Case.Name)
				for _, p := range r.Problems {
					fmt.Fprintf(g.stdout, "        %s\n", p)
				}
			}
			fmt.Fprintf(g.stdout, "%d passed, %d failed\n", len(results)-failed, failed)
			if failed > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&only, "mapping", nil, "run only this mapping's tests (repeatable)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing cases too")
	return cmd
}
