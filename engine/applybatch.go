package engine

import (
	"context"
	"slices"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

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
	// claimed holds the destination keys (normalized) of the records the
	// batch sent before this one couples, whose results are recorded
	// while this one is sent: not candidates for its lost creates.
	claimed map[string]bool
}

// batchFeed reads the operations of one part of a plan in batches and
// prepares each (prepare), in order.
type batchFeed struct {
	e      *Engine
	conn   connectors.Connector
	part   state.Part
	side   state.CouplingSide
	target writeTarget
	entity connectors.Entity
	binds  map[string]string
	// done holds the operations an interrupted run of the part recorded.
	done map[int64]bool
	// afterApply caches the couplings lookups known after apply need.
	afterApply map[string]map[string]string
	after      int64 // the last seq read
	exhausted  bool  // every operation was read
	// grown is the size batches have grown to (grow).
	grown int
}

// quickBatch is how long a batch's writes may take for the next batch to
// be twice as large whatever the state database's work: below it, that
// work (a checkpoint, which grows with the couplings) is a large share of
// the batch, and fewer, larger batches make apply faster. Above it, the
// batch still grows while the state database's work for a batch takes more
// than 1/stateShare of the batch's writes; otherwise a larger batch would
// gain little and keep coupler serve's drain, which waits for the batch
// under way, waiting longer.
const (
	quickBatch = time.Second
	stateShare = 4
)

// grow takes how long the last batch's writes took, how long the state
// work of a batch took (reading, looking up, recording its intents) and
// how many operations the batch held, and doubles the batches when the
// writes were quick, or not much slower than that work. Growing with the
// couplings alone (an eighth of them, applyBatchSize), a first sync of
// 10,000 records takes about two dozen batches, each with a checkpoint;
// doubling, seven. The batch doubled is the larger of the batch sent and
// the size grown to: a connector's whole requests (applyBatchSize) make
// the first batches larger than the size grown to (400 for 100 a request
// and 4 in flight), and doubling 200 gave a first sync of 10,000 records
// three batches of 400 and one more batch in all.
func (f *batchFeed) grow(sent, state time.Duration, size int) {
	if sent < quickBatch || sent < stateShare*state {
		f.grown = min(2*max(f.grown, size), plan.MaxApplyBatch)
	}
}

// next reads and prepares the next batch, sized for a state holding
// that many couplings (applyBatchSize); nil when none is left.
func (f *batchFeed) next(ctx context.Context, couplings int64) (*writeBatch, error) {
	e := f.e
	for !f.exhausted {
		size := e.applyBatchSize(f.conn, couplings, f.grown)
		ops := make([]plan.Operation, 0, min(size, plan.MaxApplyBatch))
		err := e.store.Operations(ctx, f.part, f.after, size, plan.Writes, func(op plan.Operation) error {
			ops = append(ops, op)
			return nil
		})
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
		// plan's apply) would make a duplicate.
		var creates, matched []string
		for _, op := range ops {
			if op.Kind == plan.Create || op.Kind == plan.Couple {
				creates = append(creates, op.SourceID)
			}
			if op.Kind == plan.Couple {
				matched = append(matched, op.DestID)
			}
		}
		coupled, err := e.store.AlreadyCoupled(ctx, f.part.Mapping, f.side.SourceIsTable, creates)
		if err != nil {
			return nil, err
		}
		taken, err := e.store.CoupledDestinations(ctx, f.part.Mapping, f.side.SourceIsTable, matched)
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
	return f.e.store.DropIntents(context.WithoutCancel(ctx), f.target.runID, seqs)
}
