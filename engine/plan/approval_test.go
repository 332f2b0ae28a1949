package plan

import (
	"slices"
	"strings"
	"testing"
)

// TestComputeApproval checks which parts of a plan wait for a person:
// creates into a destination holding records, deletes, and changes beyond
// the share of the records covered, from the floor on.
func TestComputeApproval(t *testing.T) {
	def := ApprovalRule{ChangedShare: 0.5, MinRecords: 100, Deletes: true}
	tests := []struct {
		name string
		m    MappingPlan
		rule ApprovalRule
		want []string // a part of each reason, in order
	}{
		{"nothing", MappingPlan{Read: 10, Counts: Counts{Update: 1}}, def, nil},
		{"creates into existing", MappingPlan{Read: 3, CreatesIntoExisting: true, Counts: Counts{Create: 3}, Dest: Endpoint{Entity: "accounts"}}, def,
			[]string{"first sync into a destination that holds records: 3 records would be created in accounts"}},
		{"deletes", MappingPlan{Read: 5, Counts: Counts{Delete: 2}, Dest: Endpoint{Entity: "accounts"}}, def, []string{"deletes 2 records in accounts (approval: deletes)"}},
		{"deletes allowed", MappingPlan{Read: 5, Counts: Counts{Delete: 2}}, ApprovalRule{ChangedShare: 0.5, MinRecords: 100}, nil},
		{"share exceeded", MappingPlan{Read: 150, NotModified: 50, Coupled: 190, Counts: Counts{Update: 90, Create: 11}}, def,
			[]string{"101 of the 200 records it covers would change (50.5%), more than approval: changed_share 50%"}},
		{"share reached, not exceeded", MappingPlan{Read: 150, NotModified: 50, Coupled: 200, Counts: Counts{Update: 100}}, def, nil},
		// The initial load into an empty destination creates every record:
		// what the review recommends, with nothing there to duplicate.
		{"initial load", MappingPlan{Read: 450, Counts: Counts{Create: 450}}, def, nil},
		{"first sync beside records", MappingPlan{Read: 450, DestRead: 3, Counts: Counts{Create: 450}}, def, []string{"450 of the 450 records it covers would change (100%)"}},
		// An incremental read of the changed records alone: the records not
		// read because unchanged count, so that it does not always wait.
		{"incremental read", MappingPlan{Read: 120, NotModified: 900, Coupled: 1000, Counts: Counts{Update: 120}}, def, nil},
		{"below the floor", MappingPlan{Read: 99, Coupled: 99, Counts: Counts{Update: 99}}, def, nil},
		{"floor 0", MappingPlan{Read: 4, Coupled: 4, Counts: Counts{Update: 3}}, ApprovalRule{ChangedShare: 0.5}, []string{"3 of the 4 records it covers would change (75%)"}},
		{"rule off", MappingPlan{Read: 400, Coupled: 400, Counts: Counts{Update: 400}}, ApprovalRule{ChangedShare: 1, MinRecords: 100}, nil},
		{"all three", MappingPlan{Read: 200, DestRead: 5, CreatesIntoExisting: true, Counts: Counts{Create: 150, Delete: 1}}, def,
			[]string{"first sync", "deletes 1 records", "151 of the 200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.ComputeApproval(tt.rule)
			if len(tt.m.NeedsApproval) != len(tt.want) {
				t.Fatalf("NeedsApproval = %q, want %d reasons like %q", tt.m.NeedsApproval, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(tt.m.NeedsApproval[i], w) {
					t.Errorf("reason %d = %q, want it to say %q", i, tt.m.NeedsApproval[i], w)
				}
			}
		})
	}
}

// TestWaitsForApproval checks that a plan waits only while it is planned
// and nobody approved it.
func TestWaitsForApproval(t *testing.T) {
	p := &Plan{Status: Planned, Mappings: []*MappingPlan{{Name: "CUSTOMER", Direction: "to_integration", NeedsApproval: []string{"deletes 2 records in accounts"}}}}
	if !p.WaitsForApproval() {
		t.Error("a planned plan that needs approval does not wait")
	}
	if got := p.ApprovalReasons(); !slices.Equal(got, []string{"CUSTOMER (to_integration): deletes 2 records in accounts"}) {
		t.Errorf("ApprovalReasons = %q", got)
	}
	p.Approved = &Approval{By: "ana"}
	if p.WaitsForApproval() {
		t.Error("an approved plan still waits")
	}
	p.Approved, p.Status = nil, Applied
	if p.WaitsForApproval() {
		t.Error("an applied plan waits")
	}
}
