package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// TestStateIntentsListAndForget: the writes a stopped coupler left in
// flight are listed with what a user needs to look for them in the
// destination, and forgotten on the user's word once checked.
func TestStateIntentsListAndForget(t *testing.T) {
	dir := t.TempDir()
	writeScriptFiles(t, dir, "testdata/script/sync.txtar")
	proj := filepath.Join(dir, "proj")
	t.Setenv("BC_URL", "http://127.0.0.1:1/api/v2.0") // never reached: listing reads the state only
	t.Setenv("DATAVERSE_URL", "http://127.0.0.1:1/api/data/v9.2")

	db, err := state.Open(t.Context(), filepath.Join(proj, ".coupler", "state.duckdb"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.RecordIntents(t.Context(), []state.Intent{{RunID: 7, PlanID: "20261124-101500-abc123", Mapping: "CUSTOMER",
		Direction: "to_integration", Seq: 3, Op: "create", SourceID: "C-42", ClientKey: "3f1e0c55-0d1e-5a4e-9d55-0c3f5a1b2c3d",
		Fields: `{"name":"Adatum"}`, CreatedAt: time.Now()}})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	if code := run([]string{"-C", proj, "state", "intents"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"RUN", "SEQ", "CLIENT KEY", "20261124-101500-abc123", "CUSTOMER", "to_integration", "create", "C-42", "3f1e0c55-0d1e-5a4e-9d55-0c3f5a1b2c3d"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, out.String())
		}
	}

	// Forgetting asks for --yes and names what it would forget; an unknown
	// SEQ is refused; with --yes the intent is gone.
	for _, tt := range []struct {
		args     []string
		code     int
		stdout   string
		stderr   string
		leftOver bool
	}{
		{[]string{"7", "3"}, 1, "would forget: create to_integration of source C-42", "add --yes", true},
		{[]string{"7", "9", "--yes"}, 1, "", "run 7 has no write in flight with SEQ 9", true},
		{[]string{"seven", "3"}, 1, "", "is not a run number", true},
		{[]string{"7", "3", "--yes"}, 0, "Forgot 1 write(s) of run 7", "", false},
	} {
		out.Reset()
		errb.Reset()
		code := run(append([]string{"-C", proj, "state", "forget-intent"}, tt.args...), &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
			t.Errorf("forget-intent %v: exit %d, stdout %q, stderr %q; want exit %d with %q and %q", tt.args, code, out.String(), errb.String(), tt.code, tt.stdout, tt.stderr)
		}
		out.Reset()
		run([]string{"-C", proj, "state", "intents"}, &out, &errb)
		if left := strings.Contains(out.String(), "C-42"); left != tt.leftOver {
			t.Errorf("after forget-intent %v: intent left over = %v, want %v", tt.args, left, tt.leftOver)
		}
	}
}
