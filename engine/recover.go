package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/internal/jsontext"
	"github.com/couplerhq/coupler/mappings"
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
//     before the intent, coupled to nothing by any mapping of that entity,
//     holds every value written (but for those written blank, which the
//     service may fill in: a number series); a create that cannot be told apart this
//     way (no modified field, no value to recognise it by, lookups bound by
//     an alternate key and several records alike) stays unsettled;
//   - an update happened if the record holds every value written;
//   - a delete happened if the record is gone.
//
// A write that happened is recorded as it would have been (coupling), with
// the read-back record's ETag and modified-on as last-synced marks only
// when the record is known to be coupler's own creation: an update found
// by reading back may share the record with someone else's change, which
// those marks would hide from the next plan. One that did not happen is
// forgotten, so that the operation is tried again. docs/reliability.md says
// the same for users.

// writeTarget is where one part of a plan writes, as an intent records it.
type writeTarget struct {
	planID     string
	part       state.Part
	side       state.CouplingSide
	runID      int64
	clientKeys bool
	key        string // the destination's key field
	// altKey holds the fields of the declared alternate key the destination
	// is keyed by; nil when it is keyed by its primary key.
	altKey    []string
	connector string // the destination's connector
	// keyFromFields: the connector makes a created record with the key the
	// create holds (connectors.KeyFromFields), e.g. a choice's option by
	// its value.
	keyFromFields bool
	// twoWay are the part's fields that flow both ways, in which a created
	// record may hold a value its service assigned (assigned.go).
	twoWay []twoWayField
	// returned are the fields of a written record apply reads from the
	// connector's answer besides its key, ETag and modified field
	// (connectors.WriteOp.Return): the two-way ones.
	returned []string
}

