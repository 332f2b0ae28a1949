package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newState(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Look after the state database",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newStateBackup(g))
	return cmd
}

func newStateBackup(g *globals) *cobra.Command {
	return &cobra.Command{
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
			e, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			src := e.State().Path()
			file := ""
			if len(args) == 1 {
				file = args[0]
			} else {
				ext := filepath.Ext(src)
				file = strings.TrimSuffix(src, ext) + "-" + time.Now().UTC().Format("20060102-150405") + ".backup" + ext
			}
			if err := e.State().Backup(cmd.Context(), file); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Backed up %s to %s\n", src, file)
			return nil
		},
	}
}
