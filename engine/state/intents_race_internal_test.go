package state

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// waitBlocked returns once some goroutine is parked on a sync.Mutex with
// fn on its stack. Not a sleep: it polls the goroutines' stacks, yielding.
func waitBlocked(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "[sync.Mutex.Lock") && strings.Contains(g, fn) {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("no goroutine blocked in %s", fn)
}

func inFlightDB(t *testing.T) (*DB, int64) {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "state.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	run, err := db.StartRun(t.Context(), "p1", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in := Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: 1, Op: "create",
		SourceID: "t", Fields: `{}`, CreatedAt: time.Now()}
	if err := db.RecordIntents(t.Context(), []Intent{in}); err != nil {
		t.Fatal(err)
	}
	return db, run
}

// afterQueuedCheckpoint runs a checkpoint (durable) queued for the
// journal's lock before second, which runs until it blocks on that lock
// in the function named blockedIn: second's work before the lock is done
// before the checkpoint, the rest after it.
func afterQueuedCheckpoint(t *testing.T, db *DB, blockedIn string, second func()) {
	t.Helper()
	db.journal.mu.Lock()
	locked := true
	defer func() {
		if locked { // a wait failed: the test ends, and must not leave the lock held
			db.journal.mu.Unlock()
		}
	}()
	durableDone := make(chan error, 1)
	go func() { durableDone <- db.durable(t.Context()) }()
	waitBlocked(t, "(*DB).durable")
	done := make(chan struct{})
	go func() { defer close(done); second() }()
	waitBlocked(t, blockedIn)
	locked = false
	db.journal.mu.Unlock()
	if err := <-durableDone; err != nil {
		t.Fatal(err)
	}
	<-done
}

// PendingIntents reads write_intents and the intents held in memory; a
// checkpoint (durable) between the two reads would move the intents into
// the table after it was read, and neither read would list them (coupler
// serve's /api/intents while an apply's RecordIntents checkpoints a full
// journal). Made deterministic with the journal's lock: durable queues
// for it first, then PendingIntents.
func TestPendingIntentsListedDuringACheckpoint(t *testing.T) {
	t.Parallel()
	db, _ := inFlightDB(t)
	var ins []Intent
	var err error
	afterQueuedCheckpoint(t, db, "(*DB).PendingIntents", func() { ins, err = db.PendingIntents(t.Context()) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 {
		t.Errorf("PendingIntents during a checkpoint listed %d intents, want the 1 in flight", len(ins))
	}
}

// DropIntents deletes from write_intents, then journals the drop and
// forgets the intents in memory. A checkpoint in between would write them,
// still in memory, into the table, where nothing deletes them again: a
// write known not to have happened would be pending again, past the next
// checkpoint and any reopen.
func TestDroppedIntentsStayDroppedDuringACheckpoint(t *testing.T) {
	t.Parallel()
	db, run := inFlightDB(t)
	var err error
	afterQueuedCheckpoint(t, db, "(*DB).DropIntents", func() { err = db.DropIntents(t.Context(), run, []int64{1}) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.StartRun(t.Context(), "p1", "VENDOR", "to_integration", time.Now()); err != nil {
		t.Fatal(err)
	}
	ins, err := db.PendingIntents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 0 {
		t.Errorf("intent 1 dropped: %d pending after a checkpoint, want none", len(ins))
	}
}

// coupler serve's read API (the sealed DB.Query) shows the writes in
// flight, their intents held in memory, in write_intents, and reads "the
// database as the last commit left it, without waiting for the writes
// under way": not by a checkpoint, which waits for a write transaction
// under way (here one that updates and deletes, as a plan's does) while
// holding the journal's lock, and the apply with it.
func TestSealedQueryShowsWritesInFlightWithoutWaiting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), filepath.Join(dir, "state.duckdb"), Options{Sealed: true, Scratch: scratch})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, err := db.StartRun(t.Context(), "p1", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in := Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: 1, Op: "create",
		SourceID: "t", Fields: `{}`, CreatedAt: time.Now()}
	if err := db.RecordIntents(t.Context(), []Intent{in}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(t.Context(), `INSERT INTO meta VALUES ('u', 'x'), ('d', 'x')`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range []string{`UPDATE meta SET value = 'y' WHERE key = 'u'`, `DELETE FROM meta WHERE key = 'd'`} {
		if _, err := tx.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	// Were the query to wait for the transaction above, it would wait for
	// ever: the bound only turns that hang into a failure.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var n int64
	err = db.Query(ctx, `SELECT count(*) FROM write_intents`, func(_ []string, row []any) error {
		if row != nil {
			n = row[0].(int64)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Errorf("serve's SQL during an apply with a write in flight and a write transaction under way: %d rows in write_intents, %v; want 1 at once", n, err)
	}
	// Nothing of the view stays on the connection: coupler's own
	// statements read the table.
	for range 4 {
		var kind string
		if err := db.db.QueryRowContext(t.Context(), `SELECT table_type FROM information_schema.tables WHERE table_name = 'write_intents'`).Scan(&kind); err != nil || kind != "BASE TABLE" {
			t.Errorf("after the query, write_intents on a pooled connection is %q, %v; want the table", kind, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Errorf("the write under way, after serve's query: %v", err)
	}
}
