package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// ErrStalePlan is returned when a plan no longer describes the systems
// because a later apply has moved on since it was made.
var ErrStalePlan = errors.New("plan is stale")

// ApplyResult is what an apply did, one run per mapping.
type ApplyResult struct {
	PlanID string
	Runs   []state.Run
	// Failures lists the records that failed, at most maxFailures per run.
	Failures []Failure
}

// Failure is a record that could not be synchronized.
type Failure struct {
	Mapping  string
	SourceID string
	DestID   string
	Message  string
}

const maxFailures = 50

// Apply executes a saved plan: the given one, or the latest one when planID
// is empty, provided it is not applied yet. It writes exactly the plan's creates and updates,
// each update conditional on the destination being unchanged since the plan.
// A record that fails is logged and does not stop the others.
//
// A plan whose apply was interrupted (the process was killed, or stopped
// with an error) is resumed: the writes that were in flight are settled
// first (see Recover), the mappings already finished are skipped, and the
// operations already recorded are not written again. See
// docs/reliability.md.
func (e *Engine) Apply(ctx context.Context, planID string) (_ *ApplyResult, err error) {
	defer func() { err = e.explain(err) }()
	unlock, err := e.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := e.recover(ctx); err != nil {
		return nil, err
	}
	if planID == "" {
		id, status, err := e.store.LatestPlan(ctx)
		if err != nil {
			return nil, err
		}
		if status != plan.Planned && status != plan.Applying && status != plan.Interrupted {
			return nil, fmt.Errorf("%w: the latest plan, %s, is %s; run coupler plan first", state.ErrNoPlan, id, status)
		}
		planID = id
	}
	p, err := e.store.LoadPlan(ctx, planID, 0)
	if err != nil {
		return nil, err
	}
	resume := p.Status == plan.Applying || p.Status == plan.Interrupted
	if resume || p.Status == plan.Planned {
		if err := e.checkInputs(p); err != nil {
			return nil, err
		}
	}
	switch {
	case resume:
		// The plan was checked fresh when its apply began; since then only
		// a later plan's apply can have moved its mappings on.
		other, err := e.store.AppliedAfter(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		if other != "" {
			return nil, fmt.Errorf("%w: plan %s was interrupted, and plan %s was applied after it; its writes that happened are recorded; run coupler plan again", ErrStalePlan, p.ID, other)
		}
		// Restamped, so that a plan made before this resumption is stale.
		if err := e.store.SetPlanStatus(ctx, p.ID, plan.Applying, plan.Applying, plan.Interrupted); err != nil {
			return nil, err
		}
		e.log.Info("resuming an interrupted apply", "plan", p.ID)
	case p.Status != plan.Planned:
		return nil, fmt.Errorf("plan %s is %s; a plan is applied once: run coupler plan again", p.ID, p.Status)
	default:
		if err := e.checkFresh(ctx, p); err != nil {
			return nil, err
		}
		if err := e.checkReviewed(ctx, p); err != nil {
			return nil, err
		}
		if err := e.store.SetPlanStatus(ctx, p.ID, plan.Applying, plan.Planned); err != nil {
			return nil, err
		}
	}
	finished := map[state.Part]bool{}
	if resume {
		if finished, err = e.store.FinishedParts(ctx, p.ID); err != nil {
			return nil, err
		}
	}
	res := &ApplyResult{PlanID: p.ID}
	for _, m := range p.Mappings {
		if e.draining() {
			return res, fmt.Errorf("apply plan %s, before mapping %s: %w", p.ID, m.Name, ErrDrained)
		}
		if finished[state.Part{PlanID: p.ID, Mapping: m.Name, Direction: m.Direction}] {
			continue
		}
		run, failures, err := e.applyMapping(ctx, p.ID, m, resume)
		res.Failures = append(res.Failures, failures...)
		if err != nil {
			return res, fmt.Errorf("apply plan %s, mapping %s: %w", p.ID, m.Name, err)
		}
		res.Runs = append(res.Runs, run)
	}
	if err := e.store.SetPlanStatus(ctx, p.ID, plan.Applied, plan.Applying); err != nil {
		return res, err
	}
	return res, nil
}

// applyBatchSize is how many operations the next batch of an apply takes,
// with coupled couplings in the state and grown the size the apply's
// batches have grown to while its writes were quick (batchFeed.grow). Each batch's intents are
// checkpointed before it is sent, and a checkpoint rewrites the couplings'
// indexes, so its cost grows with the couplings: at a fixed size the
// checkpoints of a first sync would grow with the square of its records
// (500 of them for 100,000 creates). The batch grows with the couplings
// instead, an eighth of them, or grown when more, between plan.ApplyBatch
// and plan.MaxApplyBatch, which keeps their share of an apply about
// constant and bounds what a crash leaves to settle. A connector that sends several
// writes a request gets at least a request's worth for each request it
// keeps in flight, in whole requests, so that none goes half empty
// (connectors.WriteBatcher).
func (e *Engine) applyBatchSize(conn connectors.Connector, coupled int64, grown int) int {
	if e.applyBatch > 0 {
		return e.applyBatch
	}
	n := min(max(plan.ApplyBatch, int(coupled/8), grown), plan.MaxApplyBatch)
	if b, ok := conn.(connectors.WriteBatcher); ok {
		size, inFlight := b.WriteBatch()
		size = max(size, 1)
		// Whole requests: ceil(ops / size) of them for the apply.
		n = max(n, size*max(inFlight, 1))
		n = (n + size - 1) / size * size
	}
	return n
}

// lockWrites claims the state's write lock for an apply: waiting for it
// under Options.WaitForWrites when the state can wait, else failing at
// once when another apply holds it.
func (e *Engine) lockWrites(ctx context.Context) (unlock func(), err error) {
	if w, ok := e.store.(state.WriteLockWaiter); ok && e.waitForWrites {
		return w.LockWritesWait(ctx)
	}
	return e.store.LockWrites()
}

// checkWriteLock stops an apply whose write lock was lost, before it sends
// another batch, when the store can lose it (state.WriteLockChecker: a
// PostgreSQL session that ended): another process may have taken the lock
// and be settling this apply's writes in flight, which must not be sent
// behind its back. A batch already under way is not stopped.
func (e *Engine) checkWriteLock(ctx context.Context) error {
	c, ok := e.store.(state.WriteLockChecker)
	if !ok {
		return nil
	}
	if err := c.CheckWriteLock(ctx); err != nil {
		return fmt.Errorf("stopped before the next batch of writes: %w", err)
	}
	return nil
}

// checkFresh refuses a plan whose mappings were applied since it was made:
// its reads and diffs describe systems that have moved on.
func (e *Engine) checkFresh(ctx context.Context, p *plan.Plan) error {
	other, mapping, err := e.store.AppliedSince(ctx, p.ID)
	if err != nil {
		return err
	}
	if other != "" {
		return fmt.Errorf("%w: plan %s, applied after plan %s was made, also synchronized mapping %s; run coupler plan again", ErrStalePlan, other, p.ID, mapping)
	}
	base, err := e.store.PlanBase(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, m := range p.Mappings {
		now, has, err := e.store.Watermark(ctx, m.Name, m.Source.Side)
		if err != nil {
			return err
		}
		was, had := base[state.WatermarkKey(m.Name, m.Source.Side)]
		if has != had || !now.Equal(was) {
			return fmt.Errorf("%w: mapping %s was synchronized after plan %s was made; run coupler plan again", ErrStalePlan, m.Name, p.ID)
		}
	}
	return e.checkChangeTokens(ctx, p)
}

func (e *Engine) applyMapping(ctx context.Context, planID string, m *plan.MappingPlan, resume bool) (state.Run, []Failure, error) {
	run := state.Run{PlanID: planID, Mapping: m.Name, Direction: m.Direction, StartedAt: e.now().UTC()}
	var failures []Failure
	conn, err := e.connector(m.Dest.Connector)
	if err != nil {
		return run, nil, err
	}
	side := state.CouplingSide{Mapping: m.Name, SourceIsTable: m.Source.Side == plan.SideTable}
	part := state.Part{PlanID: planID, Mapping: m.Name, Direction: m.Direction}
	// done holds the operations an interrupted run of this part recorded:
	// the resumed run goes on with that run and skips them.
	done := map[int64]bool{}
	resumed := false
	if resume {
		var prev state.Run
		if prev, done, resumed, err = e.store.UnfinishedRun(ctx, part); err != nil {
			return run, nil, err
		}
		if resumed {
			run = prev
		}
	}
	// Skipped is the product's count: records skipped after failing twice,
	// not those left out by a filter or for want of a coupling.
	run.Unchanged, run.Skipped = m.Counts[plan.Unchanged]+m.NotModified, m.Counts[plan.Skipped]
	if !resumed {
		if run.ID, err = e.store.StartRun(ctx, planID, m.Name, m.Direction, run.StartedAt); err != nil {
			return run, nil, err
		}
	}
	target := writeTarget{planID: planID, part: part, side: side, runID: run.ID, clientKeys: e.clientKeys(m.Dest.Connector), key: m.Dest.Key,
		altKey: e.alternateKey(m.Dest.Connector, m.Dest.Entity, m.Dest.Key), connector: m.Dest.Connector,
		keyFromFields: connectors.KeyedByFields(conn, connectors.Entity{Name: m.Dest.Entity, Key: m.Dest.Key}),
		twoWay:        e.twoWayFields(m.Name, m.Direction)}
	target.returned = make([]string, 0, len(target.twoWay)) // none is not all
	for _, f := range target.twoWay {
		target.returned = append(target.returned, f.destRead)
	}
	binds, err := e.store.BindSets(ctx, part)
	if err != nil {
		return run, nil, err
	}
	note := func(r state.RecordResult) {
		if r.Err == "" {
			return
		}
		run.Failed++
		if len(failures) < maxFailures {
			// Scrubbed as the stored message is: the caller prints it.
			failures = append(failures, Failure{Mapping: m.Name, SourceID: r.SourceID, DestID: r.DestID, Message: e.redactor.String(r.Err)})
		}
	}

	// Records that failed while planning go into the run log as they are.
	var planFailed []state.RecordResult
	err = e.store.Operations(ctx, part, 0, -1, []plan.Kind{plan.Fail, plan.Conflict}, func(op plan.Operation) error {
		if done[op.Seq] {
			return nil
		}
		r := state.RecordResult{Seq: op.Seq, SourceID: op.SourceID, DestID: op.DestID, Op: string(op.Kind), Err: op.Reason, At: e.now()}
		planFailed = append(planFailed, r)
		note(r)
		return nil
	})
	if err == nil {
		err = e.store.RecordResults(ctx, run.ID, side, planFailed)
	}
	if err != nil {
		return run, failures, err
	}

	entity := connectors.Entity{Name: m.Dest.Entity, Key: m.Dest.Key, Modified: m.Dest.Modified}
	coupled, err := e.store.AllCouplings(ctx)
	if err != nil {
		return run, failures, err
	}
	feed := &batchFeed{e: e, conn: conn, part: part, side: side, target: target, entity: entity, binds: binds, done: done,
		afterApply: map[string]map[string]string{}, grown: plan.ApplyBatch}
	if e.draining() {
		return run, failures, ErrDrained
	}
	cur, err := feed.next(ctx, coupled+run.Inserted+run.Coupled)
	if err != nil {
		return run, failures, err
	}
	// record records a sent batch's outcome, then counts its results:
	// recording can still fail a result (a coupling taken meanwhile). It
	// records with a context that outlives a cancelled ctx: these writes
	// happened, and forgetting them would duplicate creates next time.
	record := func(out *sendOutcome) error {
		if out == nil {
			return nil
		}
		if err := e.store.DropIntents(context.WithoutCancel(ctx), target.runID, out.notSent); err != nil {
			return err
		}
		if err := e.store.RecordResults(context.WithoutCancel(ctx), run.ID, side, out.results); err != nil {
			return err
		}
		for _, r := range out.results {
			note(r)
			if r.Err == "" {
				run.Count(r.Op)
			}
		}
		e.progress(Progress{Mapping: m.Name, Stage: "write", Done: run.Inserted + run.Coupled + run.Modified + run.Failed})
		return nil
	}
	// prev is the batch sent before cur, recorded while cur is sent.
	var prev *sendOutcome
	for cur != nil {
		// The batch's requests go out while the state work of the batches
		// around it is done: the results of the batch before are recorded,
		// then the next batch is prepared (its operations read, looked up,
		// its intents recorded). That work is on the state database
		// alone, and the next batch's intents are durable before any of
		// its writes is sent, as they must be (docs/reliability.md). Its
		// records were not written by this batch (one operation per
		// record in a part), and its look-ups are for couplings made by
		// other plans or by the batch before, recorded by then. Settling
		// a lost answer of this batch must not take a record the batch
		// before coupled, perhaps not yet recorded, for its own: those
		// records are claimed.
		if err := e.checkWriteLock(ctx); err != nil {
			// Not sent: its intents go now. Left for the next plan or
			// apply, they would be read back, and a create that cannot
			// be told (no modified field, no client key) would stop
			// every apply until coupled by hand.
			return run, failures, errors.Join(err, record(prev), feed.forget(ctx, cur))
		}
		cur.claimed = prev.coupledKeys()
		sent := make(chan sendOutcome, 1)
		go func() { sent <- e.send(ctx, conn, entity, target, cur) }()
		began := time.Now()
		recErr := record(prev)
		prev = nil
		var next *writeBatch
		var nextErr error
		if recErr == nil && !e.draining() {
			// Sized as if this batch's writes all succeed: the couplings
			// its creates make.
			next, nextErr = feed.next(ctx, coupled+run.Inserted+run.Coupled+int64(len(cur.writes)))
		}
		prepared := time.Since(began)
		out := <-sent
		if out.results == nil {
			return run, failures, errors.Join(recErr, out.err, feed.forget(ctx, next))
		}
		feed.grow(out.took, prepared, len(cur.ops))
		if recErr != nil || out.err != nil || nextErr != nil {
			// No further batch is sent; what this one wrote is recorded.
			return run, failures, errors.Join(recErr, record(&out), out.err, nextErr, feed.forget(ctx, next))
		}
		if next == nil || e.draining() {
			if err := record(&out); err != nil {
				return run, failures, errors.Join(err, feed.forget(ctx, next))
			}
			if next != nil {
				return run, failures, errors.Join(ErrDrained, feed.forget(ctx, next))
			}
			if !feed.exhausted {
				return run, failures, ErrDrained // drained before the next batch was read
			}
		}
		prev, cur = &out, next
	}

	if err := e.store.MarkUnchangedSynced(ctx, part, side.SourceIsTable); err != nil {
		return run, failures, err
	}
	if err := e.store.TrackFailures(ctx, run.ID, part); err != nil {
		return run, failures, err
	}

	// The watermark moves past what was read, except that a failed record
	// holds it back so the next run reads that record again.
	wm := m.NewWatermark
	earliest, err := e.store.EarliestFailure(ctx, run.ID, part)
	if err != nil {
		return run, failures, err
	}
	if !earliest.IsZero() && !wm.IsZero() && earliest.Before(wm) {
		wm = earliest
	}
	token, err := e.nextChangeToken(ctx, run.ID, part, m)
	if err != nil {
		return run, failures, err
	}
	// The definition is kept only when no record failed: a failed record
	// is read again by the next plan, which must compare it as this one
	// did, in full.
	definition := m.Definition
	if run.Failed > 0 {
		definition = ""
	}
	run.FinishedAt = e.now().UTC()
	if err := e.store.FinishRun(ctx, run, m.Source.Side, wm, token, definition); err != nil {
		return run, failures, err
	}
	return run, failures, nil
}

// Retry releases skipped or failed records of a mapping (all when ids is
// empty) and moves the mapping's watermarks back to the earliest of them, so
// that the next plan reads them again. It returns how many it released.
func (e *Engine) Retry(ctx context.Context, mapping string, ids []string) (int64, error) {
	if err := e.CheckMapping(mapping); err != nil {
		return 0, err
	}
	for i, id := range ids {
		ids[i] = normalizeID(id)
	}
	n, earliest, err := e.store.Retry(ctx, mapping, ids)
	if err != nil {
		return n, err
	}
	for direction, t := range earliest {
		side := plan.SideTable
		if direction == string(mappings.FromIntegration) {
			side = plan.SideIntegration
		}
		if err := e.store.LowerWatermark(ctx, mapping, side, t); err != nil {
			return n, err
		}
	}
	if n > 0 {
		// A change tracking read would not return the released records
		// again: the next plan reads everything and starts over.
		if _, err := e.store.ClearChangeTokens(ctx, mapping); err != nil {
			return n, err
		}
	}
	return n, nil
}

// transient reports whether a write failed for a reason that says nothing
// about the record: no answer, a server error, throttling. Only an answer
// refusing the record (a 4xx) is the record's own failure; the others must
// not get a record skipped however often they repeat. A write rolled back
// with its change set is not refused either: another write was.
func transient(err error) bool {
	if errors.Is(err, connectors.ErrRolledBack) || errors.Is(err, connectors.ErrNotSent) {
		return true
	}
	var st interface{ HTTPStatus() int }
	if !errors.As(err, &st) {
		return true
	}
	code := st.HTTPStatus()
	return code < 400 || code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// prepare turns one batch of operations into the writes to send and the
// results of those that send nothing (stale, unresolved, an uncouple), and
// records the writes' intents.
func (e *Engine) prepare(ctx context.Context, entity connectors.Entity, target writeTarget, ops []plan.Operation, binds map[string]string, coupled, taken map[string]string, unresolved map[int64]string) (*writeBatch, error) {
	writes := make([]connectors.WriteOp, 0, len(ops))
	index := make([]int, 0, len(ops))
	results := make([]state.RecordResult, len(ops))
	now := e.now().UTC()
	for i, op := range ops {
		results[i] = state.RecordResult{Seq: op.Seq, SourceID: op.SourceID, DestID: op.DestID, Op: string(op.Kind),
			SourceModified: op.SourceModified, SourceETag: op.SourceETag, At: now}
		if msg, ok := unresolved[op.Seq]; ok {
			results[i].Err = msg
			continue
		}
		if to, ok := coupled[op.SourceID]; ok && (op.Kind == plan.Create || op.Kind == plan.Couple) {
			switch {
			case op.Kind == plan.Couple && to == op.DestID:
				// Coupled already, to the same record: the other pass of a
				// bidirectional mapping matched the same pair.
				results[i].Op, results[i].Noop = "already coupled", true
			case op.Kind == plan.Couple:
				results[i].Err = fmt.Sprintf("stale: the source record was coupled to %s after this plan was made; not coupled to %s", to, op.DestID)
			default:
				results[i].Err = "stale: the source record was coupled after this plan was made; not created again"
			}
			continue
		}
		if from, ok := taken[op.DestID]; ok && op.Kind == plan.Couple && from != op.SourceID {
			results[i].Err = fmt.Sprintf("stale: %s was coupled to %s after this plan was made; not coupled, not written", op.DestID, from)
			continue
		}
		switch op.Kind {
		case plan.Couple:
			results[i].Couple = true
			if len(op.Changes) == 0 {
				continue // coupled without a write: nothing differs, or no sync_after
			}
		case plan.Uncouple:
			results[i].Uncouple = true
			continue // the couplings change; neither system does
		case plan.Delete:
			results[i].Uncouple = true
		}
		fields := make(connectors.Record, len(op.Changes)+1) // and a client key
		for _, c := range op.Changes {
			v, err := decodeValue(c.After)
			if err != nil {
				results[i].Err = fmt.Sprintf("field %s: stored value is not JSON: %v", c.Field, err)
				break
			}
			if set, ok := binds[c.Field]; ok {
				// A lookup to a service that binds them: a reference to
				// the target record, which the connector writes its way;
				// an empty key clears it.
				ref := connectors.Reference{Entity: set}
				if v != nil {
					ref.Key = fmt.Sprint(v)
				}
				fields[c.Field] = ref
				continue
			}
			fields[c.Field] = v
		}
		if results[i].Err != "" {
			continue
		}
		w := connectors.WriteOp{Fields: fields, Return: target.returned}
		switch op.Kind {
		case plan.Create, plan.Restore:
			w.Op = connectors.OpCreate
			if _, mapped := w.Fields[entity.Key]; target.sendsClientKey() && !mapped {
				// The same key on every attempt to create this record: a
				// create that happened already answers 409, never makes a twin.
				// A key the mapping writes itself is the client's already.
				w.Fields[entity.Key] = clientKey(target.part, op.SourceID)
			}
		case plan.Delete:
			w = connectors.WriteOp{Op: connectors.OpDelete, Key: op.DestID, ETag: op.ETag}
		default:
			w.Op, w.Key, w.ETag = connectors.OpUpdate, op.DestID, op.ETag
		}
		writes = append(writes, w)
		index = append(index, i)
	}
	// Each write's intent is recorded before anything is sent: should the
	// process stop before the results are recorded, the next start finds
	// out from these what happened (recover).
	intents := make([]state.Intent, len(writes))
	for j, w := range writes {
		op := ops[index[j]]
		in, err := target.intent(op, w, e.now().UTC())
		if err != nil {
			return nil, fmt.Errorf("write %s: record %s: %w", entity.Name, op.SourceID, err)
		}
		intents[j] = in
	}
	if err := e.store.RecordIntents(ctx, intents); err != nil {
		return nil, err
	}
	return &writeBatch{ops: ops, results: results, writes: writes, index: index, intents: intents}, nil
}

// sendOutcome is what sending a batch did: the results to record (nil
// when the batch failed as a whole, with err), the seqs of the writes that
// were never sent because the apply was stopped, how long the connector
// took, and an error that stops the apply after the results are recorded.
type sendOutcome struct {
	results []state.RecordResult
	notSent []int64
	took    time.Duration // the connector's Write
	err     error
}

// coupledKeys returns the destination keys, normalized, of the records
// whose couplings an outcome's results make; none for nil.
func (o *sendOutcome) coupledKeys() map[string]bool {
	if o == nil {
		return nil
	}
	keys := map[string]bool{}
	for _, r := range o.results {
		if r.Couple && r.Err == "" && r.DestID != "" {
			keys[normalizeID(r.DestID)] = true
		}
	}
	return keys
}

// send sends a prepared batch and turns the outcome into results to
// record. It reads the state database (to settle writes whose answer was
// lost) but writes nothing to it: the caller records the outcome.
func (e *Engine) send(ctx context.Context, conn connectors.Connector, entity connectors.Entity, target writeTarget, b *writeBatch) sendOutcome {
	results, writes, index, intents := b.results, b.writes, b.index, b.intents
	if len(writes) == 0 {
		return sendOutcome{results: results}
	}
	// A connector stopped part way (a cancelled context) still reports what
	// it wrote: those results are recorded before the error is returned, so
	// a created record is never left uncoupled.
	began := time.Now()
	out, werr := conn.Write(ctx, entity, writes)
	took := time.Since(began)
	if werr != nil && len(out) != len(writes) {
		return sendOutcome{err: fmt.Errorf("write %s: %w", entity.Name, werr)}
	}
	if len(out) != len(writes) {
		return sendOutcome{err: fmt.Errorf("write %s: connector returned %d results for %d writes", entity.Name, len(out), len(writes))}
	}
	// A write that failed may still have happened (its response was lost,
	// or it is a retry of one that happened): read back before calling it
	// failed. Those that cannot be found out now keep their intents and
	// are left out of the results, for the next start to settle.
	settled, unsettled, serr := e.settleFailed(ctx, conn, entity, target, intents, out, b.claimed)
	var notSent []int64
	for j, wr := range out {
		r := &results[index[j]]
		if unsettled[j] {
			r.Op = "" // dropped below
			continue
		}
		if errors.Is(wr.Err, connectors.ErrNotSent) && ctx.Err() != nil {
			// Never sent because the apply was stopped (serve's shutdown
			// timeout): not an outcome. Left out of the run, its intent
			// forgotten, so that resuming the plan sends it.
			r.Op = ""
			notSent = append(notSent, r.Seq)
			continue
		}
		if st, ok := settled[j]; ok {
			wr = st
		}
		switch {
		case errors.Is(wr.Err, connectors.ErrRolledBack) || errors.Is(wr.Err, connectors.ErrNotSent):
			// Undone with its change set because another write failed: it
			// says nothing about this record (whatever the other write's
			// failure was), so it is temporary and tried again next run.
			r.Err = state.TemporaryPrefix + wr.Err.Error()
		case r.Op == string(plan.Delete) && errors.Is(wr.Err, connectors.ErrNotFound):
			// Gone already (deleted on both sides): what the delete wanted,
			// but only the coupling goes, and only that is counted.
			r.Op = string(plan.Uncouple)
		case errors.Is(wr.Err, connectors.ErrStale):
			r.Err = "stale: the destination record changed since the plan was made; it was not overwritten"
		case wr.Err != nil && transient(wr.Err):
			r.Err = state.TemporaryPrefix + wr.Err.Error()
		case wr.Err != nil:
			r.Err = wr.Err.Error()
		case r.Op == string(plan.Create):
			r.DestID, r.Couple = wr.Key, true
			r.Assigned = assignedFields(target.twoWay, writes[j].Fields, wr.Record)
		case r.Op == string(plan.Restore):
			r.DestID, r.Couple, r.Recouple = wr.Key, true, true
			r.Assigned = assignedFields(target.twoWay, writes[j].Fields, wr.Record)
		}
		if wr.Err == nil {
			r.DestETag = wr.ETag
		}
		if wr.Err == nil && entity.Modified != "" && wr.Record != nil {
			// The destination's own stamp of this write: the next plan must
			// not take it for somebody else's change.
			r.DestModified, _ = parseModified(wr.Record[entity.Modified])
		}
	}
	for i := range results {
		if results[i].Err != "" {
			results[i].Couple = false
		}
	}
	results = slices.DeleteFunc(results, func(r state.RecordResult) bool { return r.Op == "" })
	if werr == nil && serr != nil {
		werr = serr
	}
	if werr != nil {
		werr = fmt.Errorf("write %s: %w", entity.Name, werr)
	}
	return sendOutcome{results: results, notSent: notSent, took: took, err: werr}
}
