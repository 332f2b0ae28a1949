package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// progressCommands are the commands that show progress on the terminal:
// the ones that read or write many records.
var progressCommands = map[string]bool{"plan": true, "apply": true, "sync": true}

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

	mu       sync.Mutex
	stages   map[string]*stageProgress
	totals   map[string]int64
	lastDraw time.Time
	drawn    bool
}

type stageProgress struct {
	start time.Time
	done  int64
}

// newTerminalProgress returns a printer on w when w is a terminal, and nil
// otherwise: progress is for people watching, not for logs and pipes.
func newTerminalProgress(w io.Writer) *progressPrinter {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return newProgress(w, time.Now)
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
	if id == "" {
		latest, _, err := e.State().LatestPlan(ctx)
		if err != nil {
			return
		}
		id = latest
	}
	if pl, err := e.State().LoadPlan(ctx, id, 0); err == nil {
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
	fmt.Fprint(p.w, "\r\x1b[K"+p.line(ev, st, now))
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
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
