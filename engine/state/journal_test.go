package state_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// lostLog copies the state file at path and its intents journal, as a
// process killed at this moment leaves them, into a new directory, but not
// the write-ahead log: what damage to the log can cost at most. It opens
// the copy and returns it.
func lostLog(t *testing.T, path string) (*state.DB, string) {
	t.Helper()
	to := copyState(t, path, "", ".intents")
	db, err := state.Open(t.Context(), to, state.Options{})
	if err != nil {
		t.Fatalf("open the state without its log: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, to
}

// openRun opens a new state database and starts a run on it, as apply
// does before its first batch.
func openRun(t *testing.T) (db *state.DB, path string, run int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "state.duckdb")
	db, err := state.Open(t.Context(), path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if run, err = db.StartRun(t.Context(), "p1", "CUSTOMER", "to_integration", time.Now()); err != nil {
		t.Fatal(err)
	}
	return db, path, run
}

func pendingSeqs(t *testing.T, db *state.DB) []int64 {
	t.Helper()
	ins, err := db.PendingIntents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, in := range ins {
		seqs = append(seqs, in.Seq)
	}
	return seqs
}

// An apply sends a batch once its intents are recorded, before anything
// is checkpointed: a write-ahead log lost at any moment of the apply must
// not lose an intent whose write may have happened (it would be created
// again), nor bring back one known not to have happened (a create
// without a client key would then be untellable).
func TestIntentsOutliveALostLog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, run := openRun(t)
	intent := func(seq int64) state.Intent {
		return state.Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq, Op: "create",
			SourceID: "t" + string(rune('0'+seq)), Fields: `{"name":"x"}`, SourceModified: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), CreatedAt: time.Now()}
	}
	if err := db.RecordIntents(ctx, []state.Intent{intent(1), intent(2), intent(3)}); err != nil {
		t.Fatal(err)
	}
	lost, _ := lostLog(t, path)
	if got := pendingSeqs(t, lost); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("intents recorded, log lost: pending %v, want [1 2 3]", got)
	}
	ins, _ := lost.PendingIntents(ctx)
	if want := intent(1); ins[0].Fields != want.Fields || !ins[0].SourceModified.Equal(want.SourceModified) || ins[0].SourceID != want.SourceID {
		t.Errorf("restored intent %+v, want %+v", ins[0], want)
	}

	// Seq 1 happened, 2 was known not to: the result is lost with the log
	// and settled again by reading back, the drop is not.
	side := state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}
	if err := db.RecordResults(ctx, run, side, []state.RecordResult{{Seq: 1, SourceID: "t1", DestID: "i1", Op: "create", Couple: true, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := db.DropIntents(ctx, run, []int64{2}); err != nil {
		t.Fatal(err)
	}
	lost, _ = lostLog(t, path)
	if got := pendingSeqs(t, lost); !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("a result and a drop recorded, log lost: pending %v, want [1 3]", got)
	}
	// With the log, nothing is restored twice.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(ctx, path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := pendingSeqs(t, db); !slices.Equal(got, []int64{3}) {
		t.Errorf("reopened with its log: pending %v, want [3]", got)
	}

	// A run's end is checkpointed: the journal is emptied, and a lost log
	// then loses nothing.
	if err := db.RecordResults(ctx, run, side, []state.RecordResult{{Seq: 3, SourceID: "t3", DestID: "i3", Op: "create", Couple: true, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(ctx, state.Run{ID: run, Mapping: "CUSTOMER", Direction: "to_integration", FinishedAt: time.Now()}, "table", time.Now(), "", ""); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path + ".intents"); err != nil || st.Size() != 0 {
		t.Errorf("after the run's end the journal is %v, %v; want empty", st, err)
	}
	lost, _ = lostLog(t, path)
	if got := pendingSeqs(t, lost); len(got) != 0 {
		t.Errorf("after the run's end, log lost: pending %v, want none", got)
	}
}

// The journal is emptied by a checkpoint once it passes its limit, so
// that a long apply neither fills the disk with intents nor leaves the
// next open a journal of every write to read; the intents are then in the
// main file.
func TestIntentsJournalIsBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, run := openRun(t)
	db.SetJournalLimitForTest(2000)
	var largest int64
	for seq := range int64(20) {
		in := state.Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq + 1, Op: "create",
			SourceID: "t", Fields: `{"name":"` + strings.Repeat("x", 200) + `"}`, CreatedAt: time.Now()}
		if err := db.RecordIntents(ctx, []state.Intent{in}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path + ".intents")
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, st.Size())
	}
	if largest > 2000 {
		t.Errorf("the journal grew to %d bytes past its limit of 2000", largest)
	}
	lost, _ := lostLog(t, path)
	if got := pendingSeqs(t, lost); len(got) != 20 {
		t.Errorf("log lost: %d intents pending, want 20", len(got))
	}
}

