package state

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// TestDiffStoresChangesOfEachKindAlone: each kind of operation whose
// changes a plan stores gets them when it is the only kind in its part
// that writes values, packed (plan_create_values for creates and
// restores) and as rows (a field's name holding a separator): Diff leaves
// out the statements of the kinds it counts none of, so a kind it did not
// count would lose its changes only where no other kind is beside it.
func TestDiffStoresChangesOfEachKindAlone(t *testing.T) {
	str := func(s string) *string { return &s }
	synced := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	const coupled = `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at, table_modified) VALUES ('CUSTOMER', 'C1', 'A1', TIMESTAMP '2026-12-01 09:00:00', TIMESTAMP '2026-12-01 09:00:00')`
	source := Row{Key: "C1", InFilter: true, Modified: synced.Add(time.Hour), Values: []*string{str(`"Contoso"`)}, Match: []*string{str("k")}}
	unchanged := source
	unchanged.Modified = synced
	dest := Row{Key: "A1", InFilter: true, Values: []*string{str(`"Old"`)}, Match: []*string{str("k")}}
	for _, c := range []struct {
		name   string
		setup  []string
		spec   func(*DiffSpec)
		both   bool
		source Row
		dest   []Row
		want   []string
		// reason, when set, is the operation's: the path the case takes
		reason string
	}{
		{name: "create", source: source, want: []string{`create name ->"Contoso"`}},
		{name: "restore", setup: []string{coupled}, spec: func(s *DiffSpec) { s.DeletePolicy = "restore" }, source: source,
			want: []string{`restore name ->"Contoso"`}},
		{name: "update", setup: []string{coupled}, source: source, dest: []Row{dest}, want: []string{`update name "Old"->"Contoso"`}},
		{name: "couple with sync_after", source: source, dest: []Row{dest},
			spec: func(s *DiffSpec) {
				s.Match = &MatchSpec{Groups: [][]int{{0}}, Labels: []string{"code"}, CaseSensitive: []bool{true}, SyncAfter: true}
			},
			want: []string{`couple name "Old"->"Contoso"`}},
		{name: "couple without sync_after", source: source, dest: []Row{dest},
			spec: func(s *DiffSpec) {
				s.Match = &MatchSpec{Groups: [][]int{{0}}, Labels: []string{"code"}, CaseSensitive: []bool{true}}
			},
			want: []string{`couple`}},
		{name: "repair of an unchanged record", setup: []string{coupled}, source: unchanged, dest: []Row{dest},
			spec: func(s *DiffSpec) { s.OnlyIfChanged, s.RepairOneWay = true, true }, want: []string{`update name "Old"->"Contoso"`},
			reason: "not changed since the last sync, but a field it owns differs on the destination: written again"},
		{name: "write-back to an unchanged record", both: true, source: unchanged, dest: []Row{dest},
			setup: []string{coupled, `INSERT INTO assigned_values VALUES ('CUSTOMER', 'table', 'C1', 'number', 'name', TIMESTAMP '2026-12-01 09:00:00')`},
			spec:  func(s *DiffSpec) { s.OnlyIfChanged = true }, want: []string{`update name "Old"->"Contoso"`},
			reason: "not changed since the last sync, but its service assigned a value when coupler created it (a number series): written back to the coupled accounts record"},
		{name: "uncouple", setup: []string{coupled}, spec: func(s *DiffSpec) { s.DeletePolicy = "remove_coupling" }, source: source,
			want: []string{`uncouple`}},
	} {
		for _, packed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/packed=%v", c.name, packed), func(t *testing.T) {
				ctx := t.Context()
				d := openTestDB(t)
				for _, q := range c.setup {
					if _, err := d.db.ExecContext(ctx, q); err != nil {
						t.Fatal(err)
					}
				}
				fields := []DestField{{Name: "name", Both: c.both}}
				src, dst := c.source, slices.Clone(c.dest)
				if !packed { // a second field, equal on both sides, keeps the changes rows
					fields = append(fields, DestField{Name: "x\x1fy"})
					src.Values = append(slices.Clip(src.Values), str(`1`))
					for i := range dst {
						dst[i].Values = append(slices.Clip(dst[i].Values), str(`1`))
					}
				}
				stageRows(t, d, SourceRows, fields, src)
				stageRows(t, d, DestRows, fields, dst...)
				spec := DiffSpec{Part: Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}, SourceIsTable: true,
					Fields: fields, DestEntity: "accounts"}
				if c.spec != nil {
					c.spec(&spec)
				}
				if _, err := d.Diff(ctx, spec); err != nil {
					t.Fatal(err)
				}
				var got []string
				if err := d.Operations(ctx, spec.Part, 0, -1, plan.Kinds, func(op plan.Operation) error {
					s := string(op.Kind)
					for _, ch := range withoutSeparated(op.Changes) {
						s += fmt.Sprintf(" %s %s->%s", ch.Field, ch.Before, ch.After)
					}
					got = append(got, s)
					if c.reason != "" && op.Reason != c.reason {
						t.Errorf("%s's reason %q, want %q", op.Kind, op.Reason, c.reason)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("operations %q, want %q", got, c.want)
				}
			})
		}
	}
}
