package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// progressCommands are the commands that show progress on the terminal:
// the ones that read or write many records (state migrate: copy them).
var progressCommands = map[string]bool{"plan": true, "apply": true, "sync": true, "migrate": true}

// progressRedraw bounds how often the progress line is redrawn, so that a
// fast run does not spend its time writing to the terminal.
const progressRedraw = 100 * time.Millisecond

// progressPrinter shows, on one line of the terminal that it redraws, how a
// plan or apply is getting on: per mapping and stage, the records read or
// written, the rate and, when the total is known (writes of a saved plan),
// the time left. A nil *progressPrinter shows nothing.
type progressPrinter struct {
	w   io.Writer
	now func() time.Time
	// dumb is set on a terminal that takes no escape sequences
	// (TERM=dumb): the line is erased by overwriting it with spaces.
	dumb bool
	// tickEvery, when positive, is how often a phase line (diffing,
	// saving) is redrawn so that its clock moves while the engine reports
	// nothing.
	tickEvery time.Duration

	mu       sync.Mutex
	stages   map[string]*stageProgress
	totals   map[string]int64
	lastDraw time.Time
	drawn    bool
	// width is how many characters the line drawn last took.
	width int
	// phase is the phase under way, if any, and stopTick stops its ticker.
	phase    *phase
	stopTick chan struct{}
}

// phase is a stage without a count: the engine says when it starts, and
// the line shows for how long it has been going.
type phase struct {
	mapping, stage string
	start          time.Time
}

// phaseLabels are the engine's stages that count nothing (engine.Progress),
// as the line names them.
var phaseLabels = map[string]string{"diff": "diffing", "save": "saving the plan"}

type stageProgress struct {
	start time.Time
	done  int64
}

// newTerminalProgress returns a printer on w when w is a terminal, and nil
// otherwise: progress is for people watching, not for logs and pipes.
func newTerminalProgress(w io.Writer, getenv func(string) string) *progressPrinter {
	if !isTerminal(w) {
		return nil
	}
	p := newProgress(w, time.Now)
	p.dumb = dumbTerminal(getenv)
	p.tickEvery = time.Second
	return p
}

func newProgress(w io.Writer, now func() time.Time) *progressPrinter {
	return &progressPrinter{w: w, now: now, stages: map[string]*stageProgress{}, totals: map[string]int64{}}
}

// expect records how many writes each mapping of a plan will make, so that
// the write stage can show the time left.
func (p *progressPrinter) expect(pl *plan.Plan) {
	if p == nil || pl == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range pl.Mappings {
		p.totals[m.Name] += m.Writes()
	}
}

// expectSaved is expect for a saved plan: the given one, or the latest.
func (p *progressPrinter) expectSaved(ctx context.Context, e *engine.Engine, id string) {
	if p == nil {
		return
	}
	if pl, err := e.SavedPlan(ctx, id, 0); err == nil {
		p.expect(pl)
	}
}

// update is the engine's Progress callback.
func (p *progressPrinter) update(ev engine.Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if label, ok := phaseLabels[ev.Stage]; ok {
		// A phase is drawn at once, however soon after the last line:
		// it says why the counts stopped moving.
		p.phase = &phase{mapping: ev.Mapping, stage: label, start: now}
		p.lastDraw, p.drawn = now, true
		p.draw(p.phaseLine(now))
		p.startTick()
		return
	}
	p.endPhase()
	key := ev.Mapping + "\x00" + ev.Stage
	st, ok := p.stages[key]
	if !ok {
		st = &stageProgress{start: now}
		p.stages[key] = st
	}
	st.done = ev.Done
	if p.drawn && now.Sub(p.lastDraw) < progressRedraw {
		return
	}
	p.lastDraw, p.drawn = now, true
	p.draw(p.line(ev, st, now))
}

// draw replaces the line on the terminal with line. p.mu is held.
func (p *progressPrinter) draw(line string) {
	if !p.dumb {
		fmt.Fprint(p.w, "\r\x1b[K"+line)
		p.width = utf8.RuneCountInString(line)
		return
	}
	n := utf8.RuneCountInString(line)
	fmt.Fprint(p.w, "\r"+line+strings.Repeat(" ", max(p.width-n, 0)))
	p.width = n
}

// phaseLine renders the phase under way: "CUSTOMER: diffing… 4s".
func (p *progressPrinter) phaseLine(now time.Time) string {
	line := p.phase.stage + "…"
	if p.phase.mapping != "" {
		line = p.phase.mapping + ": " + line
	}
	if elapsed := now.Sub(p.phase.start); elapsed >= time.Second {
		line += " " + elapsed.Truncate(time.Second).String()
	}
	return line
}

// tick redraws the phase line, if a phase is under way, with its clock.
func (p *progressPrinter) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase == nil {
		return
	}
	now := p.now()
	p.lastDraw, p.drawn = now, true
	p.draw(p.phaseLine(now))
}

// startTick redraws the phase line every tickEvery until the phase ends.
// p.mu is held.
func (p *progressPrinter) startTick() {
	if p.tickEvery <= 0 || p.stopTick != nil {
		return
	}
	stop := make(chan struct{})
	p.stopTick = stop
	go func() {
		t := time.NewTicker(p.tickEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.tick()
			case <-stop:
				return
			}
		}
	}()
}

// endPhase forgets the phase under way and stops its ticker. p.mu is held.
func (p *progressPrinter) endPhase() {
	p.phase = nil
	if p.stopTick != nil {
		close(p.stopTick)
		p.stopTick = nil
	}
}

// readStages are the stages that run at the same time on a full read, so
// that they are shown on the one line together.
var readStages = [2]string{"read source", "read destination"}

// line renders one stage: "CUSTOMER write: 1200/5000 records, 340/s, 11s
// left". The two sides of a read, which run at once, share the line:
// "CUSTOMER read: 4000 source, 3500 destination records, 2500/s".
func (p *progressPrinter) line(ev engine.Progress, st *stageProgress, now time.Time) string {
	var b strings.Builder
	if ev.Stage == readStages[0] || ev.Stage == readStages[1] {
		var sides []string
		var done int64
		start := now
		for _, stage := range readStages {
			if s, ok := p.stages[ev.Mapping+"\x00"+stage]; ok {
				sides = append(sides, fmt.Sprintf("%d %s", s.done, strings.TrimPrefix(stage, "read ")))
				done += s.done
				if s.start.Before(start) {
					start = s.start
				}
			}
		}
		fmt.Fprintf(&b, "%s read: %s records", ev.Mapping, strings.Join(sides, ", "))
		if elapsed := now.Sub(start); elapsed >= time.Second && done > 0 {
			fmt.Fprintf(&b, ", %.0f/s", float64(done)/elapsed.Seconds())
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s %s: %d", ev.Mapping, ev.Stage, st.done)
	total := int64(0)
	if ev.Stage == "write" {
		total = p.totals[ev.Mapping]
	}
	if total > 0 {
		fmt.Fprintf(&b, "/%d", total)
	}
	b.WriteString(" records")
	elapsed := now.Sub(st.start)
	if elapsed >= time.Second && st.done > 0 {
		rate := float64(st.done) / elapsed.Seconds()
		fmt.Fprintf(&b, ", %.0f/s", rate)
		if total > st.done {
			left := time.Duration(float64(total-st.done) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", %s left", left.Round(time.Second))
		}
	}
	return b.String()
}

// finish clears the progress line, before the command prints its result.
func (p *progressPrinter) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endPhase()
	if !p.drawn {
		return
	}
	if p.dumb {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.width)+"\r")
	} else {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	p.drawn, p.width = false, 0
}
