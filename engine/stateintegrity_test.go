package engine_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// stateFiles reads a state file and its write-ahead log (nil when absent).
func stateFiles(t *testing.T, path string) (main, wal []byte) {
	t.Helper()
	main, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal, err = os.ReadFile(path + ".wal")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return main, wal
}

// stateWithWAL makes a state file with a coupling, then commits more
// couplings that stay in the write-ahead log only, as a process killed
// before DuckDB checkpointed leaves them.
func stateWithWAL(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	db := openState(t, path)
	if err := db.CoupleOne(t.Context(), "CUSTOMER", "t0", "i0"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	stmts := []string{`PRAGMA disable_checkpoint_on_shutdown`}
	for i := 1; i <= 3; i++ {
		stmts = append(stmts, `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at) VALUES ('CUSTOMER', 't`+strconv.Itoa(i)+`', 'i`+strconv.Itoa(i)+`', now())`)
	}
	rawExec(t, path, stmts...)
	if _, wal := stateFiles(t, path); len(wal) == 0 {
		t.Fatal("fixture has no write-ahead log")
	}
	return path
}

// refusedUntouched opens path, which must be refused as unusable with an
// error naming want and the backup procedure, both files left as they were.
func refusedUntouched(t *testing.T, path, want string) {
	t.Helper()
	main, wal := stateFiles(t, path)
	db, err := state.Open(context.Background(), path, state.Options{})
	if err == nil {
		db.Close()
		t.Fatal("a damaged state file was opened")
	}
	if !errors.Is(err, state.ErrUnusable) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "coupler state backup") {
		t.Errorf("error %q: want ErrUnusable naming %s and coupler state backup", err, want)
	}
	main2, wal2 := stateFiles(t, path)
	if !bytes.Equal(main, main2) || !bytes.Equal(wal, wal2) {
		t.Errorf("the refused files were changed (state file %v, log %v)", bytes.Equal(main, main2), bytes.Equal(wal, wal2))
	}
}

// A byte flipped inside an entry of the write-ahead log fails the entry's
// checksum: refused, and neither file is touched (DuckDB would otherwise
// fold what it can into the state file and delete the log).
func TestStateRefusesDamagedWAL(t *testing.T) {
	t.Parallel()
	for _, back := range []int{1, 40, 100} {
		t.Run(strconv.Itoa(back), func(t *testing.T) {
			path := stateWithWAL(t)
			_, wal := stateFiles(t, path)
			wal[len(wal)-back] ^= 0xff
			if err := os.WriteFile(path+".wal", wal, 0o644); err != nil {
				t.Fatal(err)
			}
			refusedUntouched(t, path, path+".wal")
		})
	}
}

// A zeroed data block is not noticed when DuckDB opens a file, only when
// a query reads it: coupler reads every table at open and refuses.
func TestStateRefusesDamagedBlock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	db := openState(t, path)
	pairs := make([]state.Coupling, 20000)
	for i := range pairs {
		pairs[i] = state.Coupling{TableID: "customer-" + strconv.Itoa(i), IntegrationID: "00000000-0000-0000-0000-" + strconv.Itoa(100000000000+i)}
	}
	if err := db.Couple(t.Context(), "CUSTOMER", pairs); err != nil {
		t.Fatal(err)
	}
	db.Close()
	block, err := strconv.ParseInt(rawQuery(t, path, `SELECT max(block_id) FROM pragma_storage_info('couplings') WHERE column_name = 'integration_id' AND block_id >= 0`), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := stateFiles(t, path)
	// DuckDB's layout: three 4 KiB headers, then blocks of the size the
	// file was made with.
	const header, blockSize = 3 * 4096, state.BlockSize
	off := header + block*blockSize
	clear(data[off : off+blockSize])
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	refusedUntouched(t, path, "table couplings")
}

