package report

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// ApplyRun is one run of an apply: one mapping in one direction, with how
// many records it wrote, coupled, left alone and failed.
type ApplyRun struct {
	ID                            int64
	Mapping, Direction            string
	Inserted, Modified, Coupled   int64
	Uncoupled, Deleted, Unchanged int64
	Skipped, Failed               int64
	Duration                      time.Duration
}

// ApplyFailure is a record an apply could not write.
type ApplyFailure struct {
	Mapping, SourceID, DestID, Message string
}

// ApplyText writes what an apply did, after its first line: a table with a
// row per run (the columns of coupler runs), so that the two directions of a bidirectional mapping are
// counted apart, a column per kind (couplings made and removed included)
// and a total row; then the failures, at most maxShown per mapping, each
// mapping with more ending in how many more and the command that lists
// them all.
func ApplyText(w io.Writer, runs []ApplyRun, failures []ApplyFailure, maxShown int) error {
	ew := &errWriter{w: w}
	if len(runs) > 0 {
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  RUN\tMAPPING\tDIRECTION\tINSERTED\tCOUPLED\tMODIFIED\tDELETED\tUNCOUPLED\tUNCHANGED\tSKIPPED\tFAILED\tDURATION")
		var t ApplyRun
		for _, r := range runs {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, Printable(r.Mapping), r.Direction,
				r.Inserted, r.Coupled, r.Modified, r.Deleted, r.Uncoupled, r.Unchanged, r.Skipped, r.Failed, r.Duration.Round(time.Millisecond))
			t.Inserted, t.Modified, t.Coupled, t.Uncoupled = t.Inserted+r.Inserted, t.Modified+r.Modified, t.Coupled+r.Coupled, t.Uncoupled+r.Uncoupled
			t.Deleted, t.Unchanged, t.Skipped, t.Failed = t.Deleted+r.Deleted, t.Unchanged+r.Unchanged, t.Skipped+r.Skipped, t.Failed+r.Failed
		}
		if len(runs) > 1 {
			fmt.Fprintf(tw, "  \ttotal\t\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n",
				t.Inserted, t.Coupled, t.Modified, t.Deleted, t.Uncoupled, t.Unchanged, t.Skipped, t.Failed)
		}
		if err := tw.Flush(); err != nil && ew.err == nil {
			ew.err = err
		}
	}
	// Per mapping, in order: its failures, at most maxShown, then how many
	// more failed over its runs.
	failed := map[string]int64{}
	var order []string
	for _, r := range runs {
		if _, seen := failed[r.Mapping]; !seen && r.Failed > 0 {
			order = append(order, r.Mapping)
		}
		failed[r.Mapping] += r.Failed
	}
	byMapping := map[string][]ApplyFailure{}
	for _, f := range failures {
		if failed[f.Mapping] == 0 && len(byMapping[f.Mapping]) == 0 {
			order = append(order, f.Mapping) // not counted by a run: shown all the same
		}
		byMapping[f.Mapping] = append(byMapping[f.Mapping], f)
	}
	for _, m := range order {
		fs := byMapping[m]
		for _, f := range fs[:min(len(fs), maxShown)] {
			dest := ""
			if f.DestID != "" {
				dest = " -> " + Printable(f.DestID)
			}
			ew.printf("  ! %s %s%s: %s\n", Printable(f.Mapping), Printable(f.SourceID), dest, Printable(f.Message))
		}
		if more := failed[m] - int64(min(len(fs), maxShown)); more > 0 {
			ew.printf("  … and %d more failures of %s: coupler errors --mapping %s\n", more, Printable(m), shellWord(m))
		}
	}
	return ew.err
}

// shellWord quotes a mapping name for a command line when it holds a
// space ("PAYMENT TERMS").
func shellWord(s string) string {
	for _, r := range s {
		if r == ' ' || r == '\'' {
			return "'" + Printable(s) + "'"
		}
	}
	return Printable(s)
}
