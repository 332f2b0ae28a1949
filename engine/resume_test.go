package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// interruptedPlan makes a plan of creates and applies it in process until
// the at-th request, where the apply's context is cancelled: the plan is
// left applying.
func interruptedPlan(t *testing.T, at int) (*crashWorld, *plan.Plan) {
	t.Helper()
	w := newCrashWorld(t, crashScenarios[0])
	// Batches of two for this apply only: the caller resumes in the
	// default size.
	defer engine.SetApplyBatch(w.e, 2)()
	p, err := w.e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w.ks.arm(at, true, cancel)
	if _, err := w.e.Apply(ctx, p.ID); err == nil {
		t.Fatal("the interrupted apply succeeded")
	}
	w.ks.arm(0, false, nil)
	got, err := w.e.State().LoadPlan(t.Context(), p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != plan.Applying {
		t.Fatalf("interrupted plan is %s, want applying", got.Status)
	}
	return w, p
}

func TestInterruptedApplyResumesWithoutRepeating(t *testing.T) {
	t.Parallel()
	w, p := interruptedPlan(t, 3)
	before := w.crm.Len("accounts")
	if before == 0 || before == 6 {
		t.Fatalf("%d accounts after the interruption; want some, not all", before)
	}
	w.ks.arm(0, false, nil)
	// Pruning every old plan keeps the one an apply must resume.
	if _, err := w.e.State().PrunePlans(t.Context(), time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	res, err := w.e.Apply(t.Context(), "") // the latest plan: the interrupted one
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if res.PlanID != p.ID {
		t.Errorf("resumed plan %s, want %s", res.PlanID, p.ID)
	}
	if got := w.crm.Len("accounts"); got != 6 {
		t.Errorf("%d accounts after resuming, want 6", got)
	}
	// Only the writes not done before were sent again.
	if sent := w.ks.requests(); sent > 6-before+1 {
		t.Errorf("resuming sent %d requests for %d missing records", sent, 6-before)
	}
	runs, err := w.e.State().Runs(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Inserted != 6 || runs[0].FinishedAt.IsZero() {
		t.Errorf("runs after resuming: %+v; want one finished run with 6 inserted", runs)
	}
	if _, err := w.e.Apply(t.Context(), p.ID); err == nil {
		t.Error("an applied plan was applied again")
	}
}

func TestInterruptedPlanIsStaleOnceAnotherIsApplied(t *testing.T) {
	t.Parallel()
	w, p := interruptedPlan(t, 2)
	w.sync(t) // settles, plans afresh, applies
	if got := w.crm.Len("accounts"); got != 6 {
		t.Errorf("%d accounts after planning afresh, want 6", got)
	}
	_, err := w.e.Apply(t.Context(), p.ID)
	if !errors.Is(err, engine.ErrStalePlan) {
		t.Errorf("resuming the interrupted plan after another was applied: %v, want stale", err)
	}
	if got := w.crm.Len("accounts"); got != 6 {
		t.Errorf("%d accounts after the refused resume, want 6", got)
	}
	// No longer resumable, it is pruned like any old plan.
	if _, err := w.e.State().PrunePlans(t.Context(), time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.State().LoadPlan(t.Context(), p.ID, 0); err == nil {
		t.Errorf("the interrupted plan %s, stale since another was applied, survived pruning", p.ID)
	}
}

// A record whose create fails twice in a row with the same server error is
// not skipped, as a record the server refuses would be: the failure says
// nothing about the record.
func TestTemporaryFailuresAreNeverSkipped(t *testing.T) {
	t.Parallel()
	w := newCrashWorld(t, crashScenarios[0])
	w.ks.mu.Lock()
	w.ks.refusePosts = true
	w.ks.mu.Unlock()
	for range 3 {
		p, err := w.e.Plan(t.Context(), engine.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Totals()[plan.Create]; got != 6 {
			t.Fatalf("plan %s: %d creates, want 6 (none skipped): %v", p.ID, got, p.Totals())
		}
		res, err := w.e.Apply(t.Context(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failures) != 6 || !strings.HasPrefix(res.Failures[0].Message, "temporary failure: ") {
			t.Fatalf("failures %+v, want 6 temporary ones", res.Failures)
		}
	}
	w.ks.mu.Lock()
	w.ks.refusePosts = false
	w.ks.mu.Unlock()
	w.sync(t)
	if got := w.crm.Len("accounts"); got != 6 {
		t.Errorf("%d accounts once the server works again, want 6", got)
	}
}

// Two source records that write the same values, one created with an
// answer and one whose answer was lost: the lost one is settled on the
// record it made, not on its twin's. The twins differ in their numbers,
// which Business Central keeps unique, and the mapping leaves the number
// out, so that what they write is the same.
func TestLostCreateIsNotSettledOnItsTwin(t *testing.T) {
	t.Parallel()
	sc := crashScenarios[0]
	sc.mapping = strings.Replace(crashOneWay, "  - { field: number, integration_field: accountnumber }\n", "", 1)
	w := newCrashWorld(t, sc)
	for i, email := range []string{"a@example.com", "b@example.com"} {
		if _, err := w.erp.Put("customers", connectors.Record{"number": fmt.Sprintf("C-TWIN-%d", i), "displayName": "Twin", "city": "Oslo", "email": email}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	twins := 0
	w.ks.mu.Lock()
	w.ks.lose = func(r *http.Request, body []byte) bool {
		if r.Method != http.MethodPost || !bytes.Contains(body, []byte(`"Twin"`)) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		twins++
		return twins == 2
	}
	w.ks.mu.Unlock()
	w.sync(t)
	if twins != 2 {
		t.Fatalf("%d twin creates sent, want 2", twins)
	}
	if got := w.crm.Len("accounts"); got != 8 {
		t.Errorf("%d accounts, want 8", got)
	}
	c2a, err := w.e.State().CouplingMap(t.Context(), "CUSTOMER", true)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range c2a {
		if seen[a] {
			t.Errorf("account %s coupled twice", a)
		}
		seen[a] = true
	}
	if len(c2a) != 8 {
		t.Errorf("%d couplings, want 8", len(c2a))
	}
	p, err := w.e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasChanges() {
		t.Errorf("the next plan has work: %v", p.Totals())
	}
}

// TestInterruptedRunIsMarkedOnceSettled pins that the restart path leaves
// no run "running" forever: once the next plan has settled what the killed
// apply left, its plan is interrupted and so is its run; resumed, both
// finish; superseded by another plan's apply, both stay interrupted.
func TestInterruptedRunIsMarkedOnceSettled(t *testing.T) {
	t.Parallel()
	runOf := func(t *testing.T, w *crashWorld, planID string) state.Run {
		t.Helper()
		runs, err := w.e.State().Runs(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.PlanID == planID {
				return r
			}
		}
		t.Fatalf("no run of plan %s in %+v", planID, runs)
		return state.Run{}
	}
	statusOf := func(t *testing.T, w *crashWorld, planID string) plan.Status {
		t.Helper()
		p, err := w.e.State().LoadPlan(t.Context(), planID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return p.Status
	}

	t.Run("superseded", func(t *testing.T) {
		w, p := interruptedPlan(t, 2)
		if _, err := w.e.Plan(t.Context(), engine.PlanOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := statusOf(t, w, p.ID); got != plan.Interrupted {
			t.Errorf("after the next plan settled it, the killed plan is %s, want %s", got, plan.Interrupted)
		}
		r := runOf(t, w, p.ID)
		if !r.Interrupted || !r.FinishedAt.IsZero() {
			t.Errorf("after the next plan settled it, the killed run is %+v, want interrupted", r)
		}
		// What it wrote before it was killed is counted: an interrupted
		// run must not look as if it did nothing.
		if created := int64(w.crm.Len("accounts")); created == 0 || r.Inserted != created {
			t.Errorf("the interrupted run counts %d inserted; the CRM holds %d accounts it created", r.Inserted, created)
		}
		w.sync(t) // another plan applied over the same mapping
		if got := statusOf(t, w, p.ID); got != plan.Interrupted {
			t.Errorf("after another plan was applied, the killed plan is %s, want %s", got, plan.Interrupted)
		}
		if r := runOf(t, w, p.ID); !r.Interrupted {
			t.Errorf("after another plan was applied, the killed run is %+v, want interrupted", r)
		}
	})
	t.Run("resumed", func(t *testing.T) {
		w, p := interruptedPlan(t, 2)
		if _, err := w.e.Plan(t.Context(), engine.PlanOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.e.Apply(t.Context(), p.ID); err != nil {
			t.Fatalf("resume the interrupted plan: %v", err)
		}
		if got := statusOf(t, w, p.ID); got != plan.Applied {
			t.Errorf("resumed plan is %s, want applied", got)
		}
		if r := runOf(t, w, p.ID); r.Interrupted || r.FinishedAt.IsZero() {
			t.Errorf("resumed run is %+v, want finished", r)
		}
	})
}

// serve's --shutdown-timeout cancels an apply part way through a batch:
// the writes of the batch not yet sent (one request at a time here) never
// happened. Resuming the plan writes them, as docs/operations.md says,
// rather than report them as failures.
func TestResumeWritesWhatWasNeverSent(t *testing.T) {
	t.Parallel()
	sc := crashScenarios[0]
	sc.applyBatch = 3
	w := newCrashWorld(t, sc)
	w.close(t)
	config := filepath.Join(w.dir, "coupler.yaml")
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, config, strings.Replace(string(data), "client_keys:", "max_concurrency: 1, client_keys:", 1))
	w.open(t)
	p, err := w.e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w.ks.arm(1, false, cancel) // the first create is sent, its answer lost
	if _, err := w.e.Apply(ctx, p.ID); err == nil {
		t.Fatal("the cancelled apply succeeded")
	}
	w.ks.arm(0, false, nil)
	if got := w.crm.Len("accounts"); got != 0 {
		t.Fatalf("%d accounts after the cancelled apply, want none", got)
	}
	res, err := w.e.Apply(t.Context(), p.ID)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got := w.crm.Len("accounts"); got != 6 {
		t.Errorf("%d accounts after resuming, want 6", got)
	}
	if len(res.Runs) != 1 || res.Runs[0].Failed != 0 || res.Runs[0].Inserted != 6 || len(res.Failures) != 0 {
		t.Errorf("resumed runs %+v, failures %+v; want 6 inserted, none failed", res.Runs, res.Failures)
	}
}
