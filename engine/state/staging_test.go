package state

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// TestRowDigest holds the staged digest to what the diff compares: a pair
// of records with equal digests is taken as having no change, so values
// the diff would find different must digest apart, and values it finds
// equal (a null and "", a field it does not compare) alike.
func TestRowDigest(t *testing.T) {
	str := func(s string) *string { return &s }
	fields := []DestField{{Name: "a"}, {Name: "b"}, {Name: "made", CreateOnly: true}}
	tests := []struct {
		name string
		x, y []*string
		same bool
	}{
		{"equal values", []*string{str(`"x"`), str(`1`), nil}, []*string{str(`"x"`), str(`1`), nil}, true},
		{"a null is compared as an empty string", []*string{nil, str(`1`), nil}, []*string{str(`""`), str(`1`), nil}, true},
		{"a field the diff does not compare", []*string{str(`"x"`), str(`1`), str(`"p"`)}, []*string{str(`"x"`), str(`1`), str(`"q"`)}, true},
		{"one value differs", []*string{str(`"x"`), str(`1`), nil}, []*string{str(`"x"`), str(`2`), nil}, false},
		{"values swapped", []*string{str(`1`), str(`2`), nil}, []*string{str(`2`), str(`1`), nil}, false},
		{"a boundary moved", []*string{str(`"ab"`), str(`"c"`), nil}, []*string{str(`"a`), str(`b""c"`), nil}, false},
		{"a null is not the text null", []*string{nil, str(`1`), nil}, []*string{str(`null`), str(`1`), nil}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two stages, as the two sides of a diff have.
			src, dst := &Stage{digested: digested(fields)}, &Stage{digested: digested(fields)}
			src.digest.SetSeed(digestSeed)
			dst.digest.SetSeed(digestSeed)
			hx, hy := src.rowDigest(tt.x), dst.rowDigest(tt.y)
			if (hx == hy) != tt.same {
				t.Errorf("digests %v and %v: same = %v, want %v", hx, hy, hx == hy, tt.same)
			}
		})
	}
	if h := (&Stage{digested: digested([]DestField{{Name: "made", CreateOnly: true}})}).rowDigest([]*string{str(`1`)}); h != nil {
		t.Errorf("digest with no field compared = %v, want nil (NULL)", h)
	}
}

// TestStageRows: every row appended is staged once, with its values and
// nulls as given, across the chunks the Appender hands DuckDB (a chunk's
// capacity each), and with none appended.
func TestStageRows(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "state.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	batch := duckdb.GetDataChunkCapacity()
	fields := []DestField{{Name: "name"}, {Name: "made", CreateOnly: true}}
	for _, n := range []int{0, 1, batch - 1, batch, batch + 1, 2*batch + 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			s, err := db.NewStage(ctx, SourceRows, fields, 1)
			if err != nil {
				t.Fatal(err)
			}
			when := time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)
			for i := range n {
				name, match := fmt.Sprintf(`"n%d"`, i), fmt.Sprintf(`"m%d"`, i)
				r := Row{Key: fmt.Sprint(i), InFilter: i%2 == 0, Values: []*string{&name, nil}, Match: []*string{&match}}
				if i%3 == 0 {
					r.Modified, r.ETag, r.Err, r.Display = when, `W/"1"`, "bad", &name
				}
				if err := s.Append(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s.Rows() != int64(n) {
				t.Errorf("Rows() = %d, want %d", s.Rows(), n)
			}
			var rows, keys, filtered, modified, etags, errs, displays, names, nullMade, matches, digests int
			err = db.db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT key), count(*) FILTER (WHERE in_filter),
				count(modified) FILTER (WHERE modified = TIMESTAMP '2026-12-05 01:02:03'), count(etag) FILTER (WHERE etag = 'W/"1"'),
				count(err) FILTER (WHERE err = 'bad'), count(display) FILTER (WHERE display = v0), count(*) FILTER (WHERE v0 = '"n' || key || '"'),
				count(*) FILTER (WHERE v1 IS NULL), count(*) FILTER (WHERE m0 = '"m' || key || '"'), count(DISTINCT h)
				FROM `+stagingTable(SourceRows)).Scan(&rows, &keys, &filtered, &modified, &etags, &errs, &displays, &names, &nullMade, &matches, &digests)
			if err != nil {
				t.Fatal(err)
			}
			thirds, halves := (n+2)/3, (n+1)/2
			got := []int{rows, keys, filtered, modified, etags, errs, displays, names, nullMade, matches, digests}
			want := []int{n, n, halves, thirds, thirds, thirds, thirds, n, n, n, n}
			if !slices.Equal(got, want) {
				t.Errorf("staged rows, keys, in filter, modified, etags, errors, displays, names, nulls, match values, digests = %v, want %v", got, want)
			}
		})
	}
}