// A drop is replayed too when the intent it drops was checkpointed before
// it: the intent is in the main file, its drop only in the lost log. Left
// pending, a write known not to have happened would be settled again (a
// create without a client key could then not be told apart).
func TestDroppedIntentsStayDroppedPastACheckpoint(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, run := openRun(t)
	db.SetJournalLimitForTest(1) // RecordIntents checkpoints
	var batch []state.Intent
	for seq := range int64(3) {
		batch = append(batch, state.Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq + 1, Op: "create", SourceID: "t", Fields: `{}`, CreatedAt: time.Now()})
	}
	if err := db.RecordIntents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := db.DropIntents(ctx, run, []int64{1, 3}); err != nil {
		t.Fatal(err)
	}
	lost, _ := lostLog(t, path)
	if got := pendingSeqs(t, lost); !slices.Equal(got, []int64{2}) {
		t.Errorf("intents checkpointed, then 1 and 3 dropped, log lost: pending %v, want [2]", got)
	}
}

// journalOf makes a state file whose journal holds two batches of
// intents not in the file, and returns the file's path and the journal's
// bytes; with older, the file is as it was before the intents' run began
// (a backup restored over it).
func journalOf(t *testing.T, older bool) (string, []byte) {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	db, err := state.Open(ctx, path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	backup, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	run, err := db.StartRun(ctx, "p1", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for seq := range int64(2) {
		in := state.Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq + 1, Op: "create", SourceID: "t", Fields: `{}`, CreatedAt: time.Now()}
		if err := db.RecordIntents(ctx, []state.Intent{in}); err != nil {
			t.Fatal(err)
		}
	}
	// As a process killed now leaves them, without the log.
	journal, err := os.ReadFile(path + ".intents")
	if err != nil {
		t.Fatal(err)
	}
	main, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if older {
		main = backup
	}
	out := filepath.Join(t.TempDir(), "state.duckdb")
	if err := os.WriteFile(out, main, 0o644); err != nil {
		t.Fatal(err)
	}
	return out, journal
}

// A journal is read as carefully as the log: a last entry cut short is
// what a crash while appending it leaves (its batch was never sent), and
// is left out; damage before the last entry is refused, both files left
// as they were; a journal left beside another database is never applied,
// nor the intents of a run its database does not hold.
func TestIntentsJournalDamage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		damage  func(j []byte) []byte
		other   bool // the journal is put beside another database
		older   bool // beside the database as it was before the journal's run
		pending []int64
		err     string
	}{
		{name: "whole", damage: func(j []byte) []byte { return j }, pending: []int64{1, 2}},
		{name: "last entry cut short", damage: func(j []byte) []byte { return j[:len(j)-5] }, pending: []int64{1}},
		{name: "last entry's header cut short", damage: func(j []byte) []byte { return j[:lastFrame(j)+3] }, pending: []int64{1}},
		{name: "last entry flipped", damage: func(j []byte) []byte { j[len(j)-2] ^= 0xff; return j }, pending: []int64{1}},
		{name: "an earlier entry flipped", damage: func(j []byte) []byte { j[lastFrame(j)-3] ^= 0xff; return j }, err: "intents journal"},
		{name: "zeros after the last entry", damage: func(j []byte) []byte { return append(j, make([]byte, 64)...) }, pending: []int64{1, 2}},
		{name: "garbage after the last entry", damage: func(j []byte) []byte { return append(j, 3, 0, 0, 0, 9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8) }, pending: []int64{1, 2}},
		{name: "an earlier entry's length flipped", damage: func(j []byte) []byte { j[frames(j)[1]+1] ^= 0x01; return j }, err: "intents journal"},
		{name: "another database's", damage: func(j []byte) []byte { return j }, other: true},
		{name: "beside an older copy of its database", damage: func(j []byte) []byte { return j }, older: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, journal := journalOf(t, tc.older)
			if tc.other {
				path = filepath.Join(t.TempDir(), "state.duckdb")
			}
			damaged := tc.damage(bytes.Clone(journal))
			if err := os.WriteFile(path+".intents", damaged, 0o644); err != nil {
				t.Fatal(err)
			}
			db, err := state.Open(t.Context(), path, state.Options{})
			if tc.err != "" {
				if err == nil || !errors.Is(err, state.ErrUnusable) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("open: %v; want it refused as unusable, naming the %s", err, tc.err)
				}
				if got, _ := os.ReadFile(path + ".intents"); !bytes.Equal(got, damaged) {
					t.Error("the refused journal was changed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := pendingSeqs(t, db); !slices.Equal(got, tc.pending) {
				t.Errorf("pending %v, want %v", got, tc.pending)
			}
			if tc.other {
				kept, _ := filepath.Glob(path + ".intents.foreign-*")
				if len(kept) != 1 {
					t.Errorf("the other database's journal was not moved aside: %v", kept)
				}
			}
		})
	}
}

