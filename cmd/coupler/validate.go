package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

func newValidate(g *globals) *cobra.Command {
	var (
		online bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the project file and its mapping files",
		Long: `validate loads coupler.yaml and every mapping file it names, compiles every
expression, and prints each problem as file:line:col: message. Where the
project file declares a field's EDM type (entities: { SET: { fields:
[creditLimit: Edm.Decimal] } }), it checks that what each mapping writes to it
can be of that type. It talks to no server and needs no secret: an
environment variable a connector names that is not set is a warning (plan,
apply and the other commands that connect need it). With --online it also
reads each OData service's $metadata and checks that every entity set and
field a mapping uses exists there and that each value written fits its
field's type; that needs the connectors' variables. It exits 1 if there is
any error, 0 otherwise. --format json prints one object (docs/cli-json.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			prog, diags := engine.Load(g.dir, g.loadOptions(true))
			v := view.Validation{File: filepath.Join(g.dir, mappings.ProjectFile), Diagnostics: diags}
			if prog != nil {
				v.File = prog.Project.File
				for _, c := range prog.Project.Connectors {
					c.Config.AddSecretsTo(g.redactor)
				}
			}
			if prog != nil && online {
				e, err := engine.Open(cmd.Context(), prog, engine.Options{Logger: g.logger(), Redactor: g.redactor})
				if err != nil {
					return err
				}
				defer e.Close()
				v.Diagnostics = append(v.Diagnostics, e.CheckOnline(cmd.Context())...)
			} else if prog != nil {
				v.UnsetEnv = prog.Project.UnsetEnv()
			} else if p, _ := mappings.Load(g.dir, g.loadOptions(true)); p != nil {
				// The project has errors, so engine.Load kept no project:
				// the unset variables are worth knowing about all the same.
				v.UnsetEnv = p.UnsetEnv()
			}
			if prog != nil {
				v.Connectors, v.Mappings = len(prog.Project.Connectors), len(prog.Project.Mappings)
				for _, m := range prog.Project.Mappings {
					v.Fields += len(m.Fields)
				}
			}
			if err := pr.Validation(v); err != nil {
				return err
			}
			if n := errorCount(v.Diagnostics); n > 0 {
				if online && !diags.HasErrors() {
					return &exitError{code: 1, err: fmt.Errorf("%d error(s) against the services", n)}
				}
				return &exitError{code: 1, err: fmt.Errorf("%d error(s)", n)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&online, "online", false, "also check entity sets, fields and types against each service's $metadata")
	formatFlag(cmd, &format)
	return cmd
}
