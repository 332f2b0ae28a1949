package report

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// TestPlanTextColor checks that the coloured text differs from the plain
// one only by the colour of each operation's symbol, and that the plain
// one carries no escape sequence at all.
func TestPlanTextColor(t *testing.T) {
	var plain, color bytes.Buffer
	if err := PlanText(&plain, everyKindPlan()); err != nil {
		t.Fatal(err)
	}
	if err := PlanTextColor(&color, everyKindPlan()); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plain.Bytes(), []byte("\x1b")) {
		t.Errorf("PlanText writes an escape sequence:\n%q", plain.String())
	}
	sgr := regexp.MustCompile(`\x1b\[[0-9;]*m`)
	if got := sgr.ReplaceAll(color.Bytes(), nil); !bytes.Equal(got, plain.Bytes()) {
		t.Errorf("without its colours, PlanTextColor differs from PlanText:\n%s\n---\n%s", got, plain.String())
	}
	for kind, want := range map[plan.Kind]string{plan.Create: "\x1b[32m+\x1b[0m create", plan.Update: "\x1b[33m~\x1b[0m update", plan.Delete: "\x1b[31mD\x1b[0m delete", plan.Fail: "\x1b[31m!\x1b[0m fail"} {
		if !bytes.Contains(color.Bytes(), []byte(want)) {
			t.Errorf("%s: no %q in\n%s", kind, want, color.String())
		}
	}
}
