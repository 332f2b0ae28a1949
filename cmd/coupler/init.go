package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/mappings/scaffold"
)

func newInit(g *globals) *cobra.Command {
	var (
		opts   scaffold.InitOptions
		format string
	)
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
file unless --force. --format json prints what it wrote as one object
(docs/cli-json.md).`,
		Example: `  coupler init my-sync --defaults bc-dataverse`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
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
			in := view.Init{Dir: dir, Defaults: res.Set, ProjectFile: show(res.ProjectFile), LockFile: show(res.LockFile), BaseDir: show(res.BaseDir),
				SchemasDir: show(scaffold.SchemasDir), Gitignore: show(scaffold.GitignoreFile), GitignoreDone: res.Gitignore, Env: res.Env}
			for _, f := range res.Files {
				in.Files = append(in.Files, view.InitFile{File: show(f.Target()), Label: f.Label()})
			}
			return pr.Init(in)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Set, "defaults", "bc-dataverse", "bundled default mapping set to start from")
	f.BoolVar(&opts.Force, "force", false, "overwrite an existing coupler.yaml, coupler.lock and mapping files")
	formatFlag(cmd, &format)
	return cmd
}
