package state

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCouplingsOneToOneUnderRaces: writers that couple one record to
// different records at once leave it coupled once, one of them told it
// succeeded and the others refused. Since schema version 12 the couplings
// have no unique index to refuse the late ones; couplingsMu must.
// Run it with -race.
func TestCouplingsOneToOneUnderRaces(t *testing.T) {
	const writers = 6
	// Each writer n couples a record to a record of its own, and all of
	// them the same record T1 or I1 on one side.
	for name, write := range map[string]func(ctx context.Context, d *DB, run int64, n int) (coupled bool, err error){
		"CoupleOne, one table record": func(ctx context.Context, d *DB, _ int64, n int) (bool, error) {
			return d.CoupleOne(ctx, "CUSTOMER", "T1", fmt.Sprintf("I%d", n)) == nil, nil
		},
		"CoupleOne, one integration record": func(ctx context.Context, d *DB, _ int64, n int) (bool, error) {
			return d.CoupleOne(ctx, "CUSTOMER", fmt.Sprintf("T%d", n), "I1") == nil, nil
		},
		"Couple, one table record": func(ctx context.Context, d *DB, _ int64, n int) (bool, error) {
			return d.Couple(ctx, "CUSTOMER", []Coupling{{TableID: "T1", IntegrationID: fmt.Sprintf("I%d", n)}}) == nil, nil
		},
		"RecordResults, one source record": func(ctx context.Context, d *DB, run int64, n int) (bool, error) {
			r := []RecordResult{{Seq: int64(n), SourceID: "T1", DestID: fmt.Sprintf("I%d", n), Op: "create", Couple: true, At: time.Now()}}
			err := d.RecordResults(ctx, run, CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, r)
			return err == nil && r[0].Err == "", err
		},
		"RecordResults, one destination record": func(ctx context.Context, d *DB, run int64, n int) (bool, error) {
			r := []RecordResult{{Seq: int64(n), SourceID: fmt.Sprintf("T%d", n), DestID: "I1", Op: "couple", Couple: true, At: time.Now()}}
			err := d.RecordResults(ctx, run, CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, r)
			return err == nil && r[0].Err == "", err
		},
		// Each kind of writer against the others.
		"all three, one table record": func(ctx context.Context, d *DB, run int64, n int) (bool, error) {
			id := fmt.Sprintf("I%d", n)
			switch n % 3 {
			case 0:
				return d.CoupleOne(ctx, "CUSTOMER", "T1", id) == nil, nil
			case 1:
				return d.Couple(ctx, "CUSTOMER", []Coupling{{TableID: "T1", IntegrationID: id}}) == nil, nil
			}
			r := []RecordResult{{Seq: int64(n), SourceID: id, DestID: "T1", Op: "create", Couple: true, At: time.Now()}}
			err := d.RecordResults(ctx, run, CouplingSide{Mapping: "CUSTOMER", SourceIsTable: false}, r)
			return err == nil && r[0].Err == "", err
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			d := openTestDB(t)
			run, err := d.StartRun(ctx, "p1", "CUSTOMER", "to_integration", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			succeeded := 0
			for n := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ok, err := write(ctx, d, run, n+2)
					if err != nil {
						t.Errorf("writer %d: %v", n+2, err)
					}
					if ok {
						mu.Lock()
						succeeded++
						mu.Unlock()
					}
				}()
			}
			close(start)
			wg.Wait()
			if succeeded != 1 {
				t.Errorf("%d of %d writers coupled the record, want 1", succeeded, writers)
			}
			var n int
			err = d.db.QueryRowContext(ctx, `SELECT count(*) FROM couplings WHERE table_id = 'T1' OR integration_id = 'I1'`).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d couplings hold the record, want 1", n)
			}
		})
	}
}

