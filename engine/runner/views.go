package runner

import (
	"context"
	"errors"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/engine/state"
)

// The runner implements serve.Views with the engine it lends for reads
// (Read), so that serve's pages show the state database while runs go on.

// Plan implements serve.Views.
func (r *Runner) Plan(ctx context.Context, ref string) (*plan.Plan, error) {
	var p *plan.Plan
	err := r.Read(ctx, func(e *engine.Engine) error {
		var err error
		p, err = e.SavedPlan(ctx, ref, serve.PlanPageLimit)
		return err
	})
	if errors.Is(err, state.ErrNoPlan) {
		err = kindError{err, serve.ErrNotFound}
	}
	return p, err
}

// RunLog implements serve.Views.
func (r *Runner) RunLog(ctx context.Context, limit int) ([]serve.RunEntry, error) {
	var out []serve.RunEntry
	err := r.Read(ctx, func(e *engine.Engine) error {
		runs, err := e.Runs(ctx, limit)
		for _, run := range runs {
			out = append(out, serve.RunEntry{ID: run.ID, PlanID: run.PlanID, Mapping: run.Mapping, Direction: run.Direction,
				Started: run.StartedAt, Finished: run.FinishedAt, Interrupted: run.Interrupted, Counts: counts(run)})
		}
		return err
	})
	return out, err
}

// counts are a run's counts by the names serve shows them by.
func counts(run state.Run) map[string]int64 {
	return map[string]int64{"inserted": run.Inserted, "modified": run.Modified, "deleted": run.Deleted, "coupled": run.Coupled,
		"uncoupled": run.Uncoupled, "unchanged": run.Unchanged, "skipped": run.Skipped, "failed": run.Failed}
}

// Failures implements serve.Views.
func (r *Runner) Failures(ctx context.Context, mapping string, limit int) ([]serve.FailureEntry, error) {
	var out []serve.FailureEntry
	err := r.Read(ctx, func(e *engine.Engine) error {
		if mapping != "" {
			if err := e.CheckMapping(mapping); err != nil {
				return kindError{err, serve.ErrBadRequest}
			}
		}
		fs, err := e.Failures(ctx, mapping, limit)
		for _, f := range fs {
			out = append(out, serve.FailureEntry{Mapping: f.Mapping, Direction: f.Direction, SourceID: f.SourceID, DestID: f.DestID,
				SourceShow: f.SourceDisplay.Text(), DestShow: f.DestDisplay.Text(), Op: f.Op, Message: f.Message, At: f.At})
		}
		return err
	})
	return out, err
}

// Couplings implements serve.Views.
func (r *Runner) Couplings(ctx context.Context, mapping, q string, offset, limit int) (serve.CouplingsPage, error) {
	var out serve.CouplingsPage
	err := r.Read(ctx, func(e *engine.Engine) error {
		if err := e.CheckMapping(mapping); err != nil {
			return kindError{err, serve.ErrBadRequest}
		}
		page, err := e.SearchCouplings(ctx, mapping, q, offset, limit)
		out.Total = page.Total
		for _, c := range page.Rows {
			out.Rows = append(out.Rows, serve.CouplingEntry{TableID: c.TableID, IntegrationID: c.IntegrationID,
				TableShow: c.TableDisplay.Text(), IntegrationShow: c.IntegrationDisplay.Text(),
				CoupledAt: c.CoupledAt, LastSynced: c.LastSynced, LastResult: c.LastResult})
		}
		return err
	})
	return out, err
}

// Retry implements serve.Views with engine.Retry, between runs: it moves
// watermarks that a run would move too.
func (r *Runner) Retry(ctx context.Context, mapping string, ids []string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.open(ctx); err != nil {
		return 0, err
	}
	return r.e.Retry(ctx, mapping, ids)
}
