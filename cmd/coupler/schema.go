package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/mappings/scaffold"
	"github.com/couplerhq/coupler/schemas"
)

func newSchema(g *globals) *cobra.Command {
	var names []string
	for _, s := range schemas.All {
		names = append(names, s.Name)
	}
	return &cobra.Command{
		Use:   "schema " + strings.Join(names, "|"),
		Short: "Print a JSON Schema: of the project file, mapping files, mapping test files or JSON plans",
		Long: `schema prints the JSON Schema (draft 2020-12) this coupler checks a kind of file
against: project (coupler.yaml), mapping (mapping files), test (mapping test
files, name.test.yaml) or plan (plan --format json). They are built in; the
output needs no network.

coupler init writes them into the project's ` + scaffold.SchemasDir + `/ directory, and the first
line of every file it writes points the YAML language server (VS Code's YAML
extension, Neovim, Helix, …) there by a relative path:

  # yaml-language-server: $schema=../` + scaffold.SchemasDir + `/mapping.schema.json

coupler reset refreshes them; schema writes one anywhere else.`,
		Example:   `  coupler schema mapping > ` + scaffold.SchemasDir + `/mapping.schema.json`,
		ValidArgs: names,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("name one schema: %s", strings.Join(names, ", "))
			}
			if _, ok := schemas.Named(args[0]); !ok {
				return fmt.Errorf("unknown schema %q (one of %s)", args[0], strings.Join(names, ", "))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			s, _ := schemas.Named(args[0])
			_, err := g.stdout.Write(s.Data)
			return err
		},
	}
}
