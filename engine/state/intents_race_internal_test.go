package state

import (
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
