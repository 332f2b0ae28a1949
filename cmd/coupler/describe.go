package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

func newDescribe(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "describe CONNECTOR [ENTITY]",
		Short: "Show the entity sets and fields a connector's service offers",
		Long: `describe asks the service behind one of the project's connectors what it
offers (an OData service's $metadata) and prints it. Without ENTITY it lists
the entity sets with their keys and how many fields and lookups each has;
with ENTITY it lists that set's fields (name, type, nullable) and lookups
(navigation property -> target entity set; "-" when the service binds it to
no set). It reads no records and writes nothing, not even the state
database. The project must load without errors.`,
		Example: `  coupler describe dataverse
  coupler describe dataverse accounts
  coupler describe bc customers --format json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := view.ParseFormat(format); err != nil {
				return err
			}
			d, c, err := g.describer(args[0])
			if err != nil {
				return err
			}
			s, err := d.Describe(cmd.Context())
			if err != nil {
				return fmt.Errorf("connector %s: %w", c.Name, err)
			}
			if len(args) == 1 {
				if format == "json" {
					return view.WriteJSON(g.stdout, schemaJSON(c.Name, s))
				}
				return printEntitySets(g.stdout, c.Name, s)
			}
			e := s.Entity(args[1])
			if e == nil {
				return fmt.Errorf("connector %s has no entity set %q%s", c.Name, args[1], didYouMean(args[1], s))
			}
			if format == "json" {
				return view.WriteJSON(g.stdout, entityJSON(e))
			}
			return printEntity(g.stdout, e)
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

// describer loads the project and builds the connector named name, without
// opening an engine (which would open the state database too).
func (g *globals) describer(name string) (connectors.Describer, *mappings.Connector, error) {
	prog, diags := engine.Load(g.dir, g.loadOptions(false))
	if diags.HasErrors() {
		// Warnings are about mappings, which describe does not use: they
		// are shown only beside errors.
		for _, d := range diags {
			fmt.Fprintln(g.stderr, d)
		}
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("%s has %d problem(s); see above", g.dir, errorCount(diags))}
	}
	c := prog.Project.Connector(name)
	if c == nil {
		var names []string
		for _, c := range prog.Project.Connectors {
			names = append(names, c.Name)
		}
		sort.Strings(names)
		return nil, nil, fmt.Errorf("no connector %q in %s (declared: %s)", name, prog.Project.File, strings.Join(names, ", "))
	}
	// Its errors are printed through the redactor, which must know the
	// connector's secrets and the OAuth2 tokens it fetches.
	c.Config.AddSecretsTo(g.redactor)
	cfg := c.Config
	cfg.Redactor = g.redactor
	conn, err := connectors.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	d, err := asDescriber(conn, c)
	return d, c, err
}

// asDescriber returns conn as a Describer, or an error naming c if it
// cannot describe itself.
func asDescriber(conn connectors.Connector, c *mappings.Connector) (connectors.Describer, error) {
	d, ok := conn.(connectors.Describer)
	if !ok {
		return nil, fmt.Errorf("connector %s (type %s) cannot describe itself", c.Name, c.Type)
	}
	return d, nil
}

// The JSON forms, with lower-case keys like the other commands' JSON.
type (
	describeSchemaJSON struct {
		Connector string               `json:"connector"`
		Entities  []describeEntityJSON `json:"entities"`
	}
	describeEntityJSON struct {
		Name    string              `json:"name"`
		Type    string              `json:"type"`
		Key     []string            `json:"key"`
		Fields  []describeFieldJSON `json:"fields"`
		Lookups map[string]string   `json:"lookups"`
		// Polymorphic: multi-table lookup -> target entity set -> the
		// navigation property that binds it; absent when there are none.
		Polymorphic map[string]map[string]string `json:"polymorphic,omitempty"`
	}
	describeFieldJSON struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Nullable bool   `json:"nullable"`
	}
)

func schemaJSON(connector string, s *connectors.Schema) describeSchemaJSON {
	out := describeSchemaJSON{Connector: connector, Entities: []describeEntityJSON{}}
	for i := range s.Entities {
		out.Entities = append(out.Entities, entityJSON(&s.Entities[i]))
	}
	return out
}

// entityJSON renders absent keys, fields and lookups as [] and {}, not null.
func entityJSON(e *connectors.EntitySchema) describeEntityJSON {
	out := describeEntityJSON{
		Name:    e.Name,
		Type:    e.Type,
		Key:     append([]string{}, e.Key...),
		Fields:  []describeFieldJSON{},
		Lookups: map[string]string{},
	}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, describeFieldJSON(f))
	}
	for k, v := range e.Lookups {
		out.Lookups[k] = v
	}
	out.Polymorphic = e.Polymorphic
	return out
}

func printEntitySets(w io.Writer, connector string, s *connectors.Schema) error {
	if len(s.Entities) == 0 {
		_, err := fmt.Fprintf(w, "Connector %s offers no entity sets.\n", connector)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY SET\tKEY\tFIELDS\tLOOKUPS")
	for _, e := range s.Entities {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", e.Name, keyString(e.Key), len(e.Fields), len(e.Lookups))
	}
	return tw.Flush()
}

func printEntity(w io.Writer, e *connectors.EntitySchema) error {
	fmt.Fprintf(w, "%s (%s), key %s\n\n", e.Name, orDash(e.Type), keyString(e.Key))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tTYPE\tNULLABLE")
	for _, f := range e.Fields {
		nullable := "no"
		if f.Nullable {
			nullable = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, f.Type, nullable)
	}
	if err := tw.Flush(); err != nil || len(e.Lookups) == 0 {
		return err
	}
	names := make([]string, 0, len(e.Lookups))
	for n := range e.Lookups {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOOKUP\tTARGET")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t%s\n", n, orDash(e.Lookups[n]))
	}
	if err := tw.Flush(); err != nil || len(e.Polymorphic) == 0 {
		return err
	}
	// A multi-table lookup is one field read under one name, written
	// through the navigation property of the target's entity set.
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MULTI-TABLE LOOKUP\tTARGETS")
	for _, n := range slices.Sorted(maps.Keys(e.Polymorphic)) {
		targets := slices.Sorted(maps.Keys(e.Polymorphic[n]))
		for i, t := range targets {
			targets[i] = t + " (" + e.Polymorphic[n][t] + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\n", n, strings.Join(targets, ", "))
	}
	return tw.Flush()
}

func keyString(key []string) string {
	if len(key) == 0 {
		return "-"
	}
	return strings.Join(key, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// didYouMean suggests the entity set closest to name: one that differs only
// in case, or else the nearest within a few edits.
func didYouMean(name string, s *connectors.Schema) string {
	best, bestDist := "", len(name)/3+1
	for _, e := range s.Entities {
		if strings.EqualFold(e.Name, name) {
			return " (did you mean " + strconv.Quote(e.Name) + "?)"
		}
		if d := mappings.EditDistance(strings.ToLower(name), strings.ToLower(e.Name)); d < bestDist {
			best, bestDist = e.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + strconv.Quote(best) + "?)"
}
