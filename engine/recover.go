package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/google/uuid"
)

// A write is idempotent across a crash because its intent is recorded in
// the state database before it is sent, and removed in the transaction that
// records its result. An intent found at start-up is a write whose outcome
// was never recorded; settling it means finding out from the destination
// whether it happened:
//
//   - a create with a client key (client_keys: true) happened if a record
//     with that key exists;
//   - a create without one happened if a record modified since shortly
//     before the intent, not coupled to anything, holds every value
//     written;
//   - an update happened if the record holds every value written;
//   - a delete happened if the record is gone.
//
// A write that happened is recorded as it would have been (coupling, marks);
// one that did not is forgotten, so that the operation is tried again.
// docs/reliability.md says the same for users.

// writeTarget is where one part of a plan writes, as an intent records it.
type writeTarget struct {
	planID     string
	part       state.Part
	side       state.CouplingSide
	runID      int64
	clientKeys bool
	key        string // the destination's key field
}

// matchWindow is how long before an intent was recorded the record a create
// made may be stamped: a margin for clocks that disagree.
const matchWindow = 5 * time.Minute

// keySpace is the namespace of client keys.
var keySpace = uuid.MustParse("6f2c1d0e-9a47-4b8e-8d1f-3c5a7e9b2d40")

// clientKey returns the key a create of a source record sends: the SHA-1
// UUID of the mapping, the direction and the source id, the same in every
// attempt and every plan. A create that reached the server late, after
// coupler had given up on it, is then found by the next attempt (409, and
// read back) instead of becoming a twin.
func clientKey(part state.Part, sourceID string) string {
	return uuid.NewSHA1(keySpace, []byte(part.Mapping+"\x00"+part.Direction+"\x00"+sourceID)).String()
}

// clientKeys reports whether creates on a connector send their own key.
func (e *Engine) clientKeys(connector string) bool {
	c := e.prog.Project.Connector(connector)
	return c != nil && c.ClientKeys
}

func (t writeTarget) intent(op plan.Operation, w connectors.WriteOp, at time.Time) (state.Intent, error) {
	fields, err := json.Marshal(w.Fields)
	if err != nil {
		return state.Intent{}, fmt.Errorf("encode fields: %w", err)
	}
	in := state.Intent{RunID: t.runID, PlanID: t.planID, Mapping: t.part.Mapping, Direction: t.part.Direction, Seq: op.Seq,
		Op: string(op.Kind), SourceID: op.SourceID, DestID: op.DestID, Fields: string(fields),
		SourceModified: op.SourceModified, SourceETag: op.SourceETag, CreatedAt: at}
	if w.Op == connectors.OpCreate && t.clientKeys {
		in.ClientKey, _ = w.Fields[t.key].(string)
	}
	return in, nil
}

// outcome is what settling found out about one intent.
type outcome struct {
	happened bool
	// rec is the destination record as read back (nil for a delete).
	rec connectors.Record
	key string
}

// settleFailed finds out, for each write that failed, whether it happened
// all the same: settled holds those that did, as successful results;
// unsettled those that could not be found out (err says why), whose intents
// are kept for the next start.
func (e *Engine) settleFailed(ctx context.Context, conn connectors.Connector, entity connectors.Entity, t writeTarget, intents []state.Intent, out []connectors.WriteResult) (settled map[int]connectors.WriteResult, unsettled map[int]bool, err error) {
	settled, unsettled = map[int]connectors.WriteResult{}, map[int]bool{}
	var idx []int
	var failed []state.Intent
	for j, wr := range out {
		if wr.Err == nil {
			continue
		}
		if intents[j].Op == string(plan.Delete) && errors.Is(wr.Err, connectors.ErrNotFound) && !errors.Is(wr.Err, connectors.ErrRolledBack) {
			continue // gone: handled as such by the caller
		}
		if !mayHaveHappened(wr.Err) {
			continue
		}
		idx = append(idx, j)
		failed = append(failed, intents[j])
	}
	if len(failed) == 0 {
		return settled, unsettled, nil
	}
	// Records this batch created with an answer are not candidates for the
	// creates without one, however alike their values.
	taken := map[string]bool{}
	for _, wr := range out {
		if wr.Err == nil && wr.Key != "" {
			taken[normalizeID(wr.Key)] = true
		}
	}
	outcomes, err := e.settle(ctx, conn, entity, t.side, failed, taken)
	if err != nil {
		for _, j := range idx {
			unsettled[j] = true
		}
		return settled, unsettled, fmt.Errorf("find out whether %d failed writes happened: %w; the next plan or apply finds out first", len(idx), err)
	}
	for k, j := range idx {
		o := outcomes[k]
		if !o.happened {
			continue
		}
		e.log.Info("a write that failed had happened", "mapping", t.part.Mapping, "op", failed[k].Op, "source", failed[k].SourceID, "error", out[j].Err)
		wr := connectors.WriteResult{Key: o.key, Record: o.rec}
		if o.rec != nil {
			wr.ETag = etagOf(o.rec)
		}
		if wr.Key == "" {
			wr.Key = failed[k].DestID
		}
		settled[j] = wr
	}
	return settled, unsettled, nil
}

