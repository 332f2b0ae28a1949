package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/internal/guid"
	"github.com/couplerhq/coupler/mappings"
)

// Lookups translates an id on one side of a mapping into the id of the
// record coupled to it on the other side.
type Lookups interface {
	// Translate returns the id coupled to id in mapping: the integration id
	// of table record id when fromTable, else the table id.
	Translate(mapping string, fromTable bool, id string) (string, bool)
}

// Value computes the field's destination value from a source record:
// constant, or source value -> transform -> option map -> lookup.
func (f *FieldFlow) Value(rec connectors.Record, lookups Lookups) (any, error) {
	if f.HasConstant {
		return f.Constant, nil
	}
	var v any
	if f.SourceRead != "" {
		v = rec[f.SourceRead]
	}
	if f.Transform != nil {
		var err error
		if v, err = f.Transform.RunValue(&mappings.ValueEnv{Value: v, Record: rec}); err != nil {
			return nil, err
		}
	}
	// Business Central leaves a code blank rather than null: blank is a
	// value an option map may translate ("" or default), and otherwise no
	// value at all.
	blank := false
	if s, ok := v.(string); ok && s == "" && (f.Options != nil || f.Lookup != nil) {
		blank = true
	}
	if f.Options != nil && v != nil {
		key, err := optionKey(v)
		if err != nil {
			return nil, err
		}
		out, ok := f.Options[key]
		switch {
		case ok:
			v = out
		case f.HasDefault:
			v = f.Default
		case blank:
			v = nil
		default:
			return nil, fmt.Errorf("no option for value %s and no default", describe(v))
		}
	} else if blank {
		v = nil
	}
	if f.Lookup != nil && v != nil {
		id, err := optionKey(v)
		if err != nil {
			return nil, err
		}
		id = normalizeID(id)
		to, ok := lookups.Translate(f.Lookup.Mapping, f.Lookup.FromTable, id)
		if !ok {
			side := "integration"
			if f.Lookup.FromTable {
				side = "table"
			}
			return nil, fmt.Errorf("no %s coupling for %s id %q", f.Lookup.Mapping, side, id)
		}
		v = to
	}
	return v, nil
}

// normalizeID lower-cases GUIDs, which both systems treat without regard
// to case, so that keys and couplings compare equal however a system
// spells them.
func normalizeID(id string) string { return guid.Lower(id) }

// optionKey renders a value as the text an option map or a coupling is
// keyed by: strings as they are, numbers in canonical form.
func optionKey(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	if v == nil {
		return "", nil
	}
	c, err := canonical(v)
	if err != nil {
		return "", err
	}
	return *c, nil
}

func describe(v any) string {
	if v == nil {
		return "null"
	}
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// couplingLookups answers lookups from the state database's couplings,
// loading each mapping's couplings once per plan. A record that an earlier
// part of the same plan creates or couples, in either direction, has no
// coupling yet: its lookup is "known after apply", a placeholder that apply
// resolves once that part is applied.
type couplingLookups struct {
	db state.Store
	// planned holds the plan being made (the workspace), which the
	// records its earlier parts create or couple are read from.
	planned state.Plans
	planID  string
	maps    map[string]map[string]string
	pending map[string]map[string]bool
}

// afterApply is the placeholder of a lookup known only after apply.
func afterApply(mapping string, fromTable bool, id string) string {
	return plan.KnownAfterApply{Mapping: mapping, Side: sideOf(fromTable), ID: id}.Placeholder()
}

// sideOf names the side a lookup's source id is on.
func sideOf(fromTable bool) string {
	if fromTable {
		return plan.SideTable
	}
	return plan.SideIntegration
}

func lookupKey(mapping string, fromTable bool) string {
	return fmt.Sprintf("%s/%t", mapping, fromTable)
}

// load reads the couplings the lookups of m need.
func (c *couplingLookups) load(ctx context.Context, m *Mapping) error {
	for _, f := range m.Fields {
		if f.Lookup == nil {
			continue
		}
		k := lookupKey(f.Lookup.Mapping, f.Lookup.FromTable)
		if _, done := c.maps[k]; done {
			continue
		}
		cm, err := c.db.CouplingMap(ctx, f.Lookup.Mapping, f.Lookup.FromTable)
		if err != nil {
			return err
		}
		c.maps[k] = cm
		created, err := c.planned.PlannedCouplings(ctx, c.planID, f.Lookup.Mapping, f.Lookup.FromTable)
		if err != nil {
			return err
		}
		if c.pending == nil {
			c.pending = map[string]map[string]bool{}
		}
		c.pending[k] = created
	}
	return nil
}

func (c *couplingLookups) Translate(mapping string, fromTable bool, id string) (string, bool) {
	k := lookupKey(mapping, fromTable)
	// Pending first: a record this plan restores is coupled, but to the
	// record that was deleted.
	if c.pending[k][id] {
		return afterApply(mapping, fromTable, id), true
	}
	if to, ok := c.maps[k][id]; ok {
		return to, true
	}
	return "", false
}

// resolveAfterApply replaces the "known after apply" lookups of a batch
// with the ids their records got, now that the parts creating them are
// applied. A record whose lookup is still unknown fails.
func (e *Engine) resolveAfterApply(ctx context.Context, ops []plan.Operation, cache map[string]map[string]string) (map[int64]string, error) {
	failed := map[int64]string{}
	for i := range ops {
		for j, c := range ops[i].Changes {
			ka, ok := plan.KnownAfterApplyOf(c.After)
			if !ok {
				continue
			}
			mapping, fromTable, id := ka.Mapping, ka.Side == plan.SideTable, ka.ID
			k := lookupKey(mapping, fromTable)
			if cache[k] == nil {
				m, err := e.store.CouplingMap(ctx, mapping, fromTable)
				if err != nil {
					return nil, err
				}
				cache[k] = m
			}
			to, found := cache[k][id]
			if !found {
				failed[ops[i].Seq] = fmt.Sprintf("field %s: the %s record %q this lookup needs was not created", c.Field, mapping, id)
				continue
			}
			resolved, _ := canonical(to)
			ops[i].Changes[j].After = json.RawMessage(*resolved)
		}
	}
	return failed, nil
}