// sendsClientKey reports whether creates set the destination's key to a
// client key (clientKey). Only a primary key gets one: an alternate key
// holds the mapping's own data (an account number), which a GUID would
// overwrite, and is chosen by the client already.
func (t writeTarget) sendsClientKey() bool {
	return t.clientKeys && !t.keyFromFields && t.altKey == nil && !strings.Contains(t.key, ",")
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

// alternateKey returns the fields of the alternate key declared for entity
// on connector when key names it, as the connector's type decides; nil
// otherwise.
func (e *Engine) alternateKey(connector, entity, key string) []string {
	return e.prog.Project.AlternateKey(mappings.Side{Connector: connector, Entity: entity, Key: key})
}

// ownClientKey reports whether the client key of in is one coupler made up
// (clientKey), rather than the mapping's data keyed by an alternate key,
// which a record coupler did not create may hold as well.
func ownClientKey(in state.Intent) bool {
	return in.ClientKey != "" && normalizeID(in.ClientKey) == clientKey(state.Part{Mapping: in.Mapping, Direction: in.Direction}, in.SourceID)
}

func (t writeTarget) intent(op plan.Operation, w connectors.WriteOp, at time.Time) (state.Intent, error) {
	fields, err := jsontext.MarshalObject(w.Fields, true) // json.Marshal's text
	if err != nil {
		return state.Intent{}, fmt.Errorf("encode fields: %w", err)
	}
	in := state.Intent{RunID: t.runID, PlanID: t.planID, Mapping: t.part.Mapping, Direction: t.part.Direction, Seq: op.Seq,
		Op: string(op.Kind), SourceID: op.SourceID, DestID: op.DestID, Fields: string(fields),
		SourceModified: op.SourceModified, SourceETag: op.SourceETag, CreatedAt: at}
	if w.Op == connectors.OpCreate && (t.keyFromFields || t.clientKeys && len(t.altKey) <= 1 && !strings.Contains(t.key, ",")) {
		// The key the create sends: ours (sendsClientKey), the mapped
		// value of a one-field alternate key, or the mapped key of an
		// entity the connector keys by it (an option's value). A
		// composite key's id is the connector's key predicate, which
		// settling by values covers.
		in.ClientKey, _ = recordKey(w.Fields, t.key)
	}
	return in, nil
}

// outcome is what settling found out about one intent.
type outcome struct {
	happened bool
	// rec is the destination record as read back (nil for a delete).
	rec connectors.Record
	key string
	// marks is true when rec's ETag and modified-on may become the
	// coupling's last-synced marks: rec is a record coupler created and
	// nobody else has written yet, as far as can be told. Otherwise the
	// marks are left empty, so that the next plan compares values instead
	// of taking the record for coupler's own echo.
	marks bool
	// unknown, when set, says why it cannot be told whether the write
	// happened: the intent is kept, and the plan or apply stops with it.
	unknown string
}

// settleFailed finds out, for each write that failed, whether it happened
// all the same: settled holds those that did, as successful results;
// unsettled those that could not be found out (err says why), whose intents
// are kept for the next start.
func (e *Engine) settleFailed(ctx context.Context, conn connectors.Connector, entity connectors.Entity, t writeTarget, intents []state.Intent, out []connectors.WriteResult, claimed map[string]bool) (settled map[int]connectors.WriteResult, unsettled map[int]bool, err error) {
	settled, unsettled = map[int]connectors.WriteResult{}, map[int]bool{}
	var idx []int
	var failed []state.Intent
	var unknown []string
	for j, wr := range out {
		if wr.Err == nil {
			continue
		}
		if intents[j].Op == string(plan.Delete) && errors.Is(wr.Err, connectors.ErrNotFound) && !errors.Is(wr.Err, connectors.ErrRolledBack) {
			continue // gone: handled as such by the caller
		}
		if errors.Is(wr.Err, connectors.ErrRolledBack) || errors.Is(wr.Err, connectors.ErrNotSent) {
			continue // the server undid it, or it never left: it did not happen
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
	// Records this batch created with an answer, or the batch before it
	// coupled (claimed), are not candidates for the creates without one,
	// however alike their values.
	taken := maps.Clone(claimed)
	if taken == nil {
		taken = map[string]bool{}
	}
	for _, wr := range out {
		if wr.Err == nil && wr.Key != "" {
			taken[normalizeID(wr.Key)] = true
		}
	}
	outcomes, err := e.settle(ctx, conn, t.connector, entity, t.side, failed, taken)
	if err != nil {
		for _, j := range idx {
			unsettled[j] = true
		}
		return settled, unsettled, fmt.Errorf("find out whether %d failed writes happened: %w; the next plan or apply finds out first", len(idx), err)
	}
	for k, j := range idx {
		o := outcomes[k]
		if o.unknown != "" {
			unsettled[j] = true
			unknown = append(unknown, o.unknown)
			continue
		}
		if !o.happened {
			continue
		}
		e.log.Info("a write that failed had happened", "mapping", t.part.Mapping, "op", failed[k].Op, "source", failed[k].SourceID, "error", out[j].Err)
		wr := connectors.WriteResult{Key: o.key}
		if o.rec != nil && o.marks {
			wr.ETag, wr.Record = etagOf(o.rec), o.rec
		}
		if wr.Key == "" {
			wr.Key = failed[k].DestID
		}
		settled[j] = wr
	}
	if len(unknown) > 0 {
		return settled, unsettled, errors.New(strings.Join(unknown, "; "))
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
//
// A create that cannot be told (outcome.unknown) is kept until its source
// record is coupled, which the user does by hand (coupler couple) once they
// have looked: the coupling then says what the create would have, and the
// intent is forgotten.
func (e *Engine) settle(ctx context.Context, conn connectors.Connector, connector string, entity connectors.Entity, side state.CouplingSide, intents []state.Intent, claimed map[string]bool) ([]outcome, error) {
	out, err := e.settleOutcomes(ctx, conn, connector, entity, side, intents, claimed)
	if err != nil {
		return nil, err
	}
	var sources []string
	for i, o := range out {
		if o.unknown != "" {
			sources = append(sources, intents[i].SourceID)
		}
	}
	if len(sources) == 0 {
		return out, nil
	}
	coupled, err := e.store.AlreadyCoupled(ctx, side.Mapping, side.SourceIsTable, sources)
	if err != nil {
		return nil, err
	}
	for i, o := range out {
		if to, ok := coupled[intents[i].SourceID]; ok && o.unknown != "" {
			e.log.Warn("a create that could not be settled is forgotten: its source record was coupled since", "mapping", side.Mapping, "source", intents[i].SourceID, "coupled_to", to)
			out[i] = outcome{}
		} else if o.unknown != "" {
			out[i].unknown += fmt.Sprintf("; meanwhile look for the record in %s: couple it by hand with coupler couple %s, or create it and couple it; a coupled source settles this", entity.Name, side.Mapping)
		}
	}
	return out, nil
}

// settleOutcomes is settle without the user's way out of an unknown outcome.
func (e *Engine) settleOutcomes(ctx context.Context, conn connectors.Connector, connector string, entity connectors.Entity, side state.CouplingSide, intents []state.Intent, claimed map[string]bool) ([]outcome, error) {
	out := make([]outcome, len(intents))
	// wanted holds each write's fields as the record read back holds them;
	// dropped those that cannot be compared (connectors.ReadBacker).
	wanted := make([]connectors.Record, len(intents))
	dropped := make([][]string, len(intents))
	byKey := map[string][]int{} // intents settled by reading one record by key
	var byValues []int          // creates settled by reading recent records
	var earliest time.Time
	for i, in := range intents {
		dec := json.NewDecoder(strings.NewReader(in.Fields))
		dec.UseNumber()
		var written connectors.Record
		if err := dec.Decode(&written); err != nil {
			return nil, fmt.Errorf("record %s: stored fields: %w", in.SourceID, err)
		}
		connectors.RestoreReferences(written)
		wanted[i], dropped[i] = readBackFields(conn, entity.Name, written)
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
					// A key of ours: nobody else makes records with it, and
					// the record is coupler's. The value of an alternate key
					// is unique too, but a record holding it may be somebody
					// else's (the create then failed as a duplicate): it is
					// coupled, and the next plan compares its values.
					out[i] = outcome{happened: true, rec: rec, key: id, marks: ownClientKey(intents[i])}
				default:
					// Holding what was written does not make the record ours
					// alone: whoever else wrote it may have changed other
					// fields too (a 412 settled as happened), so no marks.
					// A field that cannot be compared leaves it untold: it
					// is written again.
					out[i] = outcome{happened: len(dropped[i]) == 0 && holds(rec, wanted[i]), rec: rec, key: id}
				}
			}
		}
	}
	if len(byValues) == 0 {
		return out, nil
	}
	if entity.Modified == "" {
		// Without a modified field every record of the entity would be a
		// candidate, including old ones coupler never made.
		for _, i := range byValues {
			out[i] = outcome{unknown: fmt.Sprintf("cannot tell whether the create of source record %s in %s happened: %s has no modified field to find recent records by; set client_keys: true on connector %s, or give the mapping's %s side a modified field",
				intents[i].SourceID, entity.Name, entity.Name, connector, entity.Name)}
		}
		return out, nil
	}
	// Creates without a key of ours: look for the record among those
	// modified since shortly before the first intent, holding every value
	// written and coupled to nothing by any mapping of this entity; each
	// found record settles one intent.
	q := connectors.Query{Entity: entity, Since: earliest.Add(-matchWindow)}
	var candidates []connectors.Record
	err := conn.Read(ctx, q, func(p connectors.Page) error {
		candidates = append(candidates, p.Records...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read back recent %s records: %w", entity.Name, err)
	}
	keys := make([]string, len(candidates))
	for i, r := range candidates {
		keys[i], _ = recordKey(r, entity.Key)
	}
	coupled, err := e.coupledRecords(ctx, connector, entity, side, candidates)
	if err != nil {
		return nil, err
	}
	for _, i := range byValues {
		want, dropped := filledIn(wanted[i]), dropped[i]
		if !identifying(want) {
			why := "it wrote no value to recognise the record by"
			if len(dropped) > 0 {
				why = fmt.Sprintf("apart from %s, a lookup to a record addressed by an alternate key that %s reads back as the target's primary key, it wrote no value to recognise the record by", strings.Join(dropped, ", "), entity.Name)
			}
			out[i] = outcome{unknown: fmt.Sprintf("cannot tell whether the create of source record %s in %s happened: %s; set client_keys: true on connector %s so that creates are found by key",
				intents[i].SourceID, entity.Name, why, connector)}
			continue
		}
		var match []int
		for c, rec := range candidates {
			k := keys[c]
			if k == "" || claimed[k] || coupled[c] || !holds(rec, want) {
				continue
			}
			match = append(match, c)
			if len(dropped) == 0 {
				break // every value written matches: any such record will do
			}
		}
		if len(dropped) > 0 && len(match) > 1 {
			out[i] = outcome{unknown: fmt.Sprintf("cannot tell whether the create of source record %s in %s happened: %d uncoupled records hold its values apart from %s, a lookup to a record addressed by an alternate key that %s reads back as the target's primary key; set client_keys: true on connector %s so that creates are found by key",
				intents[i].SourceID, entity.Name, len(match), strings.Join(dropped, ", "), entity.Name, connector)}
			continue
		}
		if len(match) == 0 {
			continue
		}
		k := keys[match[0]]
		claimed[k] = true
		out[i] = outcome{happened: true, rec: candidates[match[0]], key: k, marks: true}
	}
	return out, nil
}

// coupledRecords reports which of recs, records of entity on connector, are
// coupled by any mapping with a side on that entity (keyed by whatever key
// that mapping uses), or by this part's mapping: a record coupled to
// something is not one a lost create made.
func (e *Engine) coupledRecords(ctx context.Context, connector string, entity connectors.Entity, side state.CouplingSide, recs []connectors.Record) (map[int]bool, error) {
	type user struct {
		mapping string
		isTable bool // the entity is the mapping's table side
		key     string
	}
	// This part's own mapping, as the plan saw it, even when the project
	// has changed since.
	users := []user{{mapping: side.Mapping, isTable: !side.SourceIsTable, key: entity.Key}}
	for _, m := range e.prog.Project.Mappings {
		for _, s := range []struct {
			side    mappings.Side
			isTable bool
		}{{m.Table, true}, {m.Integration, false}} {
			if s.side.Connector == connector && s.side.Entity == entity.Name {
				users = append(users, user{mapping: m.Name, isTable: s.isTable, key: s.side.Key})
			}
		}
	}
	out := map[int]bool{}
	for _, u := range users {
		byID := map[string][]int{}
		ids := make([]string, 0, len(recs))
		for c, r := range recs {
			k, err := recordKey(r, u.key)
			if err != nil {
				continue
			}
			if _, seen := byID[k]; !seen {
				ids = append(ids, k)
			}
			byID[k] = append(byID[k], c)
		}
		// AlreadyCoupled takes ids of the side given as the source.
		got, err := e.store.AlreadyCoupled(ctx, u.mapping, u.isTable, ids)
		if err != nil {
			return nil, err
		}
		for id := range got {
			for _, c := range byID[id] {
				out[c] = true
			}
		}
	}
	return out, nil
}

// readBackFields returns fields, as a write sent them, as a record read
// back holds them: under the names and with the values the connector
// reads them back as (connectors.ReadBacker; a lookup written as a
// connectors.Reference is read back as its key otherwise), and the names
// of those the record cannot tell, sorted.
func readBackFields(conn connectors.Connector, entity string, fields connectors.Record) (connectors.Record, []string) {
	rb, _ := conn.(connectors.ReadBacker)
	out := make(connectors.Record, len(fields))
	var dropped []string
	for f, v := range fields {
		name, value, ok := f, connectors.PlainValue(v), true
		if rb != nil {
			name, value, ok = rb.ReadBack(entity, f, v)
		}
		if !ok {
			dropped = append(dropped, f)
			continue
		}
		out[name] = value
	}
	slices.Sort(dropped)
	return out, dropped
}

// identifying reports whether fields hold a value to recognise a record
// by: without one, any record with those fields empty would do.
func identifying(fields connectors.Record) bool {
	for _, v := range fields {
		if v != nil && v != "" {
			return true
		}
	}
	return false
}

// filledIn returns the values of fields a created record must hold: a
// field the create wrote blank may hold what the service filled in (a
// number from Business Central's number series), so it tells nothing.
func filledIn(fields connectors.Record) connectors.Record {
	out := make(connectors.Record, len(fields))
	for f, v := range fields {
		if v != nil && v != "" {
			out[f] = v
		}
	}
	return out
}

// holds reports whether rec has every value of fields (as readBackFields
// gives them), compared as the diff compares them.
func holds(rec, fields connectors.Record) bool {
	for f, want := range fields {
		got, ok := rec[f]
		if !ok && want != nil && want != "" {
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
	unlock, err := e.store.LockWrites()
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
	if err := e.settleIntents(ctx); err != nil {
		return err
	}
	// Settled, and no apply running (the caller holds the write lock): a
	// plan still applying was stopped, and its unfinished runs with it.
	ids, err := e.store.MarkInterrupted(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		e.log.Info("apply of plan was interrupted; coupler apply resumes it, until a later plan is applied", "plan", id)
	}
	return nil
}

// settleIntents is recover's first step: the intents themselves.
func (e *Engine) settleIntents(ctx context.Context) error {
	intents, err := e.store.PendingIntents(ctx)
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
			if p, err = e.store.LoadPlan(ctx, g.part.PlanID, 0); err != nil {
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
	outcomes, err := e.settle(ctx, conn, m.Dest.Connector, entity, side, intents, map[string]bool{})
	if err != nil {
		return err
	}
	var results []state.RecordResult
	var forget []int64
	var unknown []string
	now := e.now().UTC()
	twoWay := e.twoWayFields(m.Name, m.Direction)
	for i, in := range intents {
		o := outcomes[i]
		if o.unknown != "" {
			unknown = append(unknown, o.unknown)
			continue
		}
		if !o.happened {
			forget = append(forget, in.Seq)
			continue
		}
		r := state.RecordResult{Seq: in.Seq, SourceID: in.SourceID, DestID: in.DestID, Op: in.Op,
			SourceModified: in.SourceModified, SourceETag: in.SourceETag, At: now}
		switch plan.Kind(in.Op) {
		case plan.Create:
			r.DestID, r.Couple = o.key, true
			r.Assigned = assignedByIntent(twoWay, in, o.rec)
		case plan.Restore:
			r.DestID, r.Couple, r.Recouple = o.key, true, true
			r.Assigned = assignedByIntent(twoWay, in, o.rec)
		case plan.Couple:
			r.Couple = true
		case plan.Delete:
			r.Uncouple = true
		}
		if o.rec != nil && o.marks {
			r.DestETag = etagOf(o.rec)
			if entity.Modified != "" {
				r.DestModified, _ = parseModified(o.rec[entity.Modified])
			}
		}
		results = append(results, r)
	}
	e.log.Info("settled interrupted writes", "mapping", m.Name, "direction", m.Direction, "happened", len(results), "not_happened", len(forget), "unknown", len(unknown))
	if err := e.store.RecordResults(ctx, runID, side, results); err != nil {
		return err
	}
	if err := e.store.DropIntents(ctx, runID, forget); err != nil {
		return err
	}
	if len(unknown) > 0 {
		// Kept: forgetting them could create these records twice.
		return errors.New(strings.Join(unknown, "; "))
	}
	return nil
}
