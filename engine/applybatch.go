package engine

import (
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
)

// applyBatchQuick is how long a batch's writes may take for the next batch
// to be twice as large: below it, the state database's confirmation of a
// batch (a checkpoint, which grows with the couplings) is a large share of
// the batch, and fewer, larger batches make apply faster; above it, a
// larger batch would gain little and keep coupler serve's drain, which
// waits for the batch under way, waiting longer.
const applyBatchQuick = time.Second

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
	if e.applyBatch > 0 {
		return &applyBatches{size: e.applyBatch, max: e.applyBatch, fixed: true}
	}
	perRequest, inFlight := 1, 1
	if b, ok := conn.(connectors.WriteBatcher); ok {
		perRequest, inFlight = b.WriteBatching(entity)
	}
	round := max(perRequest, 1) * max(inFlight, 1)
	first := (plan.ApplyBatch + round - 1) / round * round
	return &applyBatches{size: first, max: max(first, plan.MaxApplyBatch/round*round)}
}

// grow takes how long the last batch's writes took, and doubles the size
// when that was quick.
func (b *applyBatches) grow(took time.Duration) {
	if !b.fixed && took < applyBatchQuick {
		b.size = min(2*b.size, b.max)
	}
}
