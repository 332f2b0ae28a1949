package engine

import (
	"context"
	"slices"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// applyBatchQuick is how long a batch's writes may take for the next batch
// to be twice as large whatever the state database's work: below it, that
// work (a checkpoint, which grows with the couplings) is a large share of
// the batch, and fewer, larger batches make apply faster. Above it, the
// batch still grows while the state database's work for a batch takes more
// than a quarter of the batch's writes (stateShare); otherwise a larger
// batch would gain little and keep coupler serve's drain, which waits for
// the batch under way, waiting longer.
const applyBatchQuick = time.Second

// stateShare: batches grow while the state work of one takes more than
// 1/stateShare of its writes' time.
const stateShare = 4

// applyBatches sizes the batches of one apply of a mapping (plan.ApplyBatch
// says why they grow). Every size is a whole number of rounds of the
// destination connector's requests (connectors.WriteBatcher), so that no
// $batch request goes out part full but the last.
type applyBatches struct {
	size, max int
	fixed     bool
}

// applyBatches returns the sizer of an apply writing entity through conn:
// a size fixed by SetApplyBatch, or growing from plan.ApplyBatch.
func (e *Engine) applyBatches(conn connectors.Connector, entity connectors.Entity) *applyBatches {
	perRequest, inFlight := 1, 1
	if b, ok := conn.(connectors.WriteBatcher); ok {
		perRequest, inFlight = b.WriteBatching(entity)
	}
	return newApplyBatches(e.applyBatch, perRequest, inFlight)
}

// newApplyBatches sizes batches fixed at fixed when it is above 0, else
// for a destination that carries perRequest writes in a request with
// inFlight requests at once.
func newApplyBatches(fixed, perRequest, inFlight int) *applyBatches {
	if fixed > 0 {
		return &applyBatches{size: fixed, max: fixed, fixed: true}
	}
	round := max(perRequest, 1) * max(inFlight, 1)
	first := (plan.ApplyBatch + round - 1) / round * round
	return &applyBatches{size: first, max: max(first, plan.MaxApplyBatch/round*round)}
}

// grow takes how long the last batch's writes took and how long the state
// work of a batch took (reading, looking up, recording intents), and
// doubles the size when the writes were quick, or not much slower than
// that work.
func (b *applyBatches) grow(sent, state time.Duration) {
	if !b.fixed && (sent < applyBatchQuick || sent < stateShare*state) {
		b.size = min(2*b.size, b.max)
	}
}

// writeBatch is one batch of an apply, prepared: its operations, a result
// per operation (filled in already for those that send nothing), the
// writes to send, writes[j] being ops[index[j]], and their intents,
// recorded.
type writeBatch struct {
	ops     []plan.Operation
	results []state.RecordResult
	writes  []connectors.WriteOp
	index   []int
	intents []state.Intent
}

// batchFeed reads the operations of one part of a plan in batches and
// prepares each (prepare), in order.
type batchFeed struct {
	e      *Engine
	part   state.Part
	side   state.CouplingSide
	target writeTarget
	entity connectors.Entity
	binds  map[string]string
	// done holds the operations an interrupted run of the part recorded.
	done  map[int64]bool
	sizes *applyBatches
	// afterApply caches the couplings lookups known after apply need.
	afterApply map[string]map[string]string
	after      int64 // the last seq read
	exhausted  bool  // every operation was read
}

// next reads and prepares the next batch; nil when none is left.
func (f *batchFeed) next(ctx context.Context) (*writeBatch, error) {
	e := f.e
	for !f.exhausted {
		ops, err := e.state.OperationsToWrite(ctx, f.part, f.after, f.sizes.size, plan.Writes)
		if err != nil {
			return nil, err
		}
		if len(ops) == 0 {
			f.exhausted = true
			break
		}
		f.after = ops[len(ops)-1].Seq
		// A settled conflict whose losing side changed no one-way field
		// has nothing to write.
		ops = slices.DeleteFunc(ops, func(op plan.Operation) bool {
			return f.done[op.Seq] || op.Kind == plan.Settled && len(op.Changes) == 0
		})
		if len(ops) == 0 {
			continue
		}
		// A create whose source got coupled since the plan (by another
		// plan's apply) would make a duplicate; a match whose destination
		// got coupled would take it from its source.
		var creates, matched []string
		for _, op := range ops {
			if op.Kind == plan.Create || op.Kind == plan.Couple {
				creates = append(creates, op.SourceID)
			}
			if op.Kind == plan.Couple {
				matched = append(matched, op.DestID)
			}
		}
		coupled, taken, err := e.state.BatchCouplings(ctx, f.part.Mapping, f.side.SourceIsTable, creates, matched)
		if err != nil {
			return nil, err
		}
		unresolved, err := e.resolveAfterApply(ctx, ops, f.afterApply)
		if err != nil {
			return nil, err
		}
		return e.prepare(ctx, f.entity, f.target, ops, f.binds, coupled, taken, unresolved)
	}
	return nil, nil
}

// forget drops the intents of a batch prepared but never sent (the apply
// stopped first), so that a resumed apply sends it without reading back
// first whether its writes happened.
func (f *batchFeed) forget(ctx context.Context, b *writeBatch) error {
	if b == nil || len(b.intents) == 0 {
		return nil
	}
	seqs := make([]int64, len(b.intents))
	for i, in := range b.intents {
		seqs[i] = in.Seq
	}
	return f.e.state.DropIntents(context.WithoutCancel(ctx), f.target.runID, seqs)
}
