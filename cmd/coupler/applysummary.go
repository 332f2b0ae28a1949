package main

import (
	"io"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/report"
)

// applyFailuresShown is how many failed records apply lists per mapping;
// coupler errors lists them all.
const applyFailuresShown = 10

// printApplySummary writes the runs and failures of an apply as
// report.ApplyText does.
func printApplySummary(w io.Writer, res *engine.ApplyResult) {
	runs := make([]report.ApplyRun, len(res.Runs))
	for i, r := range res.Runs {
		runs[i] = report.ApplyRun{ID: r.ID, Mapping: r.Mapping, Direction: r.Direction,
			Inserted: r.Inserted, Modified: r.Modified, Coupled: r.Coupled, Uncoupled: r.Uncoupled, Deleted: r.Deleted,
			Unchanged: r.Unchanged, Skipped: r.Skipped, Failed: r.Failed, Duration: r.Duration()}
	}
	fs := make([]report.ApplyFailure, len(res.Failures))
	for i, f := range res.Failures {
		fs[i] = report.ApplyFailure{Mapping: f.Mapping, SourceID: f.SourceID, DestID: f.DestID, Message: f.Message}
	}
	_ = report.ApplyText(w, runs, fs, applyFailuresShown) // stdout: nothing to do about a failed write
}