// frames returns where the journal's frames start.
func frames(j []byte) []int {
	var at []int
	for off := 0; off+12 <= len(j); off += 12 + int(binary.LittleEndian.Uint32(j[off:])) {
		at = append(at, off)
	}
	return at
}

// lastFrame returns where the journal's last frame starts.
func lastFrame(j []byte) int {
	f := frames(j)
	return f[len(f)-1]
}

// An apply's intents go to the journal, not through DuckDB's log: written
// there too, they were most of what an apply logged, and DuckDB
// checkpoints (rewriting the couplings' indexes whole) each time its log
// passes 16 MiB. They are listed pending all the same.
func TestIntentsStayOutOfTheLog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, run := openRun(t)
	walSize := func() int64 {
		st, err := os.Stat(path + ".wal")
		if errors.Is(err, os.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := walSize()
	var batch []state.Intent
	fields := `{"name":"` + strings.Repeat("x", 2000) + `"}`
	for seq := range int64(200) {
		batch = append(batch, state.Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq + 1, Op: "create",
			SourceID: "t", Fields: fields, CreatedAt: time.Now()})
	}
	if err := db.RecordIntents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if grown := walSize() - before; grown > 40_000 {
		t.Errorf("recording 200 intents of 2 KB grew the write-ahead log by %d bytes, want them in the journal alone", grown)
	}
	if got := pendingSeqs(t, db); len(got) != 200 {
		t.Errorf("%d intents pending, want 200", len(got))
	}
}

// Intents held pending are written into the database by a checkpoint
// (here another run's start) and by Close, and settled all the same: once
// their results are recorded, no open finds them pending, with or without
// the log.
func TestPendingIntentsPastACheckpointOrAClose(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, run := openRun(t)
	side := state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}
	intent := func(seq int64) state.Intent {
		return state.Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq, Op: "create",
			SourceID: "t" + string(rune('0'+seq)), Fields: `{}`, CreatedAt: time.Now()}
	}
	if err := db.RecordIntents(ctx, []state.Intent{intent(1), intent(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.StartRun(ctx, "p1", "VENDOR", "to_integration", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := pendingSeqs(t, db); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("past a checkpoint: pending %v, want [1 2]", got)
	}
	if err := db.RecordIntents(ctx, []state.Intent{intent(3)}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordResults(ctx, run, side, []state.RecordResult{{Seq: 1, SourceID: "t1", DestID: "i1", Op: "create", Couple: true, At: time.Now()},
		{Seq: 3, SourceID: "t3", DestID: "i3", Op: "create", Couple: true, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if got := pendingSeqs(t, db); !slices.Equal(got, []int64{2}) {
		t.Errorf("1 and 3 settled: pending %v, want [2]", got)
	}
	if err := db.RecordIntents(ctx, []state.Intent{intent(4)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path + ".intents"); err != nil || st.Size() != 0 {
		t.Errorf("after Close the journal is %v, %v; want it emptied into the file", st, err)
	}
	db, err := state.Open(ctx, path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := pendingSeqs(t, db); !slices.Equal(got, []int64{2, 4}) {
		t.Errorf("reopened: pending %v, want [2 4]", got)
	}
	if err := db.RecordResults(ctx, run, side, []state.RecordResult{{Seq: 2, SourceID: "t2", DestID: "i2", Op: "create", Couple: true, At: time.Now()},
		{Seq: 4, SourceID: "t4", DestID: "i4", Op: "create", Couple: true, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	lost, _ := lostLog(t, path)
	// Their results were in the log alone: settled again by reading back.
	if got := pendingSeqs(t, lost); !slices.Equal(got, []int64{2, 4}) {
		t.Errorf("settled, log lost: pending %v, want [2 4], settled since the last checkpoint", got)
	}
	if got := pendingSeqs(t, db); len(got) != 0 {
		t.Errorf("all settled: pending %v, want none", got)
	}
}
