package view

import (
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// The JSON listings read back, for a command that got them from coupler
// serve's API (which answers with what --format json prints) and prints
// them as it would have from the state database: each is the inverse of
// its printer's JSON, for every field a printer shows.

// Decode is the run j describes.
func (j RunJSON) Decode() state.Run {
	return state.Run{ID: j.ID, PlanID: j.PlanID, Mapping: j.Mapping, Direction: j.Direction,
		StartedAt: timeOf(j.StartedAt), FinishedAt: timeOf(j.FinishedAt), Inserted: j.Inserted, Modified: j.Modified,
		Unchanged: j.Unchanged, Skipped: j.Skipped, Failed: j.Failed, Coupled: j.Coupled, Deleted: j.Deleted,
		Uncoupled: j.Uncoupled, Interrupted: j.Status == "interrupted"}
}

// Decode is the plan summary j describes.
func (j PlanJSON) Decode() state.PlanSummary {
	counts := plan.Counts{}
	for k, n := range j.Operations {
		if n != 0 {
			counts[k] = n
		}
	}
	s := state.PlanSummary{ID: j.ID, Name: j.Name, CreatedAt: timeOf(j.CreatedAt), Status: plan.Status(j.Status),
		Mappings: j.Mappings, Counts: counts, NeedsApproval: j.NeedsApproval, NotModified: j.NotModified}
	if j.Approval != nil {
		s.Approved = &plan.Approval{By: j.Approval.By, At: timeOf(j.Approval.At)}
	}
	return s
}

// Decode is the failure j describes.
func (j FailureJSON) Decode() state.Failure {
	return state.Failure{RunID: j.RunID, Mapping: j.Mapping, Direction: j.Direction, SourceID: j.SourceID, DestID: j.DestID,
		Op: j.Op, Message: j.Message, At: timeOf(j.At), SourceDisplay: j.SourceDisplay, DestDisplay: j.DestDisplay}
}

// Decode is the write in flight j describes.
func (j IntentJSON) Decode() state.Intent {
	return state.Intent{RunID: j.RunID, Seq: j.Seq, PlanID: j.PlanID, Mapping: j.Mapping, Direction: j.Direction, Op: j.Op,
		SourceID: j.SourceID, DestID: j.DestID, ClientKey: j.ClientKey, CreatedAt: timeOf(j.CreatedAt)}
}

// Listings is what the listing commands' --format json print, each under
// its key; a decoder fills the one it reads.
type Listings struct {
	Runs     []RunJSON     `json:"runs"`
	Plans    []PlanJSON    `json:"plans"`
	Failures []FailureJSON `json:"failures"`
	Intents  []IntentJSON  `json:"intents"`
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
