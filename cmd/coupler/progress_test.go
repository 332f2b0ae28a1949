package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// TestProgressLine checks what the progress line says, with a fake clock:
// records, rate, time left when the total is known, throttled redraws, and
// a cleared line at the end.
func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	p := newProgress(&buf, func() time.Time { return now })
	p.expect(&plan.Plan{Mappings: []*plan.MappingPlan{{Name: "CUSTOMER", Counts: plan.Counts{plan.Create: 600, plan.Update: 400}}}})
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "read source", Done: 100})
	now = now.Add(2 * time.Second)
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "read source", Done: 500})
	now = now.Add(time.Second)
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "read destination", Done: 250})
	now = now.Add(time.Millisecond)
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "write", Done: 1}) // too soon: not drawn
	now = now.Add(2 * time.Second)
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "write", Done: 200})
	p.finish()
	draws := strings.Split(buf.String(), "\r\x1b[K")
	want := []string{"", "CUSTOMER read: 100 source records", "CUSTOMER read: 500 source records, 250/s",
		"CUSTOMER read: 500 source, 250 destination records, 250/s", "CUSTOMER write: 200/1000 records, 100/s, 8s left", ""}
	if strings.Join(draws, "|") != strings.Join(want, "|") {
		t.Errorf("draws:\n%q\nwant\n%q", draws, want)
	}
	var nilPrinter *progressPrinter
	nilPrinter.update(engine.Progress{}) // off: must not panic
	nilPrinter.finish()
	if newTerminalProgress(&buf) != nil {
		t.Error("progress on a buffer, which is no terminal")
	}
}
