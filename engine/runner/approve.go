package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/engine/state"
)

// Approve implements serve.Approver with engine.Approve, while runs go on:
// it writes only the plan's approval.
func (r *Runner) Approve(ctx context.Context, ref, by string) (serve.Approval, error) {
	var a serve.Approval
	err := r.Read(ctx, func(e *engine.Engine) error {
		p, err := e.Approve(ctx, ref, by)
		if err != nil {
			return err
		}
		a = serve.Approval{PlanID: p.ID, Mappings: mappingsOf(p), By: p.Approved.By, At: p.Approved.At}
		return nil
	})
	switch {
	case errors.Is(err, state.ErrNoPlan):
		err = kindError{err, serve.ErrNotFound}
	case errors.Is(err, engine.ErrNoApprovalNeeded) || errors.Is(err, engine.ErrStalePlan) || errors.Is(err, engine.ErrNotApprovable):
		err = kindError{err, serve.ErrConflict}
	}
	return a, err
}

// mappingsOf lists a plan's mappings once each, in plan order.
func mappingsOf(p *plan.Plan) []string {
	var out []string
	for _, m := range p.Mappings {
		if len(out) == 0 || out[len(out)-1] != m.Name {
			out = append(out, m.Name)
		}
	}
	return out
}

// RunApproved implements serve.Approver: apply the approved plan planID of
// mapping. When it became stale while it waited (a later apply, or a
// change to the project), it is not applied: the run says so and plans
// again, as Run does.
func (r *Runner) RunApproved(ctx context.Context, drain <-chan struct{}, mapping, planID string) (serve.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drain = drain
	res := serve.Result{Counts: map[string]int64{}}
	if err := r.open(ctx); err != nil {
		return res, err
	}
	p, err := r.e.SavedPlan(ctx, planID, 0)
	if err != nil {
		return res, err
	}
	describe(&res, p)
	if r.draining() {
		return res, fmt.Errorf("%w: approved plan %s not applied yet", serve.ErrDrained, p.ID)
	}
	res, err = r.apply(ctx, mapping, p.ID, res)
	if !errors.Is(err, engine.ErrStalePlan) {
		return res, err
	}
	note := fmt.Sprintf("approved plan %s was not applied, it had become stale (%v); planned again", p.ID, err)
	r.opts.Logger.Warn("approved plan stale: planning again", "mapping", mapping, "plan", p.ID, "err", err.Error())
	res, err = r.planAndApply(ctx, drain, mapping)
	res.Note = note
	return res, err
}

// kindError is an error with the kind serve answers it by (serve.ErrNotFound,
// serve.ErrBadRequest, serve.ErrConflict); its message is the error's.
type kindError struct {
	error
	kind error
}

func (e kindError) Is(target error) bool { return target == e.kind }
func (e kindError) Unwrap() error        { return e.error }

// The runner answers serve's approvals and views.
var (
	_ serve.Approver = (*Runner)(nil)
	_ serve.Views    = (*Runner)(nil)
)
