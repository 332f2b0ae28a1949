package engine_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// The state file and its write-ahead log as a process killed right after
// an apply leaves them, damaged in the ways a disk or a careless copy
// damages a file: cut short, or with one byte flipped near its end. The
// next start must either refuse the state (naming the file) or go on
// without creating any record a second time.
func TestDamagedWALMakesNoDuplicate(t *testing.T) {
	t.Parallel()
	type damage struct {
		name string
		do   func(wal []byte) []byte
	}
	var damages []damage
	for _, pct := range []int{30, 50, 80, 97} {
		damages = append(damages, damage{fmt.Sprintf("cut%d", pct), func(wal []byte) []byte { return wal[:len(wal)*pct/100] }})
	}
	for _, back := range []int{1, 20, 100} {
		damages = append(damages, damage{fmt.Sprintf("flip%d", back), func(wal []byte) []byte {
			if back <= len(wal) {
				wal[len(wal)-back] ^= 0xff
			}
			return wal
		}})
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			w := newCrashWorld(t, crashScenarios[0])
			w.sync(t)
			if got := w.crm.Len("accounts"); got != 6 {
				t.Fatalf("%d accounts after the first sync, want 6", got)
			}
			// The files as SIGKILL would leave them: copied while open.
			path := filepath.Join(w.dir, mappings.DefaultStatePath)
			main, wal := stateFiles(t, path)
			w.close(t)
			if err := os.WriteFile(path, main, 0o644); err != nil {
				t.Fatal(err)
			}
			_ = os.Remove(path + ".wal")
			if len(wal) > 0 {
				if err := os.WriteFile(path+".wal", d.do(wal), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !reopenDamaged(t, w, path) {
				return
			}
			defer w.close(t)
			w.sync(t)
			if got := w.crm.Len("accounts"); got != 6 {
				t.Errorf("%d accounts after syncing again on a damaged log (%d bytes), want 6: records created twice", got, len(wal))
			}
		})
	}
}

// reopenDamaged opens w's project on its damaged state file at path. It
// reports false when the state is refused, which must be as unusable,
// naming the file.
func reopenDamaged(t *testing.T, w *crashWorld, path string) bool {
	t.Helper()
	e, _, err := engine.OpenProject(t.Context(), w.dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		if !errors.Is(err, state.ErrUnusable) || !strings.Contains(err.Error(), path) {
			t.Fatalf("refused without naming the file: %v", err)
		}
		return false
	}
	w.e = e
	return true
}

// Defense in depth against a state that lost couplings (a damaged file, an
// old backup restored): a create whose record already exists in the
// destination under its client key, or a record whose match fields find
// one, is coupled rather than created again.
func TestLostCouplingsAreNotCreatedAgain(t *testing.T) {
	t.Parallel()
	matched := strings.Replace(crashOneWay, "fields:", "match: { fields: [{ field: number, integration_field: accountnumber }], create_if_no_match: true }\nfields:", 1)
	for _, sc := range []crashScenario{
		{name: "client_keys", mapping: crashOneWay, clientKeys: true, setup: func(*testing.T, *crashWorld) {}},
		{name: "match", mapping: matched, setup: func(*testing.T, *crashWorld) {}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			w := newCrashWorld(t, sc)
			w.sync(t)
			if got := w.crm.Len("accounts"); got != 6 {
				t.Fatalf("%d accounts after the first sync, want 6", got)
			}
			if _, err := w.e.State().Uncouple(t.Context(), "CUSTOMER", nil, true); err != nil {
				t.Fatal(err)
			}
			if _, err := w.e.State().ClearWatermarks(t.Context(), []string{"CUSTOMER"}); err != nil {
				t.Fatal(err)
			}
			w.sync(t)
			if got := w.crm.Len("accounts"); got != 6 {
				t.Errorf("%d accounts after syncing with the couplings lost, want 6", got)
			}
			if n, err := w.e.State().CouplingCount(t.Context(), "CUSTOMER"); err != nil || n != 6 {
				t.Errorf("%d couplings (%v), want 6", n, err)
			}
		})
	}
}

// The write-ahead log damaged in the middle of an apply: a process killed
// while a batch was in flight, its files copied as it left them, the log
// cut short or gone. Batches are sent before anything is checkpointed, so
// the main file holds nothing of the apply; the intents journal must
// bring back every intent whose write may have happened, to be settled by
// reading back, so that no record is created twice. Without client keys,
// settling may also stop with "cannot tell" (as after any crash), which
// is no duplicate either.
func TestDamagedWALMidApplyMakesNoDuplicate(t *testing.T) {
	t.Parallel()
	damages := map[string]func(wal []byte) []byte{
		"gone":  func([]byte) []byte { return nil },
		"cut10": func(wal []byte) []byte { return wal[:len(wal)/10] },
		"cut50": func(wal []byte) []byte { return wal[:len(wal)/2] },
		"cut90": func(wal []byte) []byte { return wal[:len(wal)*9/10] },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc := crashScenarios[0] // creates, without client keys
			sc.applyBatch = 2
			w := newCrashWorld(t, sc)
			p, err := w.e.Plan(t.Context(), engine.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(w.dir, mappings.DefaultStatePath)
			var main, wal, journal []byte
			// At the apply's fifth request, a create of the third batch
			// (the first batch's results recorded before the third batch
			// was prepared, the second's perhaps, as they are recorded
			// while the third is sent), the files are copied and the
			// process "dies": that create is handled, and nothing sent
			// after it reaches the servers but the third batch's other
			// create, in flight at the same time, which may have been.
			w.ks.arm(5, false, func() {
				main, wal = stateFiles(t, path)
				journal, _ = os.ReadFile(path + ".intents")
				w.ks.mu.Lock()
				w.ks.refusePosts = true
				w.ks.mu.Unlock()
			})
			w.ks.mu.Lock()
			w.ks.outage = true
			w.ks.mu.Unlock()
			_, _ = w.e.Apply(t.Context(), p.ID) // fails from the fifth request on
			if !w.ks.fired || len(wal) == 0 {
				t.Fatalf("no copy in the middle of the apply (fired %v, log of %d bytes)", w.ks.fired, len(wal))
			}
			if got := w.crm.Len("accounts"); got != 5 && got != 6 {
				t.Fatalf("%d accounts when the process died, want 5 or 6", got)
			}
			w.ks.arm(0, false, nil)
			w.ks.mu.Lock()
			w.ks.refusePosts = false
			w.ks.mu.Unlock()
			w.close(t)
			_ = os.Remove(path + ".wal")
			files := map[string][]byte{path: main, path + ".wal": damage(wal), path + ".intents": journal}
			for f, b := range files {
				if b == nil {
					_ = os.Remove(f)
					continue
				}
				if err := os.WriteFile(f, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !reopenDamaged(t, w, path) {
				return
			}
			engine.SetApplyBatch(w.e, 2)
			defer w.close(t)
			p, err = w.e.Plan(t.Context(), engine.PlanOptions{})
			if err == nil {
				_, err = w.e.Apply(t.Context(), p.ID)
			}
			if err != nil && !strings.Contains(err.Error(), "cannot tell") {
				t.Fatalf("sync after the damage: %v", err)
			}
			if got := w.crm.Len("accounts"); got != 6 {
				t.Errorf("%d accounts after syncing again on a log damaged mid-apply (%d of %d bytes), want 6", got, len(damage(wal)), len(wal))
			}
		})
	}
}
