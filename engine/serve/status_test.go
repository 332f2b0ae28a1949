package serve

import (
	"regexp"
	"strings"
	"testing"
)

// TestStatusPageResultOfRecordsNotInStep checks the status page's Result
// column: a run whose plan left records failed or skipped (after failing
// twice) is not "ok", and says how many; nor is one whose plan warned (a
// run that created many records into a destination, say), which lists
// the warnings.
func TestStatusPageResultOfRecordsNotInStep(t *testing.T) {
	for _, tt := range []struct {
		name     string
		counts   map[string]int64
		warnings []string
		want     string // the Result cell's text
	}{
		{"all written", map[string]int64{"inserted": 3, "unchanged": 7}, nil, "ok"},
		{"failed", map[string]int64{"modified": 1, "failed": 2}, nil, "not in step: 2 failed"},
		{"skipped", map[string]int64{"unchanged": 7, "skipped": 3}, nil, "not in step: 3 skipped (failed twice)"},
		{"both", map[string]int64{"failed": 1, "skipped": 4}, nil, "not in step: 1 failed, 4 skipped (failed twice)"},
		{"many created", map[string]int64{"inserted": 500}, []string{"CUSTOMER (to_integration): 500 of 600 records read would change (83%): check the mapping before applying"},
			"ok, with 1 warning(s)"},
		{"warned and failed", map[string]int64{"inserted": 500, "failed": 1}, []string{"CUSTOMER (to_integration): 500 of 600 records read would change (83%)"},
			"not in step: 1 failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeRunner{runs: make(chan string, 10), result: Result{PlanID: "p1", Counts: tt.counts, Warnings: tt.warnings}}
			s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r})
			next(t, r.runs)
			settle(t, s)
			_, page := get(t, base+"/")
			cell := regexp.MustCompile(`<td class="([a-z]+) result">([^<]*)<`).FindStringSubmatch(page)
			if cell == nil {
				t.Fatalf("no result cell in the status page:\n%s", page)
			}
			if cell[2] != tt.want {
				t.Errorf("result %q, want %q", cell[2], tt.want)
			}
			if ok := tt.want == "ok"; ok != (cell[1] == "ok") {
				t.Errorf("result class %q for %q", cell[1], cell[2])
			}
			for _, w := range tt.warnings {
				if !strings.Contains(page, `<ul class="warnings"><li>`+w) {
					t.Errorf("the warning %q is not listed", w)
				}
			}
			for k, n := range tt.counts {
				if n > 0 && !strings.Contains(page, k) {
					t.Errorf("the counts do not show %d %s", n, k)
				}
			}
		})
	}
}