// TestRecordResultsNamingRecordsTwice: a batch of results that names a
// record twice couples, in seq order, each result whose records are not
// coupled already (by the state or by an earlier result), and reports the
// others as it always has. These are the messages of schema version 11,
// whose unique indexes decided it, but one: there, a row that named a
// record taken by an earlier row was left out even when that row was left
// out itself (t6 -> i9 lost to the later t4 -> i9 because t6 -> i1 was
// refused); PostgreSQL's store, inserting in seq order, kept t6 -> i9.
func TestRecordResultsNamingRecordsTwice(t *testing.T) {
	type result struct {
		src, dst, op string
		recouple     bool
		// seq, when not 0, is the result's seq; else its position from 1.
		seq int64
		// err is what the result's message contains, "" for none.
		err string
	}
	for name, tc := range map[string]struct {
		existing    map[string]string // table id to integration id
		sourceTable bool
		results     []result
		// fails: the batch is refused whole.
		fails bool
		want  map[string]string
	}{
		"a destination twice": {
			sourceTable: true,
			results: []result{
				{src: "t6", dst: "i7", op: "couple"},
				{src: "t8", dst: "i7", op: "couple", err: "not coupled to i7: that destination record is coupled to source record t6 already"},
			},
			want: map[string]string{"t6": "i7"},
		},
		"a source twice": {
			sourceTable: true,
			results: []result{
				{src: "t6", dst: "i7", op: "create"},
				{src: "t6", dst: "i8", op: "create", err: "created i8, but the source record was coupled to i7 meanwhile; remove the duplicate"},
			},
			want: map[string]string{"t6": "i7"},
		},
		"a source twice, the first taken in the state": {
			sourceTable: true,
			existing:    map[string]string{"t1": "i1"},
			results: []result{
				{src: "t6", dst: "i1", op: "create", err: "created i1, but the source record was coupled to i9 meanwhile"},
				{src: "t6", dst: "i9", op: "create"},
				{src: "t4", dst: "i9", op: "couple", err: "not coupled to i9: that destination record is coupled to source record t6 already"},
				{src: "t1", dst: "i5", op: "couple", err: "not coupled to i5: the source record was coupled to i1 meanwhile"},
			},
			want: map[string]string{"t1": "i1", "t6": "i9"},
		},
		"results out of seq order": {
			sourceTable: true,
			results: []result{
				{src: "t8", dst: "i7", op: "couple", seq: 9, err: "that destination record is coupled to source record t6 already"},
				{src: "t6", dst: "i7", op: "couple", seq: 4},
			},
			want: map[string]string{"t6": "i7"},
		},
		"a destination twice, from the integration": {
			existing: map[string]string{"t1": "i1"},
			results: []result{
				{src: "i6", dst: "t6", op: "create"},
				{src: "i8", dst: "t6", op: "create", err: "wrote t6, but that destination record is coupled to source record i6 already"},
				{src: "i9", dst: "t1", op: "couple", err: "not coupled to t1: that destination record is coupled to source record i1 already"},
			},
			want: map[string]string{"t1": "i1", "t6": "i6"},
		},
		"a restore frees the record another result couples": {
			sourceTable: true,
			existing:    map[string]string{"t1": "i1", "t2": "i2"},
			results: []result{
				{src: "t1", dst: "i3", op: "restore", recouple: true},
				{src: "t5", dst: "i1", op: "couple"},
				{src: "t6", dst: "i1", op: "couple", err: "that destination record is coupled to source record t5 already"},
			},
			want: map[string]string{"t1": "i3", "t2": "i2", "t5": "i1"},
		},
		"every result left out": {
			// No position is chosen: the insert binds an empty list.
			sourceTable: true,
			existing:    map[string]string{"t1": "i1"},
			results: []result{
				{src: "t1", dst: "i2", op: "couple", err: "not coupled to i2: the source record was coupled to i1 meanwhile"},
				{src: "t1", dst: "i3", op: "couple", err: "not coupled to i3: the source record was coupled to i1 meanwhile"},
			},
			want: map[string]string{"t1": "i1"},
		},
		"a restore from the integration frees a record, out of seq order": {
			existing: map[string]string{"t1": "i1", "t2": "i2"},
			results: []result{
				{src: "i5", dst: "t1", op: "couple", seq: 5, err: "that destination record is coupled to source record i6 already"},
				{src: "i1", dst: "t3", op: "restore", recouple: true, seq: 1},
				{src: "i6", dst: "t1", op: "couple", seq: 3},
			},
			want: map[string]string{"t1": "i6", "t2": "i2", "t3": "i1"},
		},
		"a result without a destination": {
			sourceTable: true,
			existing:    map[string]string{"t1": "i1"},
			results: []result{
				{src: "t6", dst: "i7", op: "create"},
				{src: "t7", dst: "", op: "create"},
			},
			fails: true,
			want:  map[string]string{"t1": "i1"},
		},
		"a result without a destination, its source coupled": {
			sourceTable: true,
			existing:    map[string]string{"t1": "i1"},
			results: []result{
				{src: "t1", dst: "", op: "create", err: "created , but the source record was coupled to i1 meanwhile"},
			},
			want: map[string]string{"t1": "i1"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			d := openTestDB(t)
			for tid, iid := range tc.existing {
				if err := d.CoupleOne(ctx, "CUSTOMER", tid, iid); err != nil {
					t.Fatal(err)
				}
			}
			run, err := d.StartRun(ctx, "p1", "CUSTOMER", "to_integration", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			results := make([]RecordResult, len(tc.results))
			for i, r := range tc.results {
				seq := r.seq
				if seq == 0 {
					seq = int64(i + 1)
				}
				results[i] = RecordResult{Seq: seq, SourceID: r.src, DestID: r.dst, Op: r.op, Couple: true, Recouple: r.recouple, At: time.Now()}
			}
			err = d.RecordResults(ctx, run, CouplingSide{Mapping: "CUSTOMER", SourceIsTable: tc.sourceTable}, results)
			if tc.fails != (err != nil) {
				t.Fatalf("RecordResults: %v, want an error: %v", err, tc.fails)
			}
			if !tc.fails {
				for i, r := range tc.results {
					got := results[i].Err
					if r.err == "" && got != "" || !strings.Contains(got, r.err) {
						t.Errorf("result %d (%s -> %s): %q, want %q", i+1, r.src, r.dst, got, r.err)
					}
				}
			}
			got, err := d.CouplingMap(ctx, "CUSTOMER", true)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("couplings %v, want %v", got, tc.want)
			}
		})
	}
}