// mayHaveHappened reports whether a write that failed with err may have
// taken effect all the same: no answer or a server error (the answer may
// be lost), 409 (a create with a client key that exists: an earlier
// attempt), 412 (an update whose earlier attempt changed the record). Any
// other refusal (4xx) is the server saying it did nothing.
func mayHaveHappened(err error) bool {
	if transient(err) || errors.Is(err, connectors.ErrStale) {
		return true
	}
	var st interface{ HTTPStatus() int }
	return errors.As(err, &st) && st.HTTPStatus() == http.StatusConflict
}

// settle finds out which of the given intents, all of one part, happened.
// A create settled by its values never takes a record in claimed.
func (e *Engine) settle(ctx context.Context, conn connectors.Connector, entity connectors.Entity, side state.CouplingSide, intents []state.Intent, claimed map[string]bool) ([]outcome, error) {
	out := make([]outcome, len(intents))
	wanted := make([]connectors.Record, len(intents))
	byKey := map[string][]int{} // intents settled by reading one record by key
	var byValues []int          // creates settled by reading recent records
	var earliest time.Time
	for i, in := range intents {
		dec := json.NewDecoder(strings.NewReader(in.Fields))
		dec.UseNumber()
		if err := dec.Decode(&wanted[i]); err != nil {
			return nil, fmt.Errorf("record %s: stored fields: %w", in.SourceID, err)
		}
		key := in.DestID
		if in.Op == string(plan.Create) || in.Op == string(plan.Restore) {
			key = in.ClientKey
		}
		if key == "" {
			byValues = append(byValues, i)
			if earliest.IsZero() || in.CreatedAt.Before(earliest) {
				earliest = in.CreatedAt
			}
			continue
		}
		byKey[normalizeID(key)] = append(byKey[normalizeID(key)], i)
	}
	if len(byKey) > 0 {
		ids := make([]string, 0, len(byKey))
		for id := range byKey {
			ids = append(ids, id)
		}
		recs, err := conn.Get(ctx, entity, nil, ids)
		if err != nil {
			return nil, fmt.Errorf("read back %s: %w", entity.Name, err)
		}
		found := map[string]connectors.Record{}
		for _, r := range recs {
			if k, err := recordKey(r, entity.Key); err == nil {
				found[k] = r
			}
		}
		for id, is := range byKey {
			rec := found[id]
			for _, i := range is {
				switch op := intents[i].Op; {
				case op == string(plan.Delete):
					out[i] = outcome{happened: rec == nil}
				case rec == nil:
				case op == string(plan.Create) || op == string(plan.Restore):
					// The key is ours: nobody else makes records with it.
					out[i] = outcome{happened: true, rec: rec, key: id}
				default:
					out[i] = outcome{happened: holds(rec, wanted[i]), rec: rec, key: id}
				}
			}
		}
	}
	if len(byValues) == 0 {
		return out, nil
	}
	// Creates without a key of ours: look for the record among those
	// modified since shortly before the first intent (all of them when the
	// entity has no modified field), holding every value written and not
	// coupled to anything yet; each found record settles one intent.
	q := connectors.Query{Entity: entity}
	if entity.Modified != "" {
		q.Since = earliest.Add(-matchWindow)
	}
	var candidates []connectors.Record
	err := conn.Read(ctx, q, func(p connectors.Page) error {
		candidates = append(candidates, p.Records...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read back recent %s records: %w", entity.Name, err)
	}
	ids := make([]string, 0, len(candidates))
	keys := make([]string, len(candidates))
	for i, r := range candidates {
		keys[i], _ = recordKey(r, entity.Key)
		ids = append(ids, keys[i])
	}
	// The destination side of this part's couplings.
	coupled, err := e.state.CoupledDestinations(ctx, side.Mapping, side.SourceIsTable, ids)
	if err != nil {
		return nil, err
	}
	for _, i := range byValues {
		for c, rec := range candidates {
			k := keys[c]
			if k == "" || claimed[k] || coupled[k] != "" || !holds(rec, wanted[i]) {
				continue
			}
			claimed[k] = true
			out[i] = outcome{happened: true, rec: rec, key: k}
			break
		}
	}
	return out, nil
}

// holds reports whether rec has every value of fields, compared as the diff
// compares them. A binding ("x@odata.bind": "/set(id)") is read back as
// "_x_value" holding the id.
func holds(rec, fields connectors.Record) bool {
	for f, want := range fields {
		got, ok := rec[f]
		if name, bind := strings.CutSuffix(f, "@odata.bind"); bind {
			got, ok = rec["_"+name+"_value"]
			if !ok {
				got = rec[name]
			}
			if s, isStr := want.(string); isStr {
				if open := strings.LastIndexByte(s, '('); open >= 0 && strings.HasSuffix(s, ")") {
					want = strings.Trim(s[open+1:len(s)-1], "'")
				}
			}
		} else if !ok && want != nil && want != "" {
			return false
		}
		if !sameValue(got, want) {
			return false
		}
	}
	return true
}

func sameValue(a, b any) bool {
	if s, ok := a.(string); ok {
		a = normalizeID(s)
		if s == "" {
			a = nil
		}
	}
	if s, ok := b.(string); ok {
		b = normalizeID(s)
		if s == "" {
			b = nil
		}
	}
	ca, err1 := canonical(a)
	cb, err2 := canonical(b)
	if err1 != nil || err2 != nil {
		return false
	}
	if ca == nil || cb == nil {
		return ca == nil && cb == nil
	}
	return *ca == *cb
}

// Recover settles the writes an apply that was stopped (killed, or cut off
// from a system) left unsettled; Plan and Apply call it before anything
// else. While an apply runs in this process its intents are its own, not
// leftovers: Recover then does nothing, and the running apply's own end
// makes a plan made meanwhile stale.
func (e *Engine) Recover(ctx context.Context) error {
	unlock, err := e.state.LockWrites()
	if err != nil {
		e.log.Debug("an apply is running; leftover writes are settled later", "err", err)
		return nil
	}
	defer unlock()
	return e.recover(ctx)
}

// recover settles the intents a stopped process left behind, before a plan
// or an apply reads or writes anything: afterwards every write that
// happened is recorded with its coupling and marks, and every one that did
// not is forgotten. It stops at the first part it cannot settle (a system
// unreachable), leaving the rest for the next start.
func (e *Engine) recover(ctx context.Context) error {
	intents, err := e.state.PendingIntents(ctx)
	if err != nil {
		return err
	}
	if len(intents) == 0 {
		return nil
	}
	type group struct {
		run   int64
		part  state.Part
		items []state.Intent
	}
	var groups []*group
	for _, in := range intents {
		if len(groups) == 0 || groups[len(groups)-1].run != in.RunID {
			groups = append(groups, &group{run: in.RunID, part: state.Part{PlanID: in.PlanID, Mapping: in.Mapping, Direction: in.Direction}})
		}
		g := groups[len(groups)-1]
		g.items = append(g.items, in)
	}
	plans := map[string]*plan.Plan{}
	for _, g := range groups {
		p := plans[g.part.PlanID]
		if p == nil {
			if p, err = e.state.LoadPlan(ctx, g.part.PlanID, 0); err != nil {
				return fmt.Errorf("settle interrupted writes: %w", err)
			}
			plans[g.part.PlanID] = p
		}
		var m *plan.MappingPlan
		for _, mp := range p.Mappings {
			if mp.Name == g.part.Mapping && mp.Direction == g.part.Direction {
				m = mp
			}
		}
		if m == nil {
			return fmt.Errorf("settle interrupted writes: plan %s has no part %s %s", p.ID, g.part.Mapping, g.part.Direction)
		}
		if err := e.recoverPart(ctx, g.run, m, g.items); err != nil {
			return fmt.Errorf("settle the writes plan %s, mapping %s, was making when it stopped: %w", p.ID, m.Name, err)
		}
	}
	return nil
}

func (e *Engine) recoverPart(ctx context.Context, runID int64, m *plan.MappingPlan, intents []state.Intent) error {
	conn, err := e.connector(m.Dest.Connector)
	if err != nil {
		return err
	}
	entity := connectors.Entity{Name: m.Dest.Entity, Key: m.Dest.Key, Modified: m.Dest.Modified}
	side := state.CouplingSide{Mapping: m.Name, SourceIsTable: m.Source.Side == plan.SideTable}
	outcomes, err := e.settle(ctx, conn, entity, side, intents, map[string]bool{})
	if err != nil {
		return err
	}
	var results []state.RecordResult
	var forget []int64
	now := e.now().UTC()
	for i, in := range intents {
		o := outcomes[i]
		if !o.happened {
			forget = append(forget, in.Seq)
			continue
		}
		r := state.RecordResult{Seq: in.Seq, SourceID: in.SourceID, DestID: in.DestID, Op: in.Op,
			SourceModified: in.SourceModified, SourceETag: in.SourceETag, At: now}
		switch plan.Kind(in.Op) {
		case plan.Create:
			r.DestID, r.Couple = o.key, true
		case plan.Restore:
			r.DestID, r.Couple, r.Recouple = o.key, true, true
		case plan.Couple:
			r.Couple = true
		case plan.Delete:
			r.Uncouple = true
		}
		if o.rec != nil {
			r.DestETag = etagOf(o.rec)
			if entity.Modified != "" {
				r.DestModified, _ = parseModified(o.rec[entity.Modified])
			}
		}
		results = append(results, r)
	}
	e.log.Info("settled interrupted writes", "mapping", m.Name, "direction", m.Direction, "happened", len(results), "not_happened", len(forget))
	if err := e.state.RecordResults(ctx, runID, side, results); err != nil {
		return err
	}
	return e.state.DropIntents(ctx, runID, forget)
}
