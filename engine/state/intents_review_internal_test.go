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

func reviewDB(t *testing.T) (*DB, int64) {
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
	durableDone := make(chan error, 1)
	go func() { durableDone <- db.durable(t.Context()) }()
	waitBlocked(t, "(*DB).durable")
	done := make(chan struct{})
	go func() { defer close(done); second() }()
	waitBlocked(t, blockedIn)
	db.journal.mu.Unlock()
	if err := <-durableDone; err != nil {
		t.Fatal(err)
	}
	<-done
}

// REVIEW: PendingIntents reads write_intents, then (under the journal's
// lock) the intents held in memory. A checkpoint (durable) between the two
// moves them from memory into the table: neither read sees them. coupler
// serve's /api/intents (coupler state intents through serve) runs while an
// apply's RecordIntents checkpoints a full journal, with two batches'
// intents pending. Before 98ad2ee it was one SELECT, one snapshot.
//
// Made deterministic with the journal's lock: durable queues for it
// first, then PendingIntents does its SELECT and queues behind it.
func TestReviewPendingIntentsMissesIntentsDuringACheckpoint(t *testing.T) {
	t.Parallel()
	db, _ := reviewDB(t)
	var ins []Intent
	var err error
	afterQueuedCheckpoint(t, db, "(*journal).pendingIntents", func() { ins, err = db.PendingIntents(t.Context()) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 {
		t.Errorf("PendingIntents during a checkpoint listed %d intents, want the 1 in flight", len(ins))
	}
}

// REVIEW: DropIntents deletes from write_intents outside the journal's
// lock, then journals the drop and forgets it in memory under the lock.
// A checkpoint in between writes the intent, still in memory, into the
// table, where the DELETE, already run, never removes it: a write known
// not to have happened is pending again, and once a later checkpoint
// empties the journal (here a run's start) its drop is gone and no reopen
// removes it. RecordResults holds the lock across its transaction for
// exactly this reason; DropIntents does not. (Latent: today's callers of
// DropIntents and durable are on one goroutine.)
func TestReviewDropIntentsRacingACheckpointBringsTheIntentBack(t *testing.T) {
	t.Parallel()
	db, run := reviewDB(t)
	var err error
	afterQueuedCheckpoint(t, db, "(*journal).drop", func() { err = db.DropIntents(t.Context(), run, []int64{1}) })
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