// A log cut short is what a crash while committing leaves: its complete
// part is replayed, with a warning, and the log kept beside the file.
func TestStateTornWALReplaysCompletePart(t *testing.T) {
	t.Parallel()
	path := stateWithWAL(t)
	_, wal := stateFiles(t, path)
	if err := os.WriteFile(path+".wal", wal[:len(wal)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	db, err := state.Open(t.Context(), path, state.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.CouplingCount(t.Context(), "CUSTOMER")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 || n > 3 {
		t.Errorf("%d couplings after replaying two thirds of a log of three; want the first and what the log held whole", n)
	}
	if !strings.Contains(logs.String(), "incomplete entry") || !strings.Contains(logs.String(), path+".wal") {
		t.Errorf("no warning naming the log: %s", logs.String())
	}
	kept, _ := filepath.Glob(path + ".wal.torn-*")
	if len(kept) != 1 {
		t.Fatalf("copies of the torn log: %v", kept)
	}
	if got, _ := os.ReadFile(kept[0]); !bytes.Equal(got, wal[:len(wal)*2/3]) {
		t.Error("the copy of the torn log differs from it")
	}
}

// A run's end is checkpointed into the state file: the write-ahead log,
// which DuckDB replays without a word up to the first damaged entry, holds
// nothing of the run then. (A batch's intents, sent before the run ends,
// are kept safe from the log's damage by the intents journal:
// engine/state's TestIntentsOutliveALostLog.)
func TestStateWritesAreCheckpointed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	db := openState(t, path)
	defer db.Close()
	ctx := t.Context()
	walEmpty := func(step string) {
		t.Helper()
		if _, wal := stateFiles(t, path); len(wal) > 0 {
			t.Errorf("after %s the write-ahead log holds %d bytes", step, len(wal))
		}
	}
	run, err := db.StartRun(ctx, "p1", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in := state.Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: 1, Op: "create", SourceID: "t1", Fields: `{}`, CreatedAt: time.Now()}
	if err := db.RecordIntents(ctx, []state.Intent{in}); err != nil {
		t.Fatal(err)
	}
	side := state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}
	if err := db.RecordResults(ctx, run, side, []state.RecordResult{{Seq: 1, SourceID: "t1", DestID: "i1", Op: "create", Couple: true, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	in.Seq, in.SourceID = 2, "t2"
	if err := db.RecordIntents(ctx, []state.Intent{in}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordResults(ctx, run, side, []state.RecordResult{{Seq: 2, SourceID: "t2", DestID: "i2", Op: "create", Couple: true, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(ctx, state.Run{ID: run, Mapping: "CUSTOMER", Direction: "to_integration", FinishedAt: time.Now()}, "table", time.Now(), "", ""); err != nil {
		t.Fatal(err)
	}
	walEmpty("FinishRun")
}

// A create or match whose destination record is coupled to another source
// record already is refused by the couplings' uniqueness; the message must
// name the side that is coupled, not blame the source.
func TestCouplingConflictNamesTheCoupledSide(t *testing.T) {
	t.Parallel()
	db := openState(t, filepath.Join(t.TempDir(), "state.duckdb"))
	defer db.Close()
	ctx := t.Context()
	for _, pair := range [][2]string{{"t1", "i1"}, {"t2", "i2"}} {
		if err := db.CoupleOne(ctx, "CUSTOMER", pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
	}
	run, err := db.StartRun(ctx, "p1", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	results := []state.RecordResult{
		{Seq: 1, SourceID: "t3", DestID: "i1", Op: "create", Couple: true, At: time.Now()},
		{Seq: 2, SourceID: "t4", DestID: "i2", Op: "couple", Couple: true, At: time.Now()},
		{Seq: 3, SourceID: "t1", DestID: "i5", Op: "create", Couple: true, At: time.Now()},
	}
	side := state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}
	if err := db.RecordResults(ctx, run, side, results); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"destination record is coupled to source record t1", "destination record is coupled to source record t2", "source record was coupled to i1"} {
		if !strings.Contains(results[i].Err, want) {
			t.Errorf("result %d: %q, want it to say %q", i+1, results[i].Err, want)
		}
	}
	// One batch naming a destination twice: the first in order is coupled,
	// the second is refused naming it.
	twice := []state.RecordResult{
		{Seq: 4, SourceID: "t6", DestID: "i7", Op: "couple", Couple: true, At: time.Now()},
		{Seq: 5, SourceID: "t8", DestID: "i7", Op: "couple", Couple: true, At: time.Now()},
	}
	if err := db.RecordResults(ctx, run, side, twice); err != nil {
		t.Fatal(err)
	}
	if twice[0].Err != "" || !strings.Contains(twice[1].Err, "destination record is coupled to source record t6") {
		t.Errorf("a destination named twice in one batch: %q, %q; want the first coupled, the second refused naming t6", twice[0].Err, twice[1].Err)
	}
}
