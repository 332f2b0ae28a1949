package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	kept, ok, err := e.store.Definition(ctx, m.Name, string(m.Direction))
	if err != nil {
		return fmt.Errorf("definition: %w", err)
	}
	mp.DefinitionChanged = ok && kept != mp.Definition
	return nil
}

// ErrNeedsReview is returned (wrapped) by Apply for a plan with a first
// sync that would create records in a destination already holding records
// (plan.MappingPlan.CreatesIntoExisting), before anything is written; and
// by coupler serve's runner for any plan that waits for approval
// (plan.Plan.WaitsForApproval).
var ErrNeedsReview = errors.New("waiting for approval")

// markCreatesIntoExisting flags the first sync of m, nothing coupled yet
// and no match fields to pair records, that would create records in a
// destination whose filter already holds records: they may be the same
// records, and creating them makes duplicates. Unless the mapping's first
// sync was acknowledged, apply refuses the plan (checkReviewed).
func (e *Engine) markCreatesIntoExisting(ctx context.Context, m *Mapping, mp *plan.MappingPlan) error {
	if mp.Coupled > 0 || len(m.MatchGroups) > 0 || mp.Counts[plan.Create] == 0 {
		return nil
	}
	existing, err := e.work.StagedDestInFilter(ctx)
	if err != nil || existing == 0 {
		return err
	}
	acked, err := e.store.Acknowledged(ctx, m.Name)
	if err != nil || acked {
		return err
	}
	mp.CreatesIntoExisting = true
	mp.Warnings = append(mp.Warnings, fmt.Sprintf("first sync into a destination that holds records: %d %s would be created while %s holds %d records in the mapping's filter and none is coupled; they may be the same records. apply refuses this until you declare match fields (then coupler couple --match), or accept the creates with coupler acknowledge %s",
		mp.Counts[plan.Create], m.Dest.Entity.Name, m.Dest.Entity.Name, existing, m.Name))
	return nil
}

// checkReviewed refuses a plan with a first sync into a destination that
// holds records, unless its mapping was acknowledged since the plan.
func (e *Engine) checkReviewed(ctx context.Context, p *plan.Plan) error {
	if p.Approved != nil {
		return nil // coupler approve: a person looked at this very plan
	}
	var waiting []string
	for _, m := range p.Mappings {
		if !m.CreatesIntoExisting || slices.Contains(waiting, m.Name) {
			continue
		}
		acked, err := e.store.Acknowledged(ctx, m.Name)
		if err != nil {
			return err
		}
		if !acked {
			waiting = append(waiting, m.Name)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	return fmt.Errorf("%w: plan %s would create records in a destination that already holds records, none coupled, for mapping %s; nothing was written. Declare match fields and run coupler couple --match, then plan again; or accept the creates with coupler acknowledge %s (or coupler approve %s) and apply this plan again",
		ErrNeedsReview, p.ID, strings.Join(waiting, ", "), strings.Join(waiting, " "), p.ID)
}

// Acknowledge records that the first sync of each named mapping may create
// records in a destination that already holds records.
func (e *Engine) Acknowledge(ctx context.Context, names []string) error {
	for _, name := range names {
		if e.prog.Project.Mapping(name) == nil {
			return e.prog.unknownMapping(name)
		}
	}
	for _, name := range names {
		if err := e.store.Acknowledge(ctx, name); err != nil {
			return err
		}
	}
	return nil
}
