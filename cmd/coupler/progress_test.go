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
	if newTerminalProgress(&buf, func(string) string { return "" }) != nil {
		t.Error("progress on a buffer, which is no terminal")
	}
}

// TestProgressPhases checks that the line says when the engine diffs and
// saves, which count nothing, at once and with a clock that tick moves.
func TestProgressPhases(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	p := newProgress(&buf, func() time.Time { return now })
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "read source", Done: 100})
	now = now.Add(time.Millisecond)
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "diff"}) // drawn however soon
	now = now.Add(3 * time.Second)
	p.tick()
	p.update(engine.Progress{Stage: "save"})
	p.tick() // not a second yet: no clock
	p.finish()
	p.tick() // after the end: nothing
	draws := strings.Split(buf.String(), "\r\x1b[K")
	want := []string{"", "CUSTOMER read: 100 source records", "CUSTOMER: diffing…", "CUSTOMER: diffing… 3s", "saving the plan…", "saving the plan…", ""}
	if strings.Join(draws, "|") != strings.Join(want, "|") {
		t.Errorf("draws:\n%q\nwant\n%q", draws, want)
	}
}

// TestProgressDumbTerminal checks that with TERM=dumb the line is redrawn
// with a carriage return and spaces only: no escape sequence.
func TestProgressDumbTerminal(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	p := newProgress(&buf, func() time.Time { return now })
	p.dumb = true
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "read source", Done: 100})
	p.update(engine.Progress{Mapping: "CUSTOMER", Stage: "diff"})
	p.finish()
	got := buf.String()
	if strings.Contains(got, "\x1b") {
		t.Errorf("escape sequence on a dumb terminal: %q", got)
	}
	want := "\rCUSTOMER read: 100 source records" + "\rCUSTOMER: diffing…" + strings.Repeat(" ", 15) + "\r" + strings.Repeat(" ", 18) + "\r"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestColorOn checks when the plan and errors may be coloured: only on a
// terminal, without NO_COLOR, and not with TERM=dumb.
func TestColorOn(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	var buf bytes.Buffer
	if colorOn(&buf, env("TERM", "xterm-256color")) {
		t.Error("colour on a buffer, which is no terminal")
	}
	for _, tc := range []struct {
		env  func(string) string
		want bool
	}{
		{env("TERM", "xterm-256color"), true},
		{env("TERM", "xterm-256color", "NO_COLOR", "1"), false},
		{env("TERM", "xterm-256color", "NO_COLOR", ""), true},
		{env("TERM", "dumb"), false},
	} {
		if got := colorAllowed(true, tc.env); got != tc.want {
			t.Errorf("TERM=%q NO_COLOR=%q: colour %v, want %v", tc.env("TERM"), tc.env("NO_COLOR"), got, tc.want)
		}
	}
}
