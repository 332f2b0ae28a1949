package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/location"
)

// With a state that is not a DuckDB file (Options.Store: PostgreSQL,
// shared by several processes), a plan stages and diffs in a workspace of
// this engine's own, a DuckDB database on a temporary file: before a
// mapping is planned, the workspace takes the store's rows of that mapping
// that the diff reads (state.MappingTables: couplings, record failures,
// uncoupled records, assigned values); once every part is diffed and
// conflicts settled, each part's diff is copied into the store, whose
// SavePlan then makes the plan visible. Apply reads the store only. The
// diff SQL is the same either way: with a DuckDB state the workspace is
// the state itself and nothing is copied.

// openWorkspace makes store the engine's state and, unless it is a DuckDB
// state or the engine is offline, opens a workspace beside it.
func (e *Engine) openWorkspace(ctx context.Context, store state.Store, opts state.Options) error {
	if db, ok := store.(*state.DB); ok {
		e.store, e.work = db, db
		return nil
	}
	e.store = store
	if e.offline {
		return nil
	}
	_, rows := store.(state.MappingRows)
	_, saver := store.(state.DiffSaver)
	if !rows || !saver {
		return fmt.Errorf("state %s: cannot plan into it (%T streams no mapping rows or saves no diff)", store.Path(), store)
	}
	// Under staging's temp_directory, where DuckDB spills what does not
	// fit in memory_limit and which DuckDB makes only when it spills.
	if opts.TempDirectory != "" {
		if err := os.MkdirAll(opts.TempDirectory, 0o755); err != nil {
			return fmt.Errorf("plan workspace: %w", err)
		}
	}
	dir, err := os.MkdirTemp(opts.TempDirectory, "coupler-workspace-")
	if err != nil {
		return fmt.Errorf("plan workspace: %w", err)
	}
	opts.Sealed, opts.Scratch = false, ""
	work, err := state.Open(ctx, filepath.Join(dir, "workspace.duckdb"), opts)
	if err == nil {
		if err = work.DropMappingKeys(ctx); err != nil {
			work.Close()
		}
	}
	if err != nil {
		return errors.Join(fmt.Errorf("plan workspace: %w", err), os.RemoveAll(dir))
	}
	e.work, e.workDir = work, dir
	return nil
}

// openPostgres opens the project's PostgreSQL state (state: postgres://…)
// and a workspace beside it. The URL's password joins the secrets the
// engine scrubs: a driver's error may quote the connection.
func (e *Engine) openPostgres(ctx context.Context, loc location.Location, opts state.Options) error {
	if u, err := url.Parse(loc.URL); err == nil {
		if pw, ok := u.User.Password(); ok {
			e.redactor.AddSecret(pw, url.QueryEscape(pw))
		}
	}
	store, err := OpenStore(ctx, loc, opts)
	if err != nil {
		return err
	}
	if err := e.openWorkspace(ctx, store, opts); err != nil {
		return errors.Join(err, store.Close())
	}
	return nil
}

// separateWork reports whether the workspace is apart from the store, so
// that what a plan reads and makes is copied between them.
func (e *Engine) separateWork() bool {
	return e.work != nil && any(e.work) != any(e.store)
}

// loadWorkspace brings into the workspace the store's rows of mapping that
// the diff reads, once per plan: loaded names the mappings already
// brought in.
func (e *Engine) loadWorkspace(ctx context.Context, mapping string, loaded map[string]bool) error {
	if !e.separateWork() || loaded[mapping] {
		return nil
	}
	if err := e.work.LoadMapping(ctx, e.store.(state.MappingRows), mapping); err != nil {
		return err
	}
	loaded[mapping] = true
	return nil
}

// saveDiffs copies each part of p from the workspace into the store.
func (e *Engine) saveDiffs(ctx context.Context, p *plan.Plan) error {
	if !e.separateWork() {
		return nil
	}
	saver := e.store.(state.DiffSaver)
	for _, mp := range p.Mappings {
		d, err := e.work.PartDiff(ctx, state.Part{PlanID: p.ID, Mapping: mp.Name, Direction: mp.Direction})
		if err != nil {
			return err
		}
		if err := saver.SaveDiff(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// forgetWorkspacePlan removes a plan from the workspace, saved or failed:
// the store holds what is kept of it.
func (e *Engine) forgetWorkspacePlan(ctx context.Context, id string) {
	if !e.separateWork() {
		return
	}
	if err := e.work.DiscardPlan(ctx, id); err != nil {
		e.log.Warn("clear the plan workspace", "plan", id, "err", err)
	}
}
