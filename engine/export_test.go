package engine

// SetApplyBatch makes e's applies confirm every n operations instead of
// the size applyBatchSize picks (0 goes back to it), so that a test
// crosses batch boundaries with few records. It returns a function that
// restores e's previous size.
func SetApplyBatch(e *Engine, n int) (restore func()) {
	old := e.applyBatch
	e.applyBatch = n
	return func() { e.applyBatch = old }
}
