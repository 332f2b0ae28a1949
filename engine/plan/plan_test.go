package plan

import "testing"

// TestApplyBatches: how many batches the report says an apply of n
// writes takes at least: 200, then twice the batch before, up to 5,000.
func TestApplyBatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, want int64 }{
		{0, 0}, {1, 1}, {200, 1}, {201, 2}, {600, 2}, {601, 3}, {10_000, 6}, {100_000, 24},
	} {
		if got := ApplyBatches(tc.n); got != tc.want {
			t.Errorf("ApplyBatches(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}
