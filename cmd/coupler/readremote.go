package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/remote"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/lock"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/engine/state"
)

// The read commands (runs, plans, show, errors, state intents, query) work
// while coupler serve holds the state database: DuckDB lets no other
// process open a file one has open for writing, not even read-only, so
// they ask serve's read API instead (package remote) and print its answer
// with the same printers. Anything else that holds the database (an
// apply) stops them with the lock's message, as before.

// stateReader is what the listing commands read: an engine on the state
// database, or a client of the serve that holds it.
type stateReader interface {
	Runs(ctx context.Context, limit int) ([]state.Run, error)
	Plans(ctx context.Context, limit int) ([]state.PlanSummary, error)
	Failures(ctx context.Context, mapping string, limit int) ([]state.Failure, error)
	Intents(ctx context.Context) ([]state.Intent, error)
	Close() error
}

// openReader opens the state database for a listing, or, when coupler
// serve holds it, a client of serve's API.
func (g *globals) openReader(ctx context.Context) (stateReader, error) {
	e, err := g.openOffline(ctx)
	if err == nil {
		return e, nil
	}
	c, err := g.serveClient(err)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// serveClient returns a client of the coupler serve that holds the state
// database when err says the database is held and the holder is the serve
// announced beside it; otherwise it returns err.
func (g *globals) serveClient(err error) (*remote.Client, error) {
	var held *lock.HeldError
	if !errors.As(err, &held) {
		return nil, err
	}
	info, ok := remote.Find(held.State, held.Holder.PID)
	if !ok {
		return nil, err
	}
	token := g.serveToken
	if token == "" {
		token = os.Getenv(tokenEnv)
	}
	c, cerr := remote.New(info, token)
	if cerr != nil {
		return nil, cerr
	}
	g.logger().Debug("the state database is held by coupler serve: reading through its API", "pid", info.PID, "url", info.URL)
	return c, nil
}

// serveTokenFlag adds --token to a read command, for a serve that wants
// its token for reads.
func serveTokenFlag(cmd *cobra.Command, g *globals) {
	cmd.Flags().StringVar(&g.serveToken, "token", "", "coupler serve's token, when serve holds the state database and wants it for reads (default $"+tokenEnv+")")
}

// exportFormat says whether show's format exports the operations to a
// file rather than render the plan.
func exportFormat(format string) bool { return format == "parquet" || format == "jsonl" }

// checkShow checks coupler show's format and operation kinds, wherever
// the plan is rendered, and returns the kinds.
func checkShow(req serve.PlanRequest) ([]plan.Kind, error) {
	if !exportFormat(req.Format) {
		if err := checkFormat(req.Format); err != nil {
			return nil, err
		}
	}
	var kinds []plan.Kind
	for _, o := range req.Ops {
		if !slices.Contains(plan.Kinds, plan.Kind(o)) {
			return nil, fmt.Errorf("--op %q is not an operation kind (%v)", o, plan.Kinds)
		}
		kinds = append(kinds, plan.Kind(o))
	}
	return kinds, nil
}

// renderSaved writes the saved plan req names to w as coupler show does,
// text in colour when color says.
func renderSaved(ctx context.Context, e *engine.Engine, w io.Writer, req serve.PlanRequest, kinds []plan.Kind, color bool) (serve.PlanInfo, error) {
	for _, m := range req.Mappings {
		if err := e.CheckMapping(m); err != nil {
			return serve.PlanInfo{}, err
		}
	}
	// Text and Markdown are read by people: they list limit operations per
	// mapping. JSON and HTML list every one.
	limit := req.Limit
	if (req.Format != "text" && req.Format != "markdown") || limit <= 0 {
		limit = -1
	}
	p, err := e.SavedPlan(ctx, req.Ref, limit, kinds...)
	if err != nil {
		return serve.PlanInfo{}, err
	}
	if len(req.Mappings) > 0 {
		p.Mappings = slices.DeleteFunc(p.Mappings, func(m *plan.MappingPlan) bool { return !slices.Contains(req.Mappings, m.Name) })
	}
	return serve.PlanInfo{ID: p.ID, Rows: -1}, renderPlanColor(w, req.Format, p, color)
}

// exportSaved exports the operations of the saved plan req names to file,
// as coupler show --format parquet|jsonl does.
func exportSaved(ctx context.Context, e *engine.Engine, file string, req serve.PlanRequest, kinds []plan.Kind) (serve.PlanInfo, error) {
	id, n, err := e.ExportPlan(ctx, req.Ref, req.Format, file, req.Mappings, kinds)
	return serve.PlanInfo{ID: id, Rows: n}, err
}
