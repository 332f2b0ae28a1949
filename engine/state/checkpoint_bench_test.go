package state

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCheckpointPlanSaved is the checkpoint before an apply's first
// write (the plan saved, written into the file), for a plan of 10,000
// operations with no plan kept before it and with ten such plans kept
// (coupler plans prune keeps 20 by default). Each round's plan is
// removed again, and that checkpointed, untimed.
//
//	go test ./engine/state -run '^$' -bench CheckpointPlanSaved -benchtime 20x
func BenchmarkCheckpointPlanSaved(b *testing.B) {
	const ops = 10_000
	for _, kept := range []int{0, 10} {
		b.Run(fmt.Sprintf("kept=%d", kept), func(b *testing.B) {
			ctx := b.Context()
			d := openTestDB(b)
			save := func(planID string) {
				b.Helper()
				_, err := d.db.ExecContext(ctx, `INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id, source_modified, source_display)
					SELECT ?, 'CUSTOMER', 'to_integration', i, 'create', 'C' || lpad(i::VARCHAR, 6, '0'), TIMESTAMP '2026-12-01' + to_seconds(i),
						'[{"field":"name","value":"Customer ' || i || '"}]'
					FROM range(1, ?) t(i)`, planID, ops+1)
				if err != nil {
					b.Fatal(err)
				}
			}
			for k := range kept {
				save(fmt.Sprintf("plan-kept-%02d", k))
			}
			if err := d.durable(ctx); err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				id := fmt.Sprintf("plan-new-%04d", i)
				save(id)
				b.StartTimer()
				if err := d.durable(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := d.db.ExecContext(ctx, `DELETE FROM plan_operations WHERE plan_id = ?`, id); err != nil {
					b.Fatal(err)
				}
				if err := d.durable(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkStartRunWithRunLog is starting a run, which checkpoints (its
// start must be in the main file before its first write), with a run log
// of 1,000 and of 100,000 runs: serve starts one a mapping and direction
// at every cycle, and the log is never pruned.
//
//	go test ./engine/state -run '^$' -bench StartRunWithRunLog -benchtime 20x
func BenchmarkStartRunWithRunLog(b *testing.B) {
	for _, logged := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("runs=%d", logged), func(b *testing.B) {
			ctx := b.Context()
			d := openTestDB(b)
			_, err := d.db.ExecContext(ctx, `INSERT INTO runs (id, plan_id, mapping, direction, started_at, finished_at)
				SELECT nextval('run_ids'), 'plan-' || i, 'CUSTOMER', 'to_integration', TIMESTAMP '2026-01-01' + to_seconds(60 * i), TIMESTAMP '2026-01-01' + to_seconds(60 * i + 5)
				FROM range(?) t(i)`, logged)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.durable(ctx); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := d.StartRun(ctx, "plan-new", "CUSTOMER", "to_integration", time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckpointCouplingAdded is the checkpoint after one record is
// coupled, with 1,000 and 100,000 couplings in the state: what an apply
// that creates anything pays after its run's end. Until schema version 12
// the couplings' two unique indexes were written whole again each time
// (docs/performance.md).
//
//	go test ./engine/state -run '^$' -bench CheckpointCouplingAdded -benchtime 20x
func BenchmarkCheckpointCouplingAdded(b *testing.B) {
	for _, coupled := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("couplings=%d", coupled), func(b *testing.B) {
			ctx := b.Context()
			d := openTestDB(b)
			_, err := d.db.ExecContext(ctx, `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at)
				SELECT 'CUSTOMER', 'C' || lpad(i::VARCHAR, 7, '0'), '00000000-0000-4000-8000-' || lpad(i::VARCHAR, 12, '0'), TIMESTAMP '2026-01-01'
				FROM range(?) t(i)`, coupled)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.durable(ctx); err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				if err := d.CoupleOne(ctx, "CUSTOMER", fmt.Sprintf("N%07d", i), fmt.Sprintf("new-%07d", i)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := d.durable(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
