package state

import (
	"errors"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// TestBatchTxIsAllOrNothing: rows appended through the Appender join the
// open transaction, so a batch whose later statement fails leaves none of
// them behind (RecordIntents and RecordResults rely on it: a batch's
// intents all exist, or none), and the connection goes back to the pool
// usable.
func TestBatchTxIsAllOrNothing(t *testing.T) {
	ctx := t.Context()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "state.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := Intent{RunID: 1, PlanID: "p", Mapping: "CUSTOMER", Direction: "to_integration", Op: "create", SourceID: "c", Fields: "{}", CreatedAt: time.Now()}
	boom := errors.New("boom")
	err = d.inBatchTx(ctx, func(tx *batchTx) error {
		err := tx.appendRows("", "write_intents", intentColumns, 3, func(i int, a *duckdb.Appender) error {
			return a.AppendRow(in.RunID, in.PlanID, in.Mapping, in.Direction, int64(i), in.Op, in.SourceID, nil, nil, in.Fields, nil, nil, in.CreatedAt)
		})
		if err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("inBatchTx = %v, want the error of its function", err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM write_intents`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("%d intents after a rolled-back batch, want 0", n)
	}
	// A batch that succeeds keeps all its rows.
	if err := d.RecordIntents(ctx, []Intent{in, in}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d intents after RecordIntents of 2", n)
	}
}

// TestBatchCouplings: apply's look-ups of a batch, both ways, in one query.
func TestBatchCouplings(t *testing.T) {
	ctx := t.Context()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "state.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Couple(ctx, "CUSTOMER", []Coupling{{TableID: "t1", IntegrationID: "i1"}, {TableID: "t2", IntegrationID: "i2"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Couple(ctx, "VENDOR", []Coupling{{TableID: "t3", IntegrationID: "i3"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		sourceIsTable  bool
		sources, dests []string
		coupled, taken map[string]string
	}{
		{"table to integration", true, []string{"t1", "t3", "t9"}, []string{"i2", "i3"}, map[string]string{"t1": "i1"}, map[string]string{"i2": "t2"}},
		{"integration to table", false, []string{"i1", "i3"}, []string{"t2", "t9"}, map[string]string{"i1": "t1"}, map[string]string{"t2": "i2"}},
		{"sources only", true, []string{"t2"}, nil, map[string]string{"t2": "i2"}, map[string]string{}},
		{"destinations only", true, nil, []string{"i1"}, map[string]string{}, map[string]string{"i1": "t1"}},
		{"nothing asked", true, nil, nil, map[string]string{}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coupled, taken, err := d.BatchCouplings(ctx, "CUSTOMER", tc.sourceIsTable, tc.sources, tc.dests)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(coupled, tc.coupled) || !maps.Equal(taken, tc.taken) {
				t.Errorf("coupled %v, taken %v; want %v, %v", coupled, taken, tc.coupled, tc.taken)
			}
		})
	}
}

// TestRecordResultsCouplesOncePerRecord: creates whose couplings would
// take a record coupled already, or a record an earlier result of the same
// batch takes, fail with a message, and the others are coupled: the batch
// is recorded, not refused as a whole.
func TestRecordResultsCouplesOncePerRecord(t *testing.T) {
	ctx := t.Context()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "state.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Couple(ctx, "CUSTOMER", []Coupling{{TableID: "t1", IntegrationID: "i1"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	results := []RecordResult{
		{Seq: 1, SourceID: "t2", DestID: "i2", Op: "create", Couple: true, At: now},
		{Seq: 2, SourceID: "t3", DestID: "i2", Op: "create", Couple: true, At: now}, // i2 taken by seq 1
		{Seq: 3, SourceID: "t4", DestID: "i1", Op: "create", Couple: true, At: now}, // i1 coupled to t1
		{Seq: 4, SourceID: "t1", DestID: "i5", Op: "create", Couple: true, At: now}, // t1 coupled to i1
		{Seq: 5, SourceID: "t6", DestID: "i6", Op: "create", Couple: true, At: now},
	}
	if err := d.RecordResults(ctx, 1, CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, results); err != nil {
		t.Fatal(err)
	}
	wantErr := []bool{false, true, true, true, false}
	for i, r := range results {
		if (r.Err != "") != wantErr[i] {
			t.Errorf("seq %d: error %q, want one: %v", r.Seq, r.Err, wantErr[i])
		}
	}
	got, err := d.CouplingMap(ctx, "CUSTOMER", true)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"t1": "i1", "t2": "i2", "t6": "i6"}; !maps.Equal(got, want) {
		t.Errorf("couplings %v, want %v", got, want)
	}
	var failed int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM run_records WHERE result = 'failure'`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed != 3 {
		t.Errorf("%d failures recorded, want 3", failed)
	}
}
