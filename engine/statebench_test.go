package engine_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// BenchmarkRecordBatch records one batch of 200 creates as apply does (its
// intents, journalled, then its results with their couplings) on a state
// already holding COUPLER_BENCH_RECORDS couplings (default 100,000): the
// state database's cost per batch.
//
//	go test ./engine -run '^$' -bench RecordBatch -benchtime 20x
func BenchmarkRecordBatch(b *testing.B) {
	n := benchRecords(b)
	path := filepath.Join(b.TempDir(), "state.duckdb")
	db, err := state.Open(b.Context(), path, state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	pairs := make([]state.Coupling, n)
	for i := range pairs {
		pairs[i] = state.Coupling{TableID: "c" + strconv.Itoa(i), IntegrationID: accountID(i)}
	}
	if err := db.Couple(b.Context(), "CUSTOMER", pairs); err != nil {
		b.Fatal(err)
	}
	run, err := db.StartRun(b.Context(), "p1", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	side := state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}
	const batch = 200
	seq := int64(0)
	b.ResetTimer()
	for b.Loop() {
		intents := make([]state.Intent, batch)
		results := make([]state.RecordResult, batch)
		for i := range intents {
			seq++
			id := "new" + strconv.FormatInt(seq, 10)
			intents[i] = state.Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq, Op: "create",
				SourceID: id, Fields: `{"name":"x"}`, CreatedAt: time.Now()}
			results[i] = state.RecordResult{Seq: seq, SourceID: id, DestID: accountID(n + int(seq)), Op: "create", Couple: true, At: time.Now()}
		}
		if err := db.RecordIntents(b.Context(), intents); err != nil {
			b.Fatal(err)
		}
		if err := db.RecordResults(b.Context(), run, side, results); err != nil {
			b.Fatal(err)
		}
	}
}
