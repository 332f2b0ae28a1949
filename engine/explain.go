package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// Explanation says how a plan would read one pass of a mapping: the
// requests it sends and what it leaves to evaluate itself.
type Explanation struct {
	Mapping   string
	Direction string
	Source    SideExplanation
	Dest      SideExplanation
}

// SideExplanation is how one side is read.
type SideExplanation struct {
	Side      string
	Connector string
	Entity    string
	// Request is the first request of the read, e.g. a URL; later pages
	// follow the server's next links.
	Request string
	// Note says when and why the read differs, e.g. for an incremental plan.
	Note string
	// Filter is the side's filter as written; Pushed the part sent to the
	// server, in the connector's own language; Local the parts only
	// coupler evaluates.
	Filter string
	Pushed string
	Local  []string
}

// Explain returns, per pass of the selected mappings, the exact queries the
// next plan with opts would send, without sending anything.
func (e *Engine) Explain(ctx context.Context, opts PlanOptions) ([]Explanation, error) {
	selected, err := e.selectMappings(opts.Mappings)
	if err != nil {
		return nil, err
	}
	var out []Explanation
	for _, m := range selected {
		wm, hasWM, err := e.store.Watermark(ctx, m.Name, m.Source.Name)
		if err != nil {
			return nil, err
		}
		var since time.Time
		if hasWM && !opts.Full && m.Source.Entity.Modified != "" {
			since = e.readSince(m, wm)
		}
		x := Explanation{Mapping: m.Name, Direction: string(m.Direction),
			Source: explainSide(m.Source), Dest: explainSide(m.Dest)}
		// The destination is never filtered by the server (see its note).
		x.Source.Pushed, x.Source.Local = e.pushDown(m.Source)
		q := connectors.Query{Entity: m.Source.Entity, Fields: m.Source.Select, Since: since}
		if since.IsZero() {
			q.Filter = x.Source.Pushed
			x.Source.Note = "full read: no watermark yet, or --full"
		} else {
			x.Source.Note = fmt.Sprintf("incremental read: modified since the watermark %s less %s; the filter is evaluated by coupler so that records leaving it are reported",
				wm.Format(time.RFC3339), e.overlap(m))
		}
		tracked, err := e.explainChanges(ctx, m, opts, &x.Source)
		if err != nil {
			return nil, err
		}
		if tracked || !since.IsZero() {
			// This read sends no filter (an incremental read filters by the
			// watermark alone, a tracked one cannot filter): say so, rather
			// than name a server filter the request lacks.
			x.Source.keepLocal()
		}
		if !tracked {
			if x.Source.Request, err = e.explainRead(m.Source.Connector, q); err != nil {
				return nil, err
			}
		}
		x.Dest.keepLocal()
		if since.IsZero() {
			x.Dest.Note = "full read, to check every coupling; never filtered by the server, so that a coupled record that left the filter is not taken for deleted"
			x.Dest.Request, err = e.explainRead(m.Dest.Connector, connectors.Query{Entity: m.Dest.Entity, Fields: m.Dest.Select})
			if err != nil {
				return nil, err
			}
		} else {
			x.Dest.Note = "only the records coupled to the source records read, by key, 50 per request"
			if c, ok := e.conns[m.Dest.Connector].(connectors.Explainer); ok {
				x.Dest.Request = c.ExplainGet(m.Dest.Entity, m.Dest.Select, []string{"<id 1>", "<id 2>"})
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// explainChanges explains the read of m's source when it is read through
// change tracking, as sourceChanges reads it, and reports whether it is.
func (e *Engine) explainChanges(ctx context.Context, m *Mapping, opts PlanOptions, x *SideExplanation) (bool, error) {
	if !m.sideDef(m.Source.Name).Tracks() || opts.MatchOnly {
		return false, nil
	}
	token, has, err := e.store.ChangeToken(ctx, m.Name, m.Source.Name)
	if err != nil {
		return false, err
	}
	q := connectors.ChangesQuery{Entity: m.Source.Entity, Fields: m.Source.Select}
	if has && !opts.Full {
		q.Token = token
		x.Note = "incremental read through change tracking: the token (delta link) the last apply kept, answering the records created, changed and deleted since"
	} else {
		x.Note = "full read through change tracking: every record, and a token (delta link) from the last page, kept for the next plan"
	}
	c, err := e.connector(m.Source.Connector)
	if err != nil {
		return false, err
	}
	if ce, ok := c.(connectors.ChangesExplainer); ok {
		x.Request, err = ce.ExplainChanges(q)
		return true, err
	}
	x.Request = "(this connector cannot show its requests)"
	return true, nil
}

// keepLocal marks the whole filter as evaluated by coupler alone, for a
// read that sends none of it to the server.
func (x *SideExplanation) keepLocal() {
	x.Pushed, x.Local = "", nil
	if x.Filter != "" {
		x.Local = []string{x.Filter}
	}
}

func explainSide(s Side) SideExplanation {
	x := SideExplanation{Side: s.Name, Connector: s.Connector, Entity: s.Entity.Name}
	if s.Filter != nil {
		x.Filter = s.Filter.Source()
	}
	return x
}

func (e *Engine) explainRead(connector string, q connectors.Query) (string, error) {
	c, err := e.connector(connector)
	if err != nil {
		return "", err
	}
	x, ok := c.(connectors.Explainer)
	if !ok {
		return "(this connector cannot show its requests)", nil
	}
	return x.ExplainRead(q)
}

// WriteExplanations renders explanations for a terminal.
func WriteExplanations(w io.Writer, xs []Explanation) error {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s (%s)\n", x.Mapping, x.Direction)
		for _, s := range []struct {
			role string
			x    SideExplanation
		}{{"source", x.Source}, {"destination", x.Dest}} {
			fmt.Fprintf(&b, "  %s: %s %s (%s side)\n", s.role, s.x.Connector, s.x.Entity, s.x.Side)
			fmt.Fprintf(&b, "    GET %s\n", s.x.Request)
			fmt.Fprintf(&b, "    %s\n", s.x.Note)
			if s.x.Filter == "" {
				continue
			}
			fmt.Fprintf(&b, "    filter: %s\n", s.x.Filter)
			pushed := s.x.Pushed
			if pushed == "" {
				pushed = "(nothing)"
			}
			fmt.Fprintf(&b, "      pushed down to the server: %s\n", pushed)
			if len(s.x.Local) > 0 {
				fmt.Fprintf(&b, "      evaluated only by coupler: %s\n", strings.Join(s.x.Local, " && "))
			}
			fmt.Fprintf(&b, "      (coupler evaluates the whole filter on every record read)\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
