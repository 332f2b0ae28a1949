package runner_test

import (
	"sync"
	"testing"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

// TestApplyWhileServeReads: serve's pages and read API read saved plans
// while a run applies; such a read must not fail the apply. DuckDB
// refused the apply's checkpoint while a read was under way ("other write
// transactions active") in 4 of 5 tries before the checkpoint waited for
// it.
func TestApplyWhileServeReads(t *testing.T) {
	t.Parallel()
	for range 3 {
		dir := project(t)
		ctx := t.Context()
		e, diags, err := engine.OpenProject(ctx, dir, mappings.LoadOptions{}, engine.Options{})
		if err != nil {
			t.Fatalf("open: %v\n%v", err, diags)
		}
		if err := e.Acknowledge(ctx, []string{"CUSTOMER"}); err != nil {
			t.Fatal(err)
		}
		p, err := e.Plan(ctx, engine.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.SavedPlan(ctx, p.ID, 1000); err != nil {
					t.Errorf("read during the apply: %v", err)
					return
				}
			}
		}()
		_, err = e.Apply(ctx, p.ID)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Errorf("apply while plans are read: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
