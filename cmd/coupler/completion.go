package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/lock"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/mappings/scaffold"
)

// completer proposes values for the word being completed.
type completer func(g *globals, ctx context.Context, args []string) []string

// argCompleters complete positional arguments, by command path: the
// argument's position picks the completer, the last one repeating.
var argCompleters = map[string][]completer{
	"coupler sync":        {mappingNames},
	"coupler uncouple":    {mappingNames},
	"coupler retry":       {mappingNames},
	"coupler acknowledge": {mappingNames},
	"coupler approve":     {planIDs},
	"coupler couple":      {mappingNames, nil},
	"coupler describe":    {connectorNames, nil},
	"coupler show":        {planIDs, nil},
	"coupler apply":       {planIDs, nil},
}

// formatValues are the --format values of each command that has the flag;
// a command missing here offers text and json, what every command speaks.
var formatValues = map[string][]string{
	"coupler plan":  slices.Sorted(maps.Keys(planFormats)),
	"coupler show":  {"text", "json", "markdown", "html", "parquet", "jsonl"},
	"coupler query": {"table", "csv", "json"},
}

// flagCompleters complete flag values by flag name, whatever the command.
var flagCompleters = map[string]completer{
	"mapping":    mappingNames,
	"prefer":     fixed("table", "integration"),
	"op":         opKinds,
	"log-level":  fixed("debug", "info", "warn", "error"),
	"log-format": fixed("text", "json"),
	"defaults":   bundledSets,
}

func fixed(values ...string) completer {
	return func(*globals, context.Context, []string) []string { return values }
}

// registerCompletions gives every command of root's tree its dynamic
// completion: mapping names, connector names and plan ids from the project
// and its state, and the values of enumerated flags.
func registerCompletions(g *globals, root *cobra.Command) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := cmd.CommandPath()
		if cs, ok := argCompleters[path]; ok && cmd.ValidArgsFunction == nil {
			cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				c := cs[min(len(args), len(cs)-1)]
				if c == nil {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return c(g, cmd.Context(), args), cobra.ShellCompDirectiveNoFileComp
			}
		}
		register := func(f *pflag.Flag) {
			c := flagCompleters[f.Name]
			if f.Name == "format" {
				values, ok := formatValues[path]
				if !ok {
					values = []string{"text", "json"}
				}
				c = fixed(values...)
			}
			if c == nil {
				return
			}
			// A persistent flag is registered once, on its own command.
			_ = cmd.RegisterFlagCompletionFunc(f.Name, func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				return c(g, cmd.Context(), args), cobra.ShellCompDirectiveNoFileComp
			})
		}
		cmd.LocalNonPersistentFlags().VisitAll(register)
		cmd.PersistentFlags().VisitAll(register)
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completionProject loads the project for completion: quietly, and even
// when it has errors (a secret not set, say), since the names are there.
func completionProject(g *globals) *mappings.Project {
	p, _ := mappings.Load(g.dir, g.loadOptions(true))
	return p
}

func mappingNames(g *globals, _ context.Context, _ []string) []string {
	p := completionProject(g)
	if p == nil {
		return nil
	}
	var names []string
	for _, m := range p.Mappings {
		if !slices.Contains(names, m.Name) {
			names = append(names, m.Name)
		}
	}
	return names
}

func connectorNames(g *globals, _ context.Context, _ []string) []string {
	p := completionProject(g)
	if p == nil {
		return nil
	}
	var names []string
	for _, c := range p.Connectors {
		names = append(names, c.Name)
	}
	return names
}

func opKinds(*globals, context.Context, []string) []string {
	var kinds []string
	for _, k := range plan.Kinds {
		kinds = append(kinds, string(k))
	}
	return kinds
}

func bundledSets(*globals, context.Context, []string) []string {
	return scaffold.Sets(nil)
}

// completionTimeout bounds how long completion waits for the state
// database: a shell waiting on a tab is worse than no proposal.
const completionTimeout = 2 * time.Second

// planIDs proposes the newest saved plans' ids and names, newest first,
// each with when it was made and its status. The state database is opened
// read-only: while plan or apply holds it, DuckDB refuses at once, and
// completion proposes nothing rather than wait; while coupler serve holds
// it, serve lists them.
func planIDs(g *globals, ctx context.Context, _ []string) []string {
	p := completionProject(g)
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	const newest = 50
	var plans []state.PlanSummary
	err := engine.Query(ctx, p, fmt.Sprintf("SELECT id, coalesce(name, ''), status, created_at FROM plans ORDER BY created_at DESC, id DESC LIMIT %d", newest),
		func(_ []string, row []any) error {
			if row == nil {
				return nil
			}
			var s state.PlanSummary
			s.ID, _ = row[0].(string)
			s.Name, _ = row[1].(string)
			status, _ := row[2].(string)
			s.Status = plan.Status(status)
			s.CreatedAt, _ = row[3].(time.Time)
			plans = append(plans, s)
			return nil
		})
	if err != nil {
		c, cerr := g.serveClient(lock.Explain(err, p.State))
		if cerr != nil {
			return nil
		}
		if plans, err = c.Plans(ctx, newest); err != nil {
			return nil
		}
	}
	var out []string
	for _, s := range plans {
		desc := string(s.Status)
		if !s.CreatedAt.IsZero() {
			desc = s.CreatedAt.Local().Format("2006-01-02 15:04") + " " + desc
		}
		out = append(out, s.ID+"\t"+desc)
		if s.Name != "" {
			out = append(out, s.Name+"\t"+fmt.Sprintf("%s (%s)", desc, s.ID))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return append([]string{engine.LatestPlan + "\tthe newest plan"}, out...)
}
