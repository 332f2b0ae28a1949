package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

func newValidate(g *globals) *cobra.Command {
	var online bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the project file and its mapping files",
		Long: `validate loads coupler.yaml and every mapping file it names, compiles every
expression, and prints each problem as file:line:col: message. Where the
project file declares a field's EDM type (entities: { SET: { fields:
[creditLimit: Edm.Decimal] } }), it checks that what each mapping writes to it
can be of that type. It talks to no server, unless --online: then it also reads each OData service's $metadata
and checks that every entity set and field a mapping uses exists there and
that each value written fits its field's type. It exits 1 if there is any
error, 0 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prog, diags := engine.Load(g.dir, mappings.LoadOptions{})
			for _, d := range diags {
				fmt.Fprintln(g.stdout, d)
			}
			if diags.HasErrors() {
				return &exitError{code: 1, err: fmt.Errorf("%d error(s)", errorCount(diags))}
			}
			if online {
				e, err := engine.Open(cmd.Context(), prog, engine.Options{Logger: g.logger(), Redactor: g.redactor})
				if err != nil {
					return err
				}
				defer e.Close()
				odiags := e.CheckOnline(cmd.Context())
				for _, d := range odiags {
					// A service's answer may echo a credential.
					fmt.Fprintln(g.stdout, g.redactor.String(d.String()))
				}
				if odiags.HasErrors() {
					return &exitError{code: 1, err: fmt.Errorf("%d error(s) against the services", errorCount(odiags))}
				}
			}
			var fields int
			fields = 0
			for _, m := range prog.Project.Mappings {
				fields += len(m.Fields)
			}
			fmt.Fprintf(g.stdout, "%s is valid: %d connector(s), %d mapping(s), %d field mapping(s)\n",
				prog.Project.File, len(prog.Project.Connectors), len(prog.Project.Mappings), fields)
			return nil
		},
	}
	cmd.Flags().BoolVar(&online, "online", false, "also check entity sets, fields and types against each service's $metadata")
	return cmd
}
