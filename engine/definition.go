package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/couplerhq/coupler/engine/plan"
)

// definition is the fingerprint of what the pass writes: its sides, its
// filters, which records it creates, and each field flow (source, transform,
// constant, options, default, lookup). A plan whose pass differs from the
// definition the last apply kept has been edited, and compares every
// coupled record in full (see markDefinition): a change to a mapping file
// is a change to the data. Field order and positions are left out, so that
// moving or commenting a field changes nothing.
func (m *Mapping) definition() string {
	h := sha256.New()
	line := func(parts ...any) {
		for _, p := range parts {
			b, _ := json.Marshal(p)
			h.Write(b)
			io.WriteString(h, "\x00")
		}
		io.WriteString(h, "\n")
	}
	filter := func(s Side) string {
		if s.Filter == nil {
			return ""
		}
		return s.Filter.Source()
	}
	line("coupler definition 1", m.Name, m.Direction, m.SourceIsTable, m.Def.SyncOnlyCoupled)
	for _, s := range []Side{m.Source, m.Dest} {
		line(s.Name, s.Connector, s.Entity.Name, s.Entity.Key, filter(s))
	}
	flows := make([]string, 0, len(m.Fields))
	for _, f := range m.Fields {
		transform := ""
		if f.Transform != nil {
			transform = f.Transform.Source()
		}
		var lookup *Lookup
		if f.Lookup != nil {
			lookup = f.Lookup
		}
		b, _ := json.Marshal([]any{f.Dest, f.Source, transform, f.HasConstant, f.Constant, f.Options, f.HasDefault, f.Default,
			f.NotNull, f.ClearOnFailure, f.CreateOnly, lookup})
		flows = append(flows, string(b))
	}
	slices.Sort(flows)
	line(strings.Join(flows, "\n"))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// markDefinition sets mp's definition and whether it differs from the one
// the last apply of the pass kept. A pass with none kept (new, or state
// from before definitions were kept) is taken as unchanged.
func (e *Engine) markDefinition(ctx context.Context, m *Mapping, mp *plan.MappingPlan) error {
	mp.Definition = m.definition()
	kept, ok, err := e.state.Definition(ctx, m.Name, string(m.Direction))
	if err != nil {
		return fmt.Errorf("definition: %w", err)
	}
	mp.DefinitionChanged = ok && kept != mp.Definition
	return nil
}
