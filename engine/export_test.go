package engine

// SetApplyBatch makes apply confirm every n operations instead of
// plan.ApplyBatch, so that a test crosses batch boundaries with few
// records. It returns a function that restores the default.
func SetApplyBatch(n int) (restore func()) {
	old := applyBatch
	applyBatch = n
	return func() { applyBatch = old }
}
