package view

import (
	"encoding/json"
	"fmt"

	"github.com/couplerhq/coupler/engine/report"
	"github.com/couplerhq/coupler/engine/state"
)

// ApplyFailuresShown is how many failed records apply lists per mapping,
// in text and JSON alike; coupler errors lists them all.
const ApplyFailuresShown = 10

// Apply is what an apply did: the runs it made, one per mapping and
// direction, and the records that failed.
type Apply struct {
	PlanID string
	Runs   []state.Run
	// Failures are the records that failed, as many per run as the engine
	// kept; the printer shows ApplyFailuresShown per mapping.
	Failures []report.ApplyFailure
	// Err is the error that stopped the apply part way, nil when it ran to
	// the end.
	Err error
}

// The statuses of ApplyJSON.
const (
	// Applied: every record was written.
	Applied = "applied"
	// AppliedWithFailures: the apply ran to the end, some records failed.
	AppliedWithFailures = "applied_with_failures"
	// Partial: an error stopped the apply; what was written is recorded
	// and coupler apply PLAN resumes it.
	Partial = "partial"
)

// ApplyJSON is apply --format json's output.
type ApplyJSON struct {
	PlanID string `json:"plan_id"`
	// Status is Applied, AppliedWithFailures or Partial.
	Status string `json:"status"`
	// Error is what stopped a partial apply, "" otherwise.
	Error string `json:"error"`
	// Runs are the runs made, one per mapping and direction, with every
	// count of coupler runs.
	Runs []RunJSON `json:"runs"`
	// Totals sums the runs' counts.
	Totals CountsJSON `json:"totals"`
	// Failures lists at most ApplyFailuresShown failed records per mapping;
	// FailuresNotListed counts the others (coupler errors lists them).
	Failures          []ApplyFailureJSON `json:"failures"`
	FailuresNotListed int64              `json:"failures_not_listed"`
}

// CountsJSON is what a run, or several, did to records.
type CountsJSON struct {
	Inserted  int64 `json:"inserted"`
	Coupled   int64 `json:"coupled"`
	Modified  int64 `json:"modified"`
	Deleted   int64 `json:"deleted"`
	Uncoupled int64 `json:"uncoupled"`
	Unchanged int64 `json:"unchanged"`
	Skipped   int64 `json:"skipped"`
	Failed    int64 `json:"failed"`
}

// ApplyFailureJSON is one record an apply could not write.
type ApplyFailureJSON struct {
	Mapping  string `json:"mapping"`
	SourceID string `json:"source_id"`
	// DestID is "" when the record has none (a create that failed).
	DestID  string `json:"dest_id"`
	Message string `json:"message"`
}

func (a Apply) failed() int64 {
	var n int64
	for _, r := range a.Runs {
		n += r.Failed
	}
	return n
}

func (a Apply) status() string {
	switch {
	case a.Err != nil:
		return Partial
	case a.failed() > 0:
		return AppliedWithFailures
	}
	return Applied
}

// shownFailures is the failures listed, at most most per mapping, and how
// many more the runs counted, as report.ApplyText bounds them.
func shownFailures(runs []state.Run, fs []report.ApplyFailure, most int) ([]report.ApplyFailure, int64) {
	failed := map[string]int64{}
	for _, r := range runs {
		failed[r.Mapping] += r.Failed
	}
	listed := map[string]int64{}
	out := []report.ApplyFailure{}
	for _, f := range fs {
		if listed[f.Mapping] < int64(most) {
			listed[f.Mapping]++
			out = append(out, f)
		}
	}
	var more int64
	for m, n := range failed {
		more += max(n-listed[m], 0)
	}
	return out, more
}

// ApplyJSON is a as JSON shows it.
func (p *Printer) ApplyJSON(a Apply) ApplyJSON {
	j := ApplyJSON{PlanID: a.PlanID, Status: a.status(), Runs: make([]RunJSON, 0, len(a.Runs)), Failures: []ApplyFailureJSON{}}
	if a.Err != nil {
		j.Error = p.redact(a.Err.Error())
	}
	for _, r := range a.Runs {
		j.Runs = append(j.Runs, runJSON(r))
		t := &j.Totals
		t.Inserted, t.Coupled, t.Modified, t.Deleted = t.Inserted+r.Inserted, t.Coupled+r.Coupled, t.Modified+r.Modified, t.Deleted+r.Deleted
		t.Uncoupled, t.Unchanged, t.Skipped, t.Failed = t.Uncoupled+r.Uncoupled, t.Unchanged+r.Unchanged, t.Skipped+r.Skipped, t.Failed+r.Failed
	}
	fs, more := shownFailures(a.Runs, a.Failures, ApplyFailuresShown)
	for _, f := range fs {
		j.Failures = append(j.Failures, ApplyFailureJSON{Mapping: f.Mapping, SourceID: f.SourceID, DestID: f.DestID, Message: p.redact(f.Message)})
	}
	j.FailuresNotListed = more
	return j
}

// Apply prints what an apply did: a first line that says "Applied plan"
// only when everything was written, so that it never reads as success
// above a failure, then report.ApplyText's table of runs and bounded
// failures; or one ApplyJSON.
func (p *Printer) Apply(a Apply) error {
	if p.Format == JSON {
		return WriteJSON(p.W, p.ApplyJSON(a))
	}
	switch failed := a.failed(); {
	case a.Err != nil:
		fmt.Fprintf(p.W, "Plan %s was applied in part: it stopped with an error\n", a.PlanID)
	case failed == 1:
		fmt.Fprintf(p.W, "Applied plan %s with 1 failure\n", a.PlanID)
	case failed > 0:
		fmt.Fprintf(p.W, "Applied plan %s with %d failures\n", a.PlanID, failed)
	default:
		fmt.Fprintf(p.W, "Applied plan %s\n", a.PlanID)
	}
	runs := make([]report.ApplyRun, len(a.Runs))
	for i, r := range a.Runs {
		runs[i] = report.ApplyRun{ID: r.ID, Mapping: r.Mapping, Direction: r.Direction,
			Inserted: r.Inserted, Modified: r.Modified, Coupled: r.Coupled, Uncoupled: r.Uncoupled, Deleted: r.Deleted,
			Unchanged: r.Unchanged, Skipped: r.Skipped, Failed: r.Failed, Duration: r.Duration()}
	}
	return report.ApplyText(p.W, runs, a.Failures, ApplyFailuresShown)
}

// PlanApplyJSON is what the commands that plan and apply in one step
// (sync, apply --refresh, couple --match) print with --format json.
type PlanApplyJSON struct {
	// Plan is the plan as plan --format json prints it (coupler schema
	// plan).
	Plan json.RawMessage `json:"plan"`
	// Apply is what applying it did; null when the plan had nothing to
	// apply (both sides in step).
	Apply *ApplyJSON `json:"apply"`
}

// PlanApply prints a plan, in plan --format json's shape, and what
// applying it did, as one PlanApplyJSON. Text has no such printer: it
// shows the plan, then asks, then applies, as each happens.
func (p *Printer) PlanApply(planJSON []byte, a *Apply) error {
	out := PlanApplyJSON{Plan: planJSON}
	if a != nil {
		j := p.ApplyJSON(*a)
		out.Apply = &j
	}
	return WriteJSON(p.W, out)
}
