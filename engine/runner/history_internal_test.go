package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// plansOnly is a state holding saved plans and no runs, newest first.
type plansOnly struct {
	state.Store
	plans []state.PlanSummary
}

func (s *plansOnly) Runs(context.Context, int) ([]state.Run, error) { return nil, nil }

func (s *plansOnly) Failures(context.Context, string, int) ([]state.Failure, error) { return nil, nil }

func (s *plansOnly) Plans(_ context.Context, limit int) ([]state.PlanSummary, error) {
	return s.plans[:min(limit, len(s.plans))], nil
}

func (s *plansOnly) LoadPlan(_ context.Context, id string, _ int, _ ...plan.Kind) (*plan.Plan, error) {
	return &plan.Plan{ID: id, Status: plan.Planned}, nil
}

// TestHistoryFindsAnOldPlanWaitingForApproval: a plan that has waited for
// approval while the project's other mappings made many plans is still
// waited on after a restart, however many plans came after it.
func TestHistoryFindsAnOldPlanWaitingForApproval(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	st := &plansOnly{}
	for i := 3 * historyPlans; i > 0; i-- {
		st.plans = append(st.plans, state.PlanSummary{ID: fmt.Sprint("busy-", i), CreatedAt: start.Add(time.Duration(i) * time.Minute),
			Status: plan.Applied, Mappings: []string{"CONTACT"}})
	}
	st.plans = append(st.plans, state.PlanSummary{ID: "waiting", CreatedAt: start, Status: plan.Planned, Mappings: []string{"CUSTOMER"}, NeedsApproval: true})
	past, err := history(t.Context(), st, []string{"CONTACT", "CUSTOMER", "VENDOR"})
	if err != nil {
		t.Fatal(err)
	}
	if w := past["CUSTOMER"].Waiting; w == nil || w.PlanID != "waiting" {
		t.Fatalf("history()[CUSTOMER] = %+v; want plan waiting, made before the newest %d plans, still waiting for approval", past["CUSTOMER"], historyPlans)
	}
}
