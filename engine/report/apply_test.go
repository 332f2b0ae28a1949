package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestApplyText: the apply summary has one row per run, so that a
// bidirectional mapping's two directions are counted apart, with a column
// for every kind (couplings included) and a total; it lists at most
// maxShown failures per mapping and points at coupler errors for the rest.
func TestApplyText(t *testing.T) {
	runs := []ApplyRun{
		{ID: 7, Mapping: "CUSTOMER", Direction: "to_integration", Inserted: 5, Modified: 2, Coupled: 3, Unchanged: 10, Failed: 12, Duration: 1234 * time.Millisecond},
		{ID: 8, Mapping: "CUSTOMER", Direction: "from_integration", Inserted: 1, Uncoupled: 2, Deleted: 4, Skipped: 1, Duration: 40 * time.Millisecond},
		{ID: 9, Mapping: "CONTACT", Direction: "to_integration", Failed: 1, Duration: time.Millisecond},
	}
	var fs []ApplyFailure
	for i := range 12 {
		fs = append(fs, ApplyFailure{Mapping: "CUSTOMER", SourceID: fmt.Sprintf("c-%d", i), DestID: "a-1", Message: "412 Precondition Failed"})
	}
	fs = append(fs, ApplyFailure{Mapping: "CONTACT", SourceID: "k-1", Message: "bad \x1b[2J value"})
	var b bytes.Buffer
	if err := ApplyText(&b, runs, fs, 5); err != nil {
		t.Fatal(err)
	}
	golden(t, "apply.txt", b.Bytes())
	out := b.String()
	for _, want := range []string{
		"RUN  MAPPING   DIRECTION         INSERTED  COUPLED  MODIFIED  DELETED  UNCOUPLED  UNCHANGED  SKIPPED  FAILED  DURATION",
		"7    CUSTOMER  to_integration    5         3        2         0        0          10         0        12      1.234s",
		"8    CUSTOMER  from_integration  1         0        0         4        2          0          1        0       40ms",
		"     total                       6         3        2         4        2          10         1        13\n",
		"! CUSTOMER c-4 -> a-1: 412 Precondition Failed",
		"… and 7 more failures of CUSTOMER: coupler errors --mapping CUSTOMER",
		`! CONTACT k-1: bad \x1b[2J value`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "c-5") || strings.Contains(out, "more failures of CONTACT") {
		t.Errorf("failures not bounded as asked:\n%s", out)
	}
}
