package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/state"
)

// apply's first line must not say "Applied plan" above failures or an
// error that makes it exit 1.
func TestPrintApplySaysWhatHappened(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed int64
		err    error
		want   string
	}{
		{"clean", 0, nil, "Applied plan P1\n"},
		{"one failure", 1, nil, "Applied plan P1 with 1 failure\n"},
		{"failures", 3, nil, "Applied plan P1 with 3 failures\n"},
		{"error", 0, errors.New("write accounts: connection refused"), "Plan P1 was applied in part: it stopped with an error\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			pr := &view.Printer{W: &out, Format: view.Text}
			if err := pr.Apply(applyView(&engine.ApplyResult{PlanID: "P1", Runs: []state.Run{{Mapping: "CUSTOMER", Failed: tc.failed}}}, tc.err)); err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(out.String(), "  "); first != tc.want {
				t.Errorf("first line %q, want %q", first, tc.want)
			}
		})
	}
}
