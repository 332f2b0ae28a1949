package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// TestSavedPlanLatestAndNames checks the rules the commands share through
// the engine: latest (or nothing) is the newest plan, a name is refused
// before anything is read when another plan has it, unless replaced, and a
// name that reads as a file is refused.
func TestSavedPlanLatestAndNames(t *testing.T) {
	w := newWorld(t, 3)
	ctx := t.Context()
	if _, err := w.e.SavedPlan(ctx, engine.LatestPlan, 0); !errors.Is(err, state.ErrNoPlan) {
		t.Fatalf("latest of no plan: %v, want ErrNoPlan", err)
	}
	acknowledgeFirstSync(t, w.e)
	first := w.plan(engine.PlanOptions{Name: "daily"})
	for _, ref := range []string{"", engine.LatestPlan, "daily", first.ID} {
		p, err := w.e.SavedPlan(ctx, ref, 0)
		if err != nil || p.ID != first.ID {
			t.Errorf("SavedPlan(%q) = %v, %v; want %s", ref, p, err, first.ID)
		}
	}

	reads := w.erp.Stats().Requests
	_, err := w.e.Plan(ctx, engine.PlanOptions{Name: "daily"})
	if err == nil || !strings.Contains(err.Error(), `a plan named "daily" exists already`) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second plan named daily: %v", err)
	}
	if got := w.erp.Stats().Requests; got != reads {
		t.Errorf("a name taken is refused before reading: %d request(s) sent", got-reads)
	}

	second := w.plan(engine.PlanOptions{Name: "daily", ReplaceName: true})
	p, err := w.e.SavedPlan(ctx, "daily", 0)
	if err != nil || p.ID != second.ID {
		t.Fatalf("daily after --force = %v, %v; want %s", p, err, second.ID)
	}
	old, err := w.e.SavedPlan(ctx, first.ID, 0)
	if err != nil || old.Name != "" {
		t.Errorf("the first plan keeps its id and loses the name: %+v, %v", old, err)
	}
	if p, _ := w.e.SavedPlan(ctx, engine.LatestPlan, 0); p == nil || p.ID != second.ID {
		t.Errorf("latest is %v, want %s", p, second.ID)
	}

	for _, name := range []string{"./plans/x.plan", `plans\x`, engine.LatestPlan} {
		if _, err := w.e.Plan(ctx, engine.PlanOptions{Name: name}); err == nil {
			t.Errorf("plan named %q: no error", name)
		}
	}
	if err := engine.CheckPlanName("./plans/x.plan"); err == nil || !strings.Contains(err.Error(), "show PLAN --format FORMAT -o FILE") {
		t.Errorf("CheckPlanName: %v", err)
	}
}

// TestFailuresChecksTheMapping checks that a listing by mapping refuses a
// name that is no mapping, as every command taking a mapping does.
func TestFailuresChecksTheMapping(t *testing.T) {
	w := newWorld(t, 1)
	if _, err := w.e.Failures(t.Context(), "CUSTOMERS", 10); err == nil || !strings.Contains(err.Error(), `did you mean "CUSTOMER"`) {
		t.Errorf("Failures(CUSTOMERS): %v", err)
	}
	if fs, err := w.e.Failures(t.Context(), "", 10); err != nil || len(fs) != 0 {
		t.Errorf("Failures of all: %v, %v", fs, err)
	}
}

// TestForgetIntents checks that forgetting writes in flight names only
// writes the run has, forgets nothing on a dry run or a wrong seq, and
// forgets the named ones otherwise.
func TestForgetIntents(t *testing.T) {
	w := newWorld(t, 1)
	ctx := t.Context()
	now := time.Now()
	in := func(seq int64) state.Intent {
		return state.Intent{RunID: 7, PlanID: "p", Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq, Op: "create",
			SourceID: "s", Fields: "{}", CreatedAt: now}
	}
	if err := w.e.State().RecordIntents(ctx, []state.Intent{in(1), in(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.ForgetIntents(ctx, 7, []int64{1, 3}, false); err == nil || !strings.Contains(err.Error(), "run 7 has no write in flight with SEQ 3") {
		t.Fatalf("unknown seq: %v", err)
	}
	got, err := w.e.ForgetIntents(ctx, 7, []int64{2}, true)
	if err != nil || len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("dry run: %v, %v", got, err)
	}
	if left, _ := w.e.Intents(ctx); len(left) != 2 {
		t.Fatalf("a dry run or a wrong seq forgets nothing: %d left", len(left))
	}
	if _, err := w.e.ForgetIntents(ctx, 7, []int64{2}, false); err != nil {
		t.Fatal(err)
	}
	if left, _ := w.e.Intents(ctx); len(left) != 1 || left[0].Seq != 1 {
		t.Errorf("left after forgetting seq 2: %+v", left)
	}
}

// TestOfflineNeedsNoSecrets checks that a project whose connector
// variables are unset opens offline (the state only) and refuses to open
// for anything that connects, naming the variables where they are used.
func TestOfflineNeedsNoSecrets(t *testing.T) {
	w := newWorld(t, 1)
	acknowledgeFirstSync(t, w.e)
	p := w.plan(engine.PlanOptions{})
	if err := w.e.Close(); err != nil {
		t.Fatal(err)
	}
	unset := mappings.LoadOptions{Getenv: func(string) (string, bool) { return "", false }, DeferUnsetEnv: true}
	if _, _, err := engine.OpenProject(t.Context(), w.dir, unset, engine.Options{}); err == nil ||
		!strings.Contains(err.Error(), "connector bc: environment variable BC_URL is not set") {
		t.Fatalf("online open without the variables: %v", err)
	}
	e, _, err := engine.OpenProject(t.Context(), w.dir, unset, engine.Options{Offline: true})
	if err != nil {
		t.Fatalf("offline open: %v", err)
	}
	defer e.Close()
	if got, err := e.SavedPlan(t.Context(), engine.LatestPlan, 0); err != nil || got.ID != p.ID {
		t.Errorf("offline latest plan: %v, %v", got, err)
	}
	if _, err := e.Plan(t.Context(), engine.PlanOptions{}); err == nil || !strings.Contains(err.Error(), "the engine was opened to read the state only") {
		t.Errorf("plan offline: %v", err)
	}
}
