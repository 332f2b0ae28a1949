package engine

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// TestSplitFilter: only conditions whose server-side answer is a superset
// of coupler's are offered to the connector; the rest stay local. How an
// offered condition is written for a service is tested with its connector
// (connectors/odata's TestPushFilter).
func TestSplitFilter(t *testing.T) {
	t.Parallel()
	eq := func(f string, v any) *connectors.Compare {
		return &connectors.Compare{Field: f, Op: connectors.Eq, Value: v}
	}
	local := func(src string) Conjunct { return Conjunct{Source: src} }
	tests := []struct {
		src  string
		want []Conjunct
	}{
		{`blocked == " "`, []Conjunct{{`blocked == " "`, eq("blocked", " ")}}},
		{`statecode == 0 && customertypecode == 3`, []Conjunct{{`statecode == 0`, eq("statecode", 0)}, {`customertypecode == 3`, eq("customertypecode", 3)}}},
		{`statecode == 0 and isdisabled`, []Conjunct{{`statecode == 0`, eq("statecode", 0)}, {`isdisabled`, eq("isdisabled", true)}}},
		{`5 < creditLimit`, []Conjunct{{`5 < creditLimit`, &connectors.Compare{Field: "creditLimit", Op: connectors.Gt, Value: 5}}}},
		{`creditLimit >= -2.5`, []Conjunct{{`creditLimit >= -2.5`, &connectors.Compare{Field: "creditLimit", Op: connectors.Ge, Value: -2.5}}}},
		{`creditLimit < -3`, []Conjunct{{`creditLimit < -3`, &connectors.Compare{Field: "creditLimit", Op: connectors.Lt, Value: -3}}}},
		{`country in ["US", "CA"]`, []Conjunct{{`country in ["US", "CA"]`, &connectors.In{Field: "country", Values: []any{"US", "CA"}}}}},
		{`name startsWith "A" || name endsWith "z"`, []Conjunct{{`name startsWith "A" || name endsWith "z"`, &connectors.Or{
			Left:  &connectors.Match{Field: "name", Op: connectors.StartsWith, Text: "A"},
			Right: &connectors.Match{Field: "name", Op: connectors.EndsWith, Text: "z"}}}}},
		{`(a == 1 && b contains "x") || a == nil`, []Conjunct{{`(a == 1 && b contains "x") || a == nil`, &connectors.Or{
			Left:  &connectors.And{Left: eq("a", 1), Right: &connectors.Match{Field: "b", Op: connectors.Contains, Text: "x"}},
			Right: eq("a", nil)}}}},
		{`modifiedon > date("2024-01-01T00:00:00Z")`, []Conjunct{{`modifiedon > date("2024-01-01T00:00:00Z")`,
			&connectors.Compare{Field: "modifiedon", Op: connectors.Gt, Value: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}}}},
		// Negations and ordering of text could return fewer records under
		// a case-insensitive collation: never offered.
		{`!(isdisabled)`, []Conjunct{local(`!isdisabled`)}},
		{`parentcustomerid != nil`, []Conjunct{local(`parentcustomerid != nil`)}},
		{`name != "ABC"`, []Conjunct{local(`name != "ABC"`)}},
		{`name > "M"`, []Conjunct{local(`name > "M"`)}},
		{`name > nil`, []Conjunct{local(`name > nil`)}},
		{`type == "Person" && trim(name) != ""`, []Conjunct{{`type == "Person"`, eq("type", "Person")}, local(`trim(name) != ""`)}},
		{`len(name) > 3`, []Conjunct{local(`len(name) > 3`)}},
		{`a == b`, []Conjunct{local(`a == b`)}},
		{`a == 1 || len(b) > 2`, []Conjunct{local(`a == 1 || len(b) > 2`)}},
		{`country in []`, []Conjunct{local(`country in []`)}},
		{`country in ["US", code]`, []Conjunct{local(`country in ["US", code]`)}},
		{`name startsWith prefix`, []Conjunct{local(`name startsWith prefix`)}},
		{`modifiedon > date("yesterday")`, []Conjunct{local(`modifiedon > date("yesterday")`)}},
	}
	for _, tt := range tests {
		if got := splitFilter(tt.src); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitFilter(%s):\n got %#v\nwant %#v", tt.src, got, tt.want)
		}
	}
}

// pusher pushes the conditions on the field "a" and keeps the others, and
// records what it was offered.
type pusher struct {
	connectors.Connector
	offered []connectors.Condition
}

func (p *pusher) PushFilter(_ connectors.Entity, conds []connectors.Condition) (string, []int) {
	p.offered = conds
	var pushed string
	var kept []int
	for i, c := range conds {
		if slices.Equal(connectors.ConditionFields(c), []string{"a"}) {
			pushed += "[a]"
		} else {
			kept = append(kept, i)
		}
	}
	return pushed, kept
}

// plain filters nothing.
type plain struct{ connectors.Connector }

func (plain) Read(context.Context, connectors.Query, func(connectors.Page) error) error { return nil }

// TestPushDown: the connector decides which offered conditions it pushes;
// the local part lists, in the filter's order, those it kept and those
// that were never offered, and all of them when the connector filters
// nothing.
func TestPushDown(t *testing.T) {
	t.Parallel()
	side := Side{Connector: "c", Conjuncts: splitFilter(`a == 1 && b == 2 && a != 3 && (a == 4 || a == 5)`)}
	p := &pusher{}
	e := &Engine{conns: map[string]connectors.Connector{"c": p}}
	pushed, local := e.pushDown(side)
	if pushed != "[a][a]" || !slices.Equal(local, []string{`b == 2`, `a != 3`}) {
		t.Errorf("pushDown = %q, %q; want [a][a] and the conditions on b and a != 3 local", pushed, local)
	}
	if len(p.offered) != 3 {
		t.Errorf("offered %d conditions, want 3 (not a != 3)", len(p.offered))
	}

	side = Side{Connector: "c", Conjuncts: splitFilter(`b == 2 && a != 3`)}
	if pushed, local := e.pushDown(side); pushed != "" || len(local) != 2 {
		t.Errorf("nothing pushable: pushDown = %q, %q; want everything local", pushed, local)
	}

	e.conns["c"] = plain{}
	side = Side{Connector: "c", Conjuncts: splitFilter(`a == 1 && b == 2`)}
	if pushed, local := e.pushDown(side); pushed != "" || !slices.Equal(local, []string{`a == 1`, `b == 2`}) {
		t.Errorf("connector without FilterPusher: pushDown = %q, %q; want everything local", pushed, local)
	}
	if pushed, local := e.pushDown(Side{Connector: "c"}); pushed != "" || local != nil {
		t.Errorf("no filter: pushDown = %q, %q", pushed, local)
	}
}
