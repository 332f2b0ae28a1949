package engine

import (
	"context"
	"fmt"

	"github.com/couplerhq/coupler/engine/state"
)

// SearchCouplings lists the couplings of mapping whose ids or display
// values contain q (all when q is empty), limit from offset, for coupler
// serve's couplings view (state.DB.SearchCouplings).
func (e *Engine) SearchCouplings(ctx context.Context, mapping, q string, offset, limit int) (state.CouplingPage, error) {
	if err := e.CheckMapping(mapping); err != nil {
		return state.CouplingPage{}, err
	}
	if offset < 0 || limit < 0 {
		return state.CouplingPage{}, fmt.Errorf("offset %d and limit %d must not be negative", offset, limit)
	}
	return e.store.SearchCouplings(ctx, mapping, q, offset, limit)
}
