package engine

import (
	"testing"
	"time"
)

// TestApplyBatchesGrow: batches are whole rounds of the destination's
// requests, start at plan.ApplyBatch or one round, and double up to
// plan.MaxApplyBatch (in whole rounds) while a batch's writes are quick or
// not much slower than the state work; a size set by SetApplyBatch stays.
func TestApplyBatchesGrow(t *testing.T) {
	t.Parallel()
	const quick, slow = 10 * time.Millisecond, 5 * time.Second
	tests := []struct {
		name                        string
		fixed, perRequest, inFlight int
		sent, state                 time.Duration
		want                        []int
	}{
		{"single requests, quick", 0, 1, 4, quick, quick, []int{200, 400, 800, 1600, 3200, 5000, 5000}},
		{"single requests, slow", 0, 1, 4, slow, quick, []int{200, 200, 200}},
		{"slow, but the state work is a large share", 0, 1, 4, slow, 2 * time.Second, []int{200, 400, 800}},
		{"batch_size 100", 0, 100, 4, quick, quick, []int{400, 800, 1600, 3200, 4800, 4800}},
		{"batch_size 7", 0, 7, 4, quick, quick, []int{224, 448, 896, 1792, 3584, 4984}},
		{"batch_size 1000", 0, 1000, 4, quick, quick, []int{4000, 4000}},
		{"batch_size 1000, max_concurrency 8", 0, 1000, 8, quick, quick, []int{8000, 8000}},
		{"fixed", 3, 100, 4, quick, quick, []int{3, 3, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newApplyBatches(tt.fixed, tt.perRequest, tt.inFlight)
			for i, want := range tt.want {
				if b.size != want {
					t.Fatalf("batch %d: %d operations, want %d (sizes %v)", i+1, b.size, want, tt.want)
				}
				b.grow(tt.sent, tt.state)
			}
		})
	}
}
