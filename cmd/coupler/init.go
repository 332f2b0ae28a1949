package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/mappings/scaffold"
)

func newInit(g *globals) *cobra.Command {
	var opts scaffold.InitOptions
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Start a project from a bundled default mapping set",
		Long: `init writes a new project into DIR (default: the -C directory), created if
needed: coupler.yaml with one connector per system the set talks to, reading
its URL and token from environment variables, and a copy of every file of the
bundled set (mappings and their tests) under mappings/, yours to change.

It also writes coupler.lock, which records the bundled file and SHA-256 each
copy came from, and those bundled files themselves under .coupler-base/<set>/.
Commit both: coupler reset --keep-customizations merges your changes with the
defaults of a newer coupler from them.

And it writes coupler's JSON Schemas under .coupler-schemas/ (see coupler
schema): the first line of coupler.yaml and of every mapping and test file
points the YAML language server at them by a relative path, so that editors
check and complete the files offline. Commit them as well; reset refreshes
them.

It writes a .gitignore that keeps the state directory, .coupler/ (the state
database and its backups), out of git; an existing .gitignore keeps its lines
and gets the pattern appended if it lacks it.

init refuses to overwrite an existing coupler.yaml, coupler.lock or mapping
file unless --force.`,
		Example: `  coupler init my-sync --defaults bc-dataverse`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := g.dir
			if len(args) == 1 {
				dir = args[0]
				if !filepath.IsAbs(dir) {
					dir = filepath.Join(g.dir, dir)
				}
			}
			res, err := scaffold.Init(dir, opts)
			if err != nil {
				return err
			}
			show := func(p string) string {
				if dir == "." {
					return p
				}
				return filepath.Join(dir, filepath.FromSlash(p))
			}
			w := g.stdout
			fmt.Fprintf(w, "Wrote %s\n", show(res.ProjectFile))
			for _, f := range res.Files {
				fmt.Fprintf(w, "Wrote %s (%s)\n", show(f.Target()), f.Label())
			}
			fmt.Fprintf(w, "Wrote %s and %s: commit them with your mappings; coupler reset merges from them\n",
				show(res.LockFile), show(res.BaseDir)+string(filepath.Separator))
			fmt.Fprintf(w, "Wrote %s: the JSON Schemas the files' first lines point editors at; commit them too\n",
				show(scaffold.SchemasDir)+string(filepath.Separator))
			switch res.Gitignore {
			case "wrote":
				fmt.Fprintf(w, "Wrote %s: git ignores the state under .coupler/\n", show(scaffold.GitignoreFile))
			case "updated":
				fmt.Fprintf(w, "Added /.coupler/ to %s: git ignores the state\n", show(scaffold.GitignoreFile))
			}
			fmt.Fprintf(w, "\nNext steps:\n")
			fmt.Fprintf(w, "  1. Set the environment variables %s reads:\n", show(res.ProjectFile))
			for _, v := range res.Env {
				hint := "https://..."
				switch {
				case strings.HasSuffix(v, "_TOKEN"):
					hint = "<bearer token>"
				case v == "BC_URL":
					// The URL Business Central's API documentation gives: the
					// connector finds $metadata and $batch above the company.
					hint = "'https://api.businesscentral.dynamics.com/v2.0/<tenant>/<environment>/api/v2.0/companies(<company id>)'"
				case v == "DATAVERSE_URL":
					hint = "https://<org>.crm.dynamics.com/api/data/v9.2"
				}
				fmt.Fprintf(w, "       export %s=%s\n", v, hint)
			}
			c := "coupler"
			if dir != "." {
				c = "coupler -C " + dir
			}
			fmt.Fprintf(w, "  2. Check the project offline:   %s validate\n", c)
			fmt.Fprintf(w, "  3. See what a sync would do:    %s plan\n", c)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Set, "defaults", "bc-dataverse", "bundled default mapping set to start from")
	f.BoolVar(&opts.Force, "force", false, "overwrite an existing coupler.yaml, coupler.lock and mapping files")
	return cmd
}
