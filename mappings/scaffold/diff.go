package scaffold

import (
	"fmt"
	"strings"
)

// DiffContext is the number of unchanged lines UnifiedDiff shows around
// each change.
const DiffContext = 3

// UnifiedDiff returns the unified diff that turns a into b, with the file
// labels from and to on its --- and +++ lines, DiffContext lines of context
// and one @@ hunk per group of nearby changes, as diff -u prints it. A last
// line without a newline is marked "\ No newline at end of file". It
// returns "" when a and b are equal.
func UnifiedDiff(from, to string, a, b []byte) string {
	if string(a) == string(b) {
		return ""
	}
	al, bl := splitLines(string(a)), splitLines(string(b))
	edits := diffLines(al, bl, nil)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", from, to)
	for _, h := range hunks(edits, DiffContext) {
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(h.aStart, h.aLen), hunkRange(h.bStart, h.bLen))
		for _, e := range edits[h.from:h.to] {
			switch e.kind {
			case opEqual:
				writeDiffLine(&sb, ' ', al[e.a])
			case opDelete:
				writeDiffLine(&sb, '-', al[e.a])
			case opInsert:
				writeDiffLine(&sb, '+', bl[e.b])
			}
		}
	}
	return sb.String()
}

func writeDiffLine(sb *strings.Builder, prefix byte, line string) {
	sb.WriteByte(prefix)
	sb.WriteString(line)
	if !strings.HasSuffix(line, "\n") {
		sb.WriteString("\n\\ No newline at end of file\n")
	}
}

// hunkRange formats one side of a hunk header as diff -u does: "l,n", just
// "l" for one line, and for no line the number of the line before, ",0".
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// splitLines splits s after each newline; the last line lacks one when s
// does not end with one.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type opKind int8

const (
	opEqual opKind = iota
	opDelete
	opInsert
)

// edit is one step of a line diff: a and b are the line indexes in each
// sequence for an equal line, the line of a for a deletion and that of b
// for an insertion; the other index is where the step stands in that
// sequence.
type edit struct {
	kind opKind
	a, b int
}

// diffLines returns a shortest edit script from a to b (Myers' algorithm).
// key, when not nil, maps a line to what is compared instead of the line.
func diffLines(a, b []string, key func(string) string) []edit {
	if key == nil {
		key = func(s string) string { return s }
	}
	ids := map[string]int{}
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			k := key(l)
			id, ok := ids[k]
			if !ok {
				id = len(ids)
				ids[k] = id
			}
			out[i] = id
		}
		return out
	}
	x, y := intern(a), intern(b)
	// Common prefix and suffix need no search.
	pre := 0
	for pre < len(x) && pre < len(y) && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < len(x)-pre && suf < len(y)-pre && x[len(x)-1-suf] == y[len(y)-1-suf] {
		suf++
	}
	var out []edit
	for i := 0; i < pre; i++ {
		out = append(out, edit{opEqual, i, i})
	}
	for _, e := range myers(x[pre:len(x)-suf], y[pre:len(y)-suf]) {
		e.a += pre
		e.b += pre
		out = append(out, e)
	}
	for i := suf; i > 0; i-- {
		out = append(out, edit{opEqual, len(x) - i, len(y) - i})
	}
	return out
}

// myers finds a shortest edit script from a to b. It keeps, per step d, the
// furthest reaching x of each diagonal k in [-d, d], and walks them back.
func myers(a, b []int) []edit {
	n, m := len(a), len(b)
	if n == 0 && m == 0 {
		return nil
	}
	max := n + m
	off := max + 1
	v := make([]int, 2*max+3)
	var trace [][]int // trace[d] holds v[off-d .. off+d] as it was before step d
	var found bool
	for d := 0; d <= max && !found; d++ {
		snap := make([]int, 2*d+1)
		copy(snap, v[off-d:off+d+1])
		trace = append(trace, snap)
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = true
				break
			}
		}
	}
	// Walk back from (n, m).
	var rev []edit
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d] // v after step d-1, diagonal k at index k+d
		at := func(k int) int { return prev[k+d] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			rev = append(rev, edit{opEqual, x - 1, y - 1})
			x--
			y--
		}
		if pk == k+1 {
			rev = append(rev, edit{opInsert, x, y - 1})
			y--
		} else {
			rev = append(rev, edit{opDelete, x - 1, y})
			x--
		}
	}
	for x > 0 && y > 0 {
		rev = append(rev, edit{opEqual, x - 1, y - 1})
		x--
		y--
	}
	out := make([]edit, len(rev))
	for i, e := range rev {
		out[len(rev)-1-i] = e
	}
	return out
}

type hunk struct {
	from, to     int // edits[from:to]
	aStart, aLen int
	bStart, bLen int
}

// hunks groups the changes of an edit script with ctx lines of context,
// joining groups whose contexts touch.
func hunks(edits []edit, ctx int) []hunk {
	var out []hunk
	i := 0
	for i < len(edits) {
		for i < len(edits) && edits[i].kind == opEqual {
			i++
		}
		if i == len(edits) {
			break
		}
		start := i - ctx
		if start < 0 {
			start = 0
		}
		// Extend while the next change is within 2*ctx equal lines.
		end := i
		for {
			for end < len(edits) && edits[end].kind != opEqual {
				end++
			}
			j := end
			for j < len(edits) && edits[j].kind == opEqual {
				j++
			}
			if j < len(edits) && j-end <= 2*ctx {
				end = j
				continue
			}
			break
		}
		stop := end + ctx
		if stop > len(edits) {
			stop = len(edits)
		}
		h := hunk{from: start, to: stop}
		h.aStart, h.bStart = edits[start].a, edits[start].b
		for _, e := range edits[start:stop] {
			if e.kind != opInsert {
				h.aLen++
			}
			if e.kind != opDelete {
				h.bLen++
			}
		}
		out = append(out, h)
		i = stop
	}
	return out
}
