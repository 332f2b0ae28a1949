package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/lock"
	"github.com/couplerhq/coupler/engine/state/location"
)

func newState(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Look after the state database",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newStateBackup(g), newStateIntents(g), newStateForgetIntent(g), newStateMigrate(g))
	return cmd
}

func newStateIntents(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "intents",
		Short: "List writes left in flight by a coupler that stopped",
		Long: `intents lists the write intents in the state database: writes coupler recorded
before sending them whose outcome it never learned, because it was killed or
lost the answer. The next plan or apply settles each by reading the
destination (see docs/reliability.md). One that cannot be told apart stops
plan and apply with a message saying why; couple its record by hand
(coupler couple MAPPING TABLE_ID INTEGRATION_ID), or create and couple it,
and the intent is forgotten at the next start.`,
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
			intents, err := e.Intents(cmd.Context())
			if err != nil {
				return err
			}
			return pr.Intents(intents)
		},
	}
	formatFlag(cmd, &format)
	serveTokenFlag(cmd, g)
	return cmd
}

func newStateBackup(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "backup [FILE]",
		Short: "Copy the state database to a new file",
		Long: `backup copies the state database (couplings, watermarks, plans, runs) into
FILE, a new DuckDB file that coupler can use as its state as it is. Without
FILE the copy goes beside the state file, named after it and the time, e.g.
.coupler/state-20261124-101800.backup.duckdb. FILE must not exist.

The copy is consistent: DuckDB lets one process at a time open the state
file, so no apply or plan writes while it is made. To restore, stop
coupler and copy the backup over the state file (see docs/reliability.md).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			e, err := g.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			file := ""
			if len(args) == 1 {
				file = args[0]
			}
			src, dst, err := e.Backup(cmd.Context(), file)
			if err != nil {
				return err
			}
			return pr.Backup(view.Backup{From: src, To: dst})
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

func newStateForgetIntent(g *globals) *cobra.Command {
	var (
		yes    bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "forget-intent RUN SEQ...",
		Short: "Forget writes in flight that you found did not happen",
		Long: `forget-intent drops the write intents of run RUN with the given SEQ numbers
(see coupler state intents), saying that those writes did not happen: the
next apply or plan tries them again. Look in the destination first: if a
create did happen, forgetting its intent makes the record twice; couple it
instead (coupler couple MAPPING TABLE_ID INTEGRATION_ID). It asks for --yes.`,
		Example: `  coupler state intents
  coupler state forget-intent 12 3 4 --yes`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			run, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("RUN %q is not a run number (see coupler state intents)", args[0])
			}
			var seqs []int64
			for _, a := range args[1:] {
				n, err := strconv.ParseInt(a, 10, 64)
				if err != nil {
					return fmt.Errorf("SEQ %q is not a number (see coupler state intents)", a)
				}
				seqs = append(seqs, n)
			}
			e, err := g.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			intents, err := e.ForgetIntents(cmd.Context(), run, seqs, !yes)
			if err != nil {
				return err
			}
			if err := pr.ForgetIntents(view.ForgetIntents{RunID: run, Forgotten: yes, Intents: intents}); err != nil {
				return err
			}
			if !yes {
				return errors.New("nothing forgotten: add --yes once you have checked that these writes did not happen")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "forget them: you checked that they did not happen")
	formatFlag(cmd, &format)
	return cmd
}

func newStateMigrate(g *globals) *cobra.Command {
	var to, toSchema, from, fromSchema, format string
	var force bool
	cmd := &cobra.Command{
		Use:   "migrate --to LOCATION",
		Short: "Copy the state into PostgreSQL, or back into a DuckDB file",
		Long: `migrate copies the whole state (couplings with every column, watermarks and
change tokens, definitions and acknowledgements, saved plans with their parts
and operations, runs with their records and failures) from the project's state,
or --from, into --to: a DuckDB file or a PostgreSQL URL (postgres://…), with
--to-schema naming a PostgreSQL schema (default public). Then point state: (and
state_schema:) in coupler.yaml at the copy; the source is left as it was.

The copy is one transaction of the destination, verified before it commits:
each table's row count, and a checksum of its rows read back from the
destination against the rows read from the source. Any failure, a mismatch
among them (naming the table), leaves the destination as it was.

It refuses a destination that holds a state (--force replaces it: the two
states' couplings and run numbers must never mix) and a source with write
intents pending (run coupler plan on it first, which settles them). Stop
coupler serve and the workers of both states first.`,
		Example: `  coupler state migrate --to "$COUPLER_STATE_URL" --to-schema acme
  coupler state migrate --to .coupler/state-back.duckdb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			if to == "" {
				return errors.New("--to is required: a DuckDB file or a postgres:// URL to copy the state into")
			}
			cwd, err := os.Getwd()
			if err != nil {
				return err
			}
			opts := engine.MigrateOptions{Force: force, Progress: g.progress.update}
			if opts.To, err = location.Parse(to, toSchema, cwd); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if from != "" {
				if opts.From, err = location.Parse(from, fromSchema, cwd); err != nil {
					return fmt.Errorf("--from: %w", err)
				}
			} else if fromSchema != "" {
				return errors.New("--from-schema goes with --from; the project's state has its schema in state_schema:")
			}
			prog, diags := g.load(true)
			if diags.HasErrors() {
				return &exitError{code: 1, err: fmt.Errorf("%s has %d problem(s); see above", g.dir, errorCount(diags))}
			}
			src := opts.From
			if src == (location.Location{}) {
				src = prog.Project.StateLocation()
			}
			// coupler's lock on each DuckDB file, as every command that
			// opens one takes it, naming the holder.
			for _, loc := range []location.Location{src, opts.To} {
				if loc.Postgres() {
					continue
				}
				lk, err := lock.Acquire(loc.Path, g.command)
				if err != nil {
					return err
				}
				defer lk.Release()
			}
			res, err := engine.MigrateState(cmd.Context(), prog.Project, opts)
			g.progress.finish()
			if err != nil {
				return err
			}
			return pr.Migration(view.Migration{From: res.From, To: res.To, Tables: res.Tables, LastRunID: res.LastRunID, Replaced: res.Replaced})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "where to copy the state: a DuckDB file, or a PostgreSQL URL (postgres://user:password@host/database)")
	cmd.Flags().StringVar(&toSchema, "to-schema", "", "the PostgreSQL schema of --to (default public)")
	cmd.Flags().StringVar(&from, "from", "", "the state to copy (default: the project's state:)")
	cmd.Flags().StringVar(&fromSchema, "from-schema", "", "the PostgreSQL schema of --from (default public)")
	cmd.Flags().BoolVar(&force, "force", false, "replace what the destination holds")
	formatFlag(cmd, &format)
	return cmd
}
