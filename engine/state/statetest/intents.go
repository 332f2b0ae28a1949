package statetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// RunIntents checks the Intents part: what is recorded before a batch is
// sent is listed until dropped. How RecordResults settles them is in
// RunRuns.
func RunIntents(t *testing.T, open func(t *testing.T) state.Intents) {
	runChecks(t, open, []check[state.Intents]{
		{"record and list", recordIntents},
		{"drop", dropIntents},
	})
}

// intent is an intent of run at seq, every field set.
func intent(run, seq int64) state.Intent {
	return state.Intent{
		RunID: run, PlanID: fmt.Sprintf("plan-%d", run), Mapping: "CUSTOMER", Direction: "to_integration",
		Seq: seq, Op: "create", SourceID: fmt.Sprintf("C%d", seq), DestID: fmt.Sprintf("A%d", seq),
		ClientKey: fmt.Sprintf("key-%d-%d", run, seq), Fields: `{"name":"Adatum","credit":1.5}`,
		SourceModified: aTime.Add(time.Duration(seq) * time.Second), SourceETag: `W/"7"`, CreatedAt: aTime,
	}
}

// wantIntents checks the pending intents, in order.
func wantIntents(t *testing.T, s state.Intents, want ...state.Intent) {
	t.Helper()
	got, err := s.PendingIntents(t.Context())
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("%d pending intents, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		same := sameTime(g.CreatedAt, w.CreatedAt) &&
			(w.SourceModified.IsZero() && g.SourceModified.IsZero() || sameTime(g.SourceModified, w.SourceModified))
		g.CreatedAt, g.SourceModified, w.CreatedAt, w.SourceModified = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !same || g != w {
			t.Errorf("pending intent %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func recordIntents(t *testing.T, s state.Intents) {
	ctx := t.Context()
	wantIntents(t, s)
	must(t, s.RecordIntents(ctx, nil))
	wantIntents(t, s)
	// What a destination keys itself has no client key, an update no
	// source version the plan knew of: empty, not lost.
	bare := intent(3, 1)
	bare.DestID, bare.ClientKey, bare.SourceETag, bare.SourceModified = "", "", "", time.Time{}
	must(t, s.RecordIntents(ctx, []state.Intent{intent(7, 2), intent(7, 1)}))
	must(t, s.RecordIntents(ctx, []state.Intent{bare}))
	// Oldest first: by run, then by seq.
	wantIntents(t, s, bare, intent(7, 1), intent(7, 2))
}

func dropIntents(t *testing.T, s state.Intents) {
	ctx := t.Context()
	must(t, s.RecordIntents(ctx, []state.Intent{intent(3, 1), intent(7, 1), intent(7, 2), intent(7, 3)}))
	must(t, s.DropIntents(ctx, 7, []int64{1, 3, 9}))
	wantIntents(t, s, intent(3, 1), intent(7, 2))
	must(t, s.DropIntents(ctx, 7, nil))
	wantIntents(t, s, intent(3, 1), intent(7, 2))
}
