//go:build linux

package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report/browsertest"
)

// defaultsPlan is a plan over the bundled default mappings, both passes of
// each bidirectional one, with their long entity names (an option set's
// choices(account.address1_freighttermscode)) and counts of every kind
// in the hundreds of thousands: the widest summary table a reviewer
// meets.
func defaultsPlan() *plan.Plan {
	type pass struct{ name, dir, from, to string }
	passes := []pass{
		{"SALESPEOPLE", "from_integration", "dataverse systemusers", "bc salespeople"},
		{"CURRENCY", "to_integration", "bc currencies", "dataverse transactioncurrencies"},
		{"PAYMENT TERMS", "to_integration", "bc paymentTerms", "dataverse choices(account.paymenttermscode)"},
		{"SHIPMENT METHOD", "to_integration", "bc shipmentMethods", "dataverse choices(account.address1_freighttermscode)"},
		{"SHIPPING AGENT", "to_integration", "bc shippingAgents", "dataverse choices(account.address1_shippingmethodcode)"},
		{"CUSTOMER", "to_integration", "bc customers", "dataverse accounts"},
		{"CUSTOMER", "from_integration", "dataverse accounts", "bc customers"},
		{"POSTEDSALESINV-INV", "to_integration", "bc salesInvoices", "dataverse invoices"},
		{"RESOURCE-PRODUCT", "from_integration", "dataverse products", "bc resources"},
	}
	p := samplePlan()
	p.Mappings = nil
	for i, ps := range passes {
		from, to := strings.SplitN(ps.from, " ", 2), strings.SplitN(ps.to, " ", 2)
		counts := plan.Counts{}
		for j, k := range plan.Kinds {
			counts[k] = int64(100000 + 1111*(i+j))
		}
		p.Mappings = append(p.Mappings, &plan.MappingPlan{Name: ps.name, Direction: ps.dir,
			Source: plan.Endpoint{Connector: from[0], Entity: from[1]}, Dest: plan.Endpoint{Connector: to[0], Entity: to[1]},
			Counts: counts, NotModified: 9999999})
	}
	return p
}

// layoutScript measures the page once laid out and writes the widths into
// the DOM, which --dump-dom returns: the document's, the viewport's, and
// the right edges of the summary table and of its widest cell.
const layoutScript = `(function () {
  var t = document.querySelector("table.summary").getBoundingClientRect();
  var right = 0;
  [].forEach.call(document.querySelectorAll("table.summary th, table.summary td"), function (c) {
    right = Math.max(right, c.getBoundingClientRect().right);
  });
  document.body.setAttribute("data-layout", [document.documentElement.scrollWidth, window.innerWidth, Math.ceil(t.right), Math.ceil(right)].join(" "));
})();`

// TestPlanHTMLSummaryFits1400 renders the widest summary table in headless
// Chromium 1400 pixels wide and measures it (getBoundingClientRect): the
// table and every cell end within the window, and the page does not
// scroll sideways.
func TestPlanHTMLSummaryFits1400(t *testing.T) {
	t.Parallel()
	browser := browsertest.New(t)
	dir := browsertest.ArtifactDir(t, "report")
	var b bytes.Buffer
	if err := PlanHTML(&b, defaultsPlan()); err != nil {
		t.Fatal(err)
	}
	// The measuring script runs under the page's policy: its hash is added.
	page := strings.Replace(b.String(), "script-src &#39;", "script-src &#39;"+CSPHash(layoutScript)+"&#39; &#39;", 1)
	page = strings.Replace(page, "</body>", "<script>"+layoutScript+"</script>\n</body>", 1)
	path := filepath.Join(dir, "plan-wide.html")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	const width = 1400
	start := time.Now()
	dom := browser.DOM(t, "file://"+path, width, 900)
	t.Logf("chromium layout run: %s", time.Since(start).Round(time.Millisecond))
	m := regexp.MustCompile(`data-layout="(\d+) (\d+) (\d+) (\d+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the measuring script did not run:\n%s", dom)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	scroll, inner, table, cells := n(1), n(2), n(3), n(4)
	if inner != width {
		t.Fatalf("window is %d px wide, want %d", inner, width)
	}
	if scroll > inner || table > inner || cells > inner {
		t.Errorf("at %d px the summary overflows: document %d px wide, table ends at %d px, its cells at %d px", width, scroll, table, cells)
	}
	png := filepath.Join(dir, "plan-wide.png")
	browser.Screenshot(t, "file://"+path, png, width, 900)
}
