package view

import (
	"fmt"
	"strings"

	"github.com/couplerhq/coupler/engine/state"
)

// The results of the commands that change the state database (couple,
// uncouple, retry, acknowledge, plans prune, state backup, state
// forget-intent) and of test: each a sentence in text, an object in JSON.

// sentence prints v in JSON, or one sentence of format and args in text:
// the result of a command that changes one thing.
func (p *Printer) sentence(v any, format string, args ...any) error {
	if p.Format == JSON {
		return WriteJSON(p.W, v)
	}
	_, err := fmt.Fprintf(p.W, format, args...)
	return err
}

// Coupling is two records couple coupled by hand, by the ids the state
// records (normalised as the servers write them).
type Coupling struct {
	Mapping       string `json:"mapping"`
	TableID       string `json:"table_id"`
	IntegrationID string `json:"integration_id"`
}

// Coupling prints a coupling made by hand.
func (p *Printer) Coupling(c Coupling) error {
	return p.sentence(c, "%s: coupled table record %s and integration record %s\n", c.Mapping, c.TableID, c.IntegrationID)
}

// Uncoupling is how many couplings uncouple removed.
type Uncoupling struct {
	Mapping string `json:"mapping"`
	Removed int64  `json:"removed"`
}

// Uncoupling prints what uncouple removed.
func (p *Printer) Uncoupling(u Uncoupling) error {
	return p.sentence(u, "%s: %d coupling(s) removed\n", u.Mapping, u.Removed)
}

// Retry is how many failed or skipped records retry released, which the
// next plan reads again.
type Retry struct {
	Mapping  string `json:"mapping"`
	Released int64  `json:"released"`
}

// Retry prints what retry released.
func (p *Printer) Retry(r Retry) error {
	return p.sentence(r, "%s: %d record(s) will be tried again by the next plan\n", r.Mapping, r.Released)
}

// Acknowledgement is the mappings acknowledge recorded.
type Acknowledgement struct {
	Acknowledged []string `json:"acknowledged"`
}

// Acknowledgement prints the mappings whose first sync may now create
// records in a destination that holds records.
func (p *Printer) Acknowledgement(a Acknowledgement) error {
	if a.Acknowledged == nil {
		a.Acknowledged = []string{}
	}
	return p.sentence(a, "acknowledged: the first sync of %s may create records in a destination that holds records\n", strings.Join(a.Acknowledged, ", "))
}

// PruneJSON is plans prune --format json's output.
type PruneJSON struct {
	PlansRemoved int64 `json:"plans_removed"`
	// OrphanOperationsRemoved counts the operations of plans that were
	// never saved (killed while planning).
	OrphanOperationsRemoved int64 `json:"orphan_operations_removed"`
}

// Prune prints what plans prune removed.
func (p *Printer) Prune(r state.PruneResult) error {
	if p.Format == JSON {
		return WriteJSON(p.W, PruneJSON{PlansRemoved: r.Plans, OrphanOperationsRemoved: r.Orphans})
	}
	fmt.Fprintf(p.W, "Removed %d plans", r.Plans)
	if r.Orphans > 0 {
		fmt.Fprintf(p.W, ", and %d operations of plans that were never saved", r.Orphans)
	}
	_, err := fmt.Fprintln(p.W, ".")
	return err
}

// Backup is the state database state backup copied, and the copy.
type Backup struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Backup prints where state backup copied the state database.
func (p *Printer) Backup(b Backup) error {
	return p.sentence(b, "Backed up %s to %s\n", b.From, b.To)
}

// ForgetIntents is what state forget-intent forgot, or with Forgotten
// false would forget (it was not given --yes).
type ForgetIntents struct {
	RunID     int64
	Forgotten bool
	Intents   []state.Intent
}

// ForgetIntentsJSON is state forget-intent --format json's output.
type ForgetIntentsJSON struct {
	RunID int64 `json:"run_id"`
	// Forgotten is false when nothing was forgotten (no --yes): Intents
	// are those that would be.
	Forgotten bool         `json:"forgotten"`
	Intents   []IntentJSON `json:"intents"`
}

// ForgetIntents prints the writes in flight forget-intent forgot, or would
// forget.
func (p *Printer) ForgetIntents(f ForgetIntents) error {
	if p.Format == JSON {
		out := ForgetIntentsJSON{RunID: f.RunID, Forgotten: f.Forgotten, Intents: make([]IntentJSON, 0, len(f.Intents))}
		for _, in := range f.Intents {
			out.Intents = append(out.Intents, intentJSON(in))
		}
		return WriteJSON(p.W, out)
	}
	if f.Forgotten {
		_, err := fmt.Fprintf(p.W, "Forgot %d write(s) of run %d; the next apply or plan tries them again.\n", len(f.Intents), f.RunID)
		return err
	}
	for _, in := range f.Intents {
		if _, err := fmt.Fprintf(p.W, "would forget: %s %s of source %s (mapping %s); it will be tried again\n", in.Op, in.Direction, in.SourceID, in.Mapping); err != nil {
			return err
		}
	}
	return nil
}

// TestCase is the outcome of one mapping test case.
type TestCase struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Direction string `json:"direction"`
	Name      string `json:"name"`
	Passed    bool   `json:"passed"`
	// Problems lists each mismatch, [] when the case passed.
	Problems []string `json:"problems"`
}

// TestRun is what coupler test found.
type TestRun struct {
	// Files counts the test files found; text says so when there is none.
	Files int
	// Cases are every case run, in file order.
	Cases []TestCase
	// Verbose lists passing cases in text too; JSON lists every case.
	Verbose bool
}

// TestRunJSON is test --format json's output.
type TestRunJSON struct {
	Files  int        `json:"files"`
	Passed int        `json:"passed"`
	Failed int        `json:"failed"`
	Cases  []TestCase `json:"cases"`
}

// Failed counts the cases that failed.
func (t TestRun) Failed() int {
	n := 0
	for _, c := range t.Cases {
		if !c.Passed {
			n++
		}
	}
	return n
}

// TestRun prints each failing case with its problems (each passing one
// too when verbose) and a count of both, or one TestRunJSON.
func (p *Printer) TestRun(t TestRun) error {
	failed := t.Failed()
	if p.Format == JSON {
		out := TestRunJSON{Files: t.Files, Passed: len(t.Cases) - failed, Failed: failed, Cases: make([]TestCase, 0, len(t.Cases))}
		for _, c := range t.Cases {
			if c.Problems == nil {
				c.Problems = []string{}
			}
			out.Cases = append(out.Cases, c)
		}
		return WriteJSON(p.W, out)
	}
	if t.Files == 0 {
		_, err := fmt.Fprintln(p.W, "no mapping tests found (write name.test.yaml beside name.yaml)")
		return err
	}
	for _, c := range t.Cases {
		if c.Passed {
			if t.Verbose {
				fmt.Fprintf(p.W, "ok    %s:%d: %s %q\n", c.File, c.Line, c.Direction, c.Name)
			}
			continue
		}
		fmt.Fprintf(p.W, "FAIL  %s:%d: %s %q\n", c.File, c.Line, c.Direction, c.Name)
		for _, pr := range c.Problems {
			fmt.Fprintf(p.W, "        %s\n", pr)
		}
	}
	_, err := fmt.Fprintf(p.W, "%d passed, %d failed\n", len(t.Cases)-failed, failed)
	return err
}
