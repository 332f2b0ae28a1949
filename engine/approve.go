package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/couplerhq/coupler/engine/plan"
)

// A plan that needs a person (plan.MappingPlan.NeedsApproval: a first sync
// creating into a destination that holds records, deletes, or changes
// beyond the project's approval: share) waits under coupler serve until
// someone approves it, on serve's page or with coupler approve. Approval
// is recorded per plan: who and when. On the command line the
// confirmation prompt, or --auto-approve, is the person for deletes and
// the share; Apply itself refuses only the creates into existing records
// (checkReviewed), until the mapping is acknowledged or the plan approved.

// ErrNoApprovalNeeded is returned (wrapped) by Approve for a plan that
// needs no approval.
var ErrNoApprovalNeeded = errors.New("needs no approval")

// ErrNotApprovable is returned (wrapped) by Approve for a plan that is not
// waiting to be applied: applied, being applied or interrupted.
var ErrNotApprovable = errors.New("only a plan not applied yet can be approved")

// approvalRule is the project's approval: as plans apply it.
func (e *Engine) approvalRule() plan.ApprovalRule {
	a := e.prog.Project.Approval
	return plan.ApprovalRule{ChangedShare: a.ChangedShare, MinRecords: a.MinRecords, Deletes: a.Deletes}
}

// Approve records that by approved the saved plan ref (an id, a name, or
// LatestPlan for the newest), so that coupler serve applies it, and
// Apply applies it even where it creates records into a destination that
// holds records. A plan that needs no approval, is applied already, or is
// stale (a later apply moved its mappings on, or the project changed) is
// refused. Approving an approved plan changes nothing: the first approval
// stands. It returns the plan with its approval.
func (e *Engine) Approve(ctx context.Context, ref, by string) (*plan.Plan, error) {
	p, err := e.SavedPlan(ctx, ref, 0)
	if err != nil {
		return nil, err
	}
	if p.Status != plan.Planned {
		return p, fmt.Errorf("plan %s is %s: %w", p.ID, p.Status, ErrNotApprovable)
	}
	if !p.NeedsApproval() {
		return p, fmt.Errorf("plan %s %w: apply it with coupler apply %s", p.ID, ErrNoApprovalNeeded, p.ID)
	}
	if p.Approved != nil {
		return p, nil
	}
	if err := e.checkInputs(p); err != nil {
		return p, err
	}
	if err := e.checkFresh(ctx, p); err != nil {
		return p, err
	}
	if p.Approved, err = e.store.Approve(ctx, p.ID, by, e.now()); err != nil {
		return p, err
	}
	e.log.Info("plan approved", "plan", p.ID, "by", by)
	return p, nil
}
