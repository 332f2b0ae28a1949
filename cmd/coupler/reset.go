package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/lock"
	"github.com/couplerhq/coupler/engine/state/location"
	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/mappings/scaffold"
)

func newReset(g *globals) *cobra.Command {
	var (
		opts   scaffold.ResetOptions
		dryRun bool
		yes    bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Reset mapping files to the bundled defaults, or merge the defaults into them",
		Long: `reset puts the project's copies of the bundled default mappings (those
coupler.lock lists, as coupler init wrote them) back to the defaults of this
coupler: all of them, or those named with --mapping; a mapping's test file goes
with it. A mapping the defaults have and the lock lacks is added.

A plain reset replaces each file with the bundled one, as the product's "Use
Default Synchronization Setup" does. It first prints, as a unified diff, every
customization it would lose, and asks for confirmation (--yes does not ask). It
then clears the watermarks of the mappings it reset, so that their next plan
reads every record; couplings are kept.

With --keep-customizations it merges instead, per file and per YAML key, your
changes since coupler init (or the last reset) with the changes of the bundled
file since then: a key only you changed keeps your value, a key only the
defaults changed takes theirs. A key both changed differently is a conflict:
reset then lists every conflict, writes nothing and exits 1. Fields are matched
by their field / integration_field pair. Watermarks are kept.

--dry-run prints what would change and writes nothing.

--format json prints what reset did, or would do, as one object at the end
(docs/cli-json.md); it asks nothing, so it wants --yes or --dry-run.`,
		Example: `  coupler reset --dry-run
  coupler reset --mapping CUSTOMER --yes
  coupler reset --keep-customizations`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			if pr.Format == view.JSON && !yes && !dryRun {
				return errors.New("--format json asks no question: add --yes, or --dry-run")
			}
			r, err := scaffold.PlanReset(g.dir, opts)
			if err != nil {
				return err
			}
			// With --format json the text goes nowhere and done prints
			// what happened, once.
			w := g.stdout
			res := view.Reset{Plan: r, DryRun: dryRun}
			done := func() error { return nil }
			if pr.Format == view.JSON {
				w = io.Discard
				done = func() error { return pr.Reset(res) }
			}
			printResetPlan(w, r)
			if conflicts := r.Conflicts(); len(conflicts) > 0 {
				if err := done(); err != nil {
					return err
				}
				fmt.Fprintf(w, "\n%d conflict(s):\n", len(conflicts))
				for _, c := range conflicts {
					fmt.Fprintln(w, c)
				}
				return &exitError{code: 1, err: fmt.Errorf("%d conflict(s); nothing written. To take the bundled value, make yours equal to it and run reset again (re-apply your change afterwards to keep it); or reset without --keep-customizations", len(conflicts))}
			}
			writes := r.Writes()
			if len(writes) == 0 {
				if !dryRun && r.UpdatesLock() {
					if err := r.Apply(); err != nil {
						return err
					}
					res.Applied = true
					fmt.Fprintf(w, "\nUpdated %s to the bundled versions.\n", scaffold.LockFile)
				}
				fmt.Fprintln(w, "\nNothing to change.")
				return done()
			}
			if dryRun {
				fmt.Fprintln(w, "\nDry run: nothing written.")
				return done()
			}
			if !yes {
				if err := confirm(cmd.InOrStdin(), w, r); err != nil {
					return err
				}
			}
			// Open the state database before writing anything, so that a
			// locked or unreadable database leaves the files alone.
			var db *engine.WatermarkReset
			reset := r.ResetMappings()
			loc := projectState(g.dir, g.loadOptions(true))
			statePath := loc.Path
			switch _, err := os.Stat(statePath); {
			case len(reset) == 0:
			case loc.Postgres():
				// Shared: the reset waits for no apply but refuses while
				// one runs (engine.OpenWatermarkReset), as one would put
				// back the watermarks cleared.
				if db, err = engine.OpenWatermarkReset(cmd.Context(), loc); err != nil {
					return fmt.Errorf("nothing written: %w", err)
				}
				defer db.Close()
			case err == nil:
				// coupler's lock, as every command that opens the state
				// takes it: a serve or an apply may be using the
				// watermarks reset clears.
				lk, err := lock.Acquire(statePath, g.command)
				if err != nil {
					return fmt.Errorf("nothing written: %w", err)
				}
				defer lk.Release()
				db, err = engine.OpenWatermarkReset(cmd.Context(), loc)
				if err != nil {
					return fmt.Errorf("nothing written: %w", lock.Explain(err, statePath))
				}
				defer db.Close()
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("nothing written: state database: %w", err)
			}
			if err := r.Apply(); err != nil {
				return err
			}
			res.Applied = true
			fmt.Fprintln(w)
			for _, fr := range writes {
				fmt.Fprintf(w, "Wrote %s\n", fr.File)
			}
			fmt.Fprintf(w, "Updated %s and %s/%s\n", scaffold.LockFile, scaffold.BaseDir, r.Set)
			switch {
			case r.KeepCustomizations:
				fmt.Fprintln(w, "Watermarks kept: if the merge changed which records a mapping takes, run coupler plan --full.")
			case len(reset) == 0:
			case db == nil:
				res.NoState = true
				fmt.Fprintf(w, "No state database yet (%s): no watermarks to clear.\n", relPath(g.dir, statePath))
			default:
				for _, name := range reset {
					n, err := db.Reset(cmd.Context(), name)
					if err != nil {
						return err
					}
					res.Cleared = append(res.Cleared, view.WatermarksCleared{Mapping: name, CouplingsKept: n})
					fmt.Fprintf(w, "%s: watermarks cleared; %d couplings kept\n", name, n)
				}
			}
			return done()
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.Mappings, "mapping", nil, "reset only this mapping (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "print what would change; write nothing")
	f.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	f.BoolVar(&opts.KeepCustomizations, "keep-customizations", false, "merge your changes with the bundled update instead of replacing them")
	formatFlag(cmd, &format)
	return cmd
}

// printResetPlan prints what the reset does to each file, with the diff of
// what changes in it.
func printResetPlan(w io.Writer, r *scaffold.Reset) {
	if r.KeepCustomizations {
		fmt.Fprintf(w, "Merging your changes with the bundled %s defaults:\n\n", r.Set)
	} else {
		fmt.Fprintf(w, "Resetting to the bundled %s defaults:\n\n", r.Set)
	}
	// Unchanged files first, so that the diffs end up next to the prompt.
	var files []*scaffold.FileReset
	for _, fr := range r.Files {
		if fr.Status == scaffold.Unchanged {
			files = append(files, fr)
		}
	}
	for _, fr := range r.Files {
		if fr.Status != scaffold.Unchanged {
			files = append(files, fr)
		}
	}
	for _, fr := range files {
		status := fr.Message()
		if fr.Status == scaffold.Add && fr.Diff != "" {
			status = fmt.Sprintf("new in the defaults; replaces your %s, which %s does not list", fr.File, scaffold.LockFile)
		}
		fmt.Fprintf(w, "%s (%s): %s\n", fr.File, fr.Label, status)
		if fr.Diff != "" {
			fmt.Fprint(w, fr.Diff)
		}
	}
	if len(r.NotSelected) > 0 {
		fmt.Fprintf(w, "\nAlso new in the defaults, not selected: %s (select with --mapping).\n", strings.Join(r.NotSelected, ", "))
	}
}

// confirm asks on w and reads the answer from in; anything but "yes" aborts.
func confirm(in io.Reader, w io.Writer, r *scaffold.Reset) error {
	names := map[string]bool{} // a mapping and its test file count once
	for _, fr := range r.Writes() {
		if fr.Mapping != "" {
			names[fr.Mapping] = true
		} else {
			names[fr.File] = true
		}
	}
	var question string
	switch {
	case r.KeepCustomizations:
		question = fmt.Sprintf("\nUpdate %d mapping(s) as shown above? Type yes: ", len(names))
	case r.LosesChanges():
		question = fmt.Sprintf("\nReset %d mapping(s) and lose the changes above? Type yes: ", len(names))
	default:
		question = fmt.Sprintf("\nReset %d mapping(s) as shown above? Type yes: ", len(names))
	}
	return askYes(in, w, question, "nothing written", "use --yes to reset without asking")
}

// projectState returns where the project's state lives, as its project
// file says, whether or not the rest of the project loads: a reset may well
// be meant to repair it.
func projectState(dir string, opts mappings.LoadOptions) location.Location {
	p, _ := mappings.Load(dir, opts)
	if p == nil || p.State == "" {
		abs, _ := filepath.Abs(filepath.Join(dir, mappings.DefaultStatePath))
		return location.Location{Path: abs}
	}
	return p.StateLocation()
}

// relPath shows path relative to the project directory when it lies inside.
func relPath(dir, path string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(abs, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}
