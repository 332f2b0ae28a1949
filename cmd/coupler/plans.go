package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/remote"
	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/lock"
	"github.com/couplerhq/coupler/engine/serve"
)

func newPlans(g *globals) *cobra.Command {
	var (
		limit  int
		format string
	)
	cmd := &cobra.Command{
		Use:   "plans",
		Short: "List saved plans, newest first",
		Long: `plans lists the plans in the state database: id, name (plan --out), when it
was made (local time, with its offset from UTC), its mappings, how many
operations of each kind, and its status: whether it has been applied, and
whether it waits for a person's approval (coupler approve) or who approved
it.`,
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
			ps, err := e.Plans(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return pr.Plans(ps)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many plans to list")
	formatFlag(cmd, &format)
	serveTokenFlag(cmd, g)
	cmd.AddCommand(newPlansPrune(g))
	return cmd
}

func newPlansPrune(g *globals) *cobra.Command {
	var (
		olderThan time.Duration
		keep      int
		format    string
	)
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove old saved plans",
		Long: `prune removes saved plans made more than --older-than ago, except the newest
--keep plans and any plan whose interrupted apply can still be resumed.
The run log keeps its runs. It also removes what plans killed before they
were saved left behind. coupler serve prunes on its own (--plan-retention).`,
		Example: `  coupler plans prune                       # older than 7 days, keeping the newest 20
  coupler plans prune --older-than 2d --keep 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 0 || keep < 0 {
				return fmt.Errorf("--older-than and --keep must not be negative")
			}
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			e, err := g.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			res, err := e.PrunePlans(cmd.Context(), time.Now().Add(-olderThan), keep)
			if err != nil {
				return err
			}
			return pr.Prune(res)
		},
	}
	formatFlag(cmd, &format)
	durationFlag(cmd.Flags(), &olderThan, "older-than", 7*24*time.Hour, "remove plans made longer ago than this (units s, m, h, d, w: 7d, 12h)")
	cmd.Flags().IntVar(&keep, "keep", 20, "always keep this many of the newest plans")
	return cmd
}

func newShow(g *globals) *cobra.Command {
	var (
		format   string
		mappings []string
		ops      []string
		limit    int
		output   string
	)
	cmd := &cobra.Command{
		Use:   "show [PLAN]",
		Short: "Show a saved plan, by id or name (default: the latest)",
		Long: `show renders a saved plan (by id or name; latest, or none, for the newest) as
text, JSON, GitHub-flavoured Markdown for a pull-request comment, or one
self-contained HTML page with a summary and tables that can be filtered by
operation and searched by key; optionally only some mappings (--mapping) and
some kinds of operation (--op create, update, ...). -o FILE writes it to
FILE instead of stdout, whole or not at all (a temporary file renamed into
place). --format parquet or jsonl -o FILE exports the operations, one row
per changed field, with DuckDB's COPY.`,
		Example: `  coupler show                                   # the latest plan
  coupler show first-load --format html -o plan.html
  coupler show latest --format jsonl -o ops.jsonl --op create`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req := serve.PlanRequest{Ref: engine.LatestPlan, Format: format, Limit: limit, Mappings: mappings, Ops: ops}
			if len(args) == 1 {
				req.Ref = args[0]
			}
			export := exportFormat(format)
			if export && output == "" {
				return fmt.Errorf("--format %s writes a file: give -o FILE", format)
			}
			kinds, err := checkShow(req)
			if err != nil {
				return err
			}
			// The plan, from the state database or, when coupler serve
			// holds it, from serve.
			e, err := g.openOffline(ctx)
			var c *remote.Client
			if err != nil {
				if c, err = g.serveClient(err); err != nil {
					return err
				}
			} else {
				defer e.Close()
			}
			show := func(w io.Writer, color bool) (serve.PlanInfo, error) {
				if c != nil {
					req.Color = color
					return c.Plan(ctx, w, req)
				}
				return renderSaved(ctx, e, w, req, kinds, color)
			}
			var info serve.PlanInfo
			if export {
				req.File = filepath.Base(output)
				err := writeAtomic(output, func(tmp string) (err error) {
					if c != nil {
						return writeFile(tmp, func(w io.Writer) (err error) { info, err = show(w, false); return err })
					}
					info, err = exportSaved(ctx, e, tmp, req, kinds)
					return err
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "wrote %d row(s) of plan %s to %s\n", info.Rows, info.ID, output)
				return nil
			}
			if output == "" {
				_, err := show(cmd.OutOrStdout(), colorOn(cmd.OutOrStdout(), os.Getenv))
				return err
			}
			err = writeAtomic(output, func(tmp string) error {
				return writeFile(tmp, func(w io.Writer) (err error) { info, err = show(w, false); return err })
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote plan %s (%s) to %s\n", info.ID, format, output)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "text", "output format: text, json, markdown (a pull-request comment), html (one self-contained page), or parquet or jsonl (the operations, to -o FILE)")
	f.StringVarP(&output, "output", "o", "", "write to this file instead of stdout (parquet and jsonl need it); written whole or not at all")
	f.StringArrayVar(&mappings, "mapping", nil, "only this mapping (repeatable)")
	f.StringArrayVar(&ops, "op", nil, "only operations of this kind (repeatable)")
	f.IntVar(&limit, "limit", 20, "operations to list per mapping in text and Markdown output (0: all)")
	serveTokenFlag(cmd, g)
	return cmd
}

func newQuery(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "query SQL",
		Short: "Run read-only SQL on the state database",
		Long: `query runs one SQL statement on the state database, opened read-only, and
prints the result as a table, CSV or JSON. The diffs are there to query:
plan_operations (one row per record and plan), plan_changes (each changed
field, before and after as JSON), couplings, watermarks, runs, run_records and
record_failures. The statement reaches nothing but that file: reading or
writing other files (read_csv, COPY … TO), ATTACH, extensions and SET are
refused. See docs/operations.md.`,
		Example: `  coupler query "SELECT op, count(*) FROM plan_operations WHERE plan_id = '20261124-083414-6f80fe' GROUP BY op"
  coupler query "SELECT field, count(*) FROM plan_changes GROUP BY field ORDER BY 2 DESC" --format csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "csv" && format != "json" {
				return fmt.Errorf("--format must be table, csv or json, not %q", format)
			}
			prog, err := loadOnly(g, true)
			if err != nil {
				return err
			}
			var out func(cols []string, row []any) error
			var finish func() error
			switch format {
			case "table":
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				out = func(cols []string, row []any) error {
					cells := cols
					if row != nil {
						cells = make([]string, len(row))
						for i, v := range row {
							cells[i] = cell(v)
						}
					}
					_, err := fmt.Fprintln(tw, strings.Join(cells, "\t"))
					return err
				}
				finish = tw.Flush
			case "csv":
				cw := csv.NewWriter(g.stdout)
				out = func(cols []string, row []any) error {
					if row == nil {
						return cw.Write(cols)
					}
					cells := make([]string, len(row))
					for i, v := range row {
						// An empty field, as CSV readers (and DuckDB's
						// COPY) take NULL; the table shows NULL.
						if v != nil {
							cells[i] = cell(v)
						}
					}
					return cw.Write(cells)
				}
				finish = func() error { cw.Flush(); return cw.Error() }
			default:
				var rows []map[string]any
				out = func(cols []string, row []any) error {
					if row != nil {
						m := map[string]any{}
						for i, c := range cols {
							m[c] = row[i]
						}
						rows = append(rows, m)
					}
					return nil
				}
				finish = func() error {
					if rows == nil {
						rows = []map[string]any{}
					}
					return view.WriteJSON(g.stdout, rows)
				}
			}
			if err := engine.Query(cmd.Context(), prog.Project, args[0], out); err != nil {
				// DuckDB lets no other process open the file serve holds,
				// not even read-only: serve runs the statement.
				c, err := g.serveClient(lock.Explain(err, prog.Project.State))
				if err != nil {
					return err
				}
				if err := c.Query(cmd.Context(), args[0], out); err != nil {
					return err
				}
			}
			return finish()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	serveTokenFlag(cmd, g)
	return cmd
}

func cell(v any) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(v)
}
