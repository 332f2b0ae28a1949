package report

import (
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// approvalLine says whether a plan that needs a person's approval
// (plan.MappingPlan.NeedsApproval) has it, and who gave it; empty for a
// plan that needs none. The reasons are listed per mapping beside it.
func approvalLine(p *plan.Plan) string {
	switch {
	case !p.NeedsApproval():
		return ""
	case p.Approved != nil:
		return "Approved by " + p.Approved.By + " at " + p.Approved.At.UTC().Format(time.RFC3339) + "."
	case p.Status != plan.Planned:
		return "Needed approval; applied from the command line, whose confirmation prompt (or --auto-approve) stood for it."
	}
	return "Waiting for approval: coupler serve applies this plan once a person approves it (coupler approve " + p.ID + ", or Approve on serve's page)."
}
