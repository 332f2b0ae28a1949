package engine_test

import (
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
)

// TestSearchCouplings: serve's couplings view finds a coupling by either
// id (as a person types it) or by either record's display values, case
// folded, and pages through them with the total.
func TestSearchCouplings(t *testing.T) {
	t.Parallel()
	w := newBidiWorldWith(t, displayMapping, connectors.Record{"accountnumber": "A-1", "name": "Only in the CRM", "address1_city": "Oslo"})
	w.apply(w.plan(engine.PlanOptions{}).ID)
	ctx := t.Context()
	c1 := fake.Customer(1)
	for _, tt := range []struct {
		name, q string
		total   int64
		want    string // a table display text of a row found
	}{
		{"all", "", 6, ""},
		{"table display", strings.ToUpper(c1["displayName"].(string)[2:9]), 1, c1["number"].(string) + " · " + c1["displayName"].(string)},
		{"integration display", "only in the crm", 1, ""},
		{"table id in upper case", strings.ToUpper(fake.CustomerID(1)), 1, c1["number"].(string)},
		{"nothing", "no such thing", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page, err := w.e.SearchCouplings(ctx, "CUSTOMER", tt.q, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != tt.total || int64(len(page.Rows)) != tt.total {
				t.Fatalf("q %q: %d rows of %d, want %d", tt.q, len(page.Rows), page.Total, tt.total)
			}
			if tt.want != "" && !strings.Contains(page.Rows[0].TableDisplay.Text(), tt.want) {
				t.Errorf("q %q: table display %q, want %q", tt.q, page.Rows[0].TableDisplay.Text(), tt.want)
			}
			for _, r := range page.Rows {
				if r.TableID == "" || r.IntegrationID == "" || r.CoupledAt.IsZero() {
					t.Errorf("row %+v lacks ids or its time", r)
				}
			}
		})
	}
	first, err := w.e.SearchCouplings(ctx, "CUSTOMER", "", 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	second, err := w.e.SearchCouplings(ctx, "CUSTOMER", "", 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Rows) != 4 || len(second.Rows) != 2 || first.Total != 6 || second.Total != 6 || second.Rows[0].TableID <= first.Rows[3].TableID {
		t.Errorf("pages: %d and %d rows of %d and %d, in table id order", len(first.Rows), len(second.Rows), first.Total, second.Total)
	}
	if past, err := w.e.SearchCouplings(ctx, "CUSTOMER", "", 40, 4); err != nil || len(past.Rows) != 0 || past.Total != 6 {
		t.Errorf("past the last page: %d rows of %d (%v)", len(past.Rows), past.Total, err)
	}
	if _, err := w.e.SearchCouplings(ctx, "CUSTOMERS", "", 0, 4); err == nil || !strings.Contains(err.Error(), "CUSTOMER") {
		t.Errorf("an unknown mapping: %v", err)
	}
}
