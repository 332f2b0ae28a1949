package scaffold

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func numbered(from, to int) string {
	var sb strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	return sb.String()
}

// TestUnifiedDiff compares diffs with the golden files under testdata/diff;
// -update rewrites them.
func TestUnifiedDiff(t *testing.T) {
	twenty := numbered(1, 20)
	tests := []struct {
		name string
		a, b string
	}{
		{"insert", "a\nb\nc\n", "a\nb\nX\nc\n"},
		{"delete", "a\nb\nc\nd\n", "a\nc\nd\n"},
		{"change-with-context", numbered(1, 10), strings.Replace(numbered(1, 10), "line 5\n", "line five\n", 1)},
		{"several-hunks", twenty, strings.Replace(strings.Replace(twenty, "line 2\n", "line two\n", 1), "line 18\n", "", 1) + "line 21\n"},
		{"close-changes-share-a-hunk", twenty, strings.Replace(strings.Replace(twenty, "line 5\n", "", 1), "line 11\n", "line eleven\n", 1)},
		{"no-newline-at-end", "a\nb\nc", "a\nb\nd"},
		{"newline-added-at-end", "a\nb", "a\nb\n"},
		{"from-empty", "", "x\ny\n"},
		{"to-empty", "x\ny\n", ""},
		{"all-different", "a\nb\n", "c\nd\ne\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnifiedDiff("mappings/customer.yaml (yours)", "bundled bc-dataverse/customer.yaml", []byte(tt.a), []byte(tt.b))
			file := filepath.Join("testdata", "diff", tt.name+".diff")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("diff differs from %s:\ngot:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
	if d := UnifiedDiff("a", "b", []byte("same\n"), []byte("same\n")); d != "" {
		t.Errorf("diff of equal files = %q, want \"\"", d)
	}
}

// TestDiffLinesMinimal checks on random inputs that the edit script turns a
// into b and is as short as the longest common subsequence allows.
func TestDiffLinesMinimal(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	gen := func() []string {
		n := rng.Intn(12)
		out := make([]string, n)
		for i := range out {
			out[i] = string(rune('a' + rng.Intn(4)))
		}
		return out
	}
	for iter := 0; iter < 2000; iter++ {
		a, b := gen(), gen()
		edits := diffLines(a, b, nil)
		var got []string
		equal := 0
		ai, bi := 0, 0
		for _, e := range edits {
			switch e.kind {
			case opEqual:
				if e.a != ai || e.b != bi || a[e.a] != b[e.b] {
					t.Fatalf("%v -> %v: bad equal step %+v at %d,%d", a, b, e, ai, bi)
				}
				got = append(got, a[e.a])
				ai, bi = ai+1, bi+1
				equal++
			case opDelete:
				if e.a != ai || e.b != bi {
					t.Fatalf("%v -> %v: bad delete step %+v at %d,%d", a, b, e, ai, bi)
				}
				ai++
			case opInsert:
				if e.a != ai || e.b != bi {
					t.Fatalf("%v -> %v: bad insert step %+v at %d,%d", a, b, e, ai, bi)
				}
				got = append(got, b[e.b])
				bi++
			}
		}
		if ai != len(a) || strings.Join(got, "") != strings.Join(b, "") {
			t.Fatalf("%v -> %v: script gives %v", a, b, got)
		}
		if want := lcs(a, b); equal != want {
			t.Fatalf("%v -> %v: %d equal lines, the LCS has %d", a, b, equal, want)
		}
	}
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}
