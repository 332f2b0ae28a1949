package conformance_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/conformance"
	"github.com/couplerhq/coupler/connectors/fake"
)

var updateCAPData = flag.Bool("update-cap-data", false, "rewrite testdata/servers/cap/db/data/erp-*.csv from the fake ERP's seed world")

// TestCAPSeedData keeps the Business Central data SAP CAP loads
// (testdata/servers/cap/db/data/erp-*.csv) equal to the fake ERP's seed
// world of conformance.CAPSeedCustomers customers (fake.SeedAll), so that
// tests against CAP and against the fakes sync the same records and can
// name them with fake.SeedID. After a change to the seed world, run
//
//	go test ./connectors/conformance -run TestCAPSeedData -update-cap-data
func TestCAPSeedData(t *testing.T) {
	t.Parallel()
	files := capSeedCSV(t)
	dir := filepath.Join("testdata", "servers", "cap", "db", "data")
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		if *updateCAPData {
			if err := os.WriteFile(path, files[name], 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, files[name]) {
			t.Errorf("%s is not the fake ERP's seed world (%v); run go test ./connectors/conformance -run TestCAPSeedData -update-cap-data", path, err)
		}
	}
}

// capSeedCSV returns, per file name, the CSV file CAP loads for each
// entity set of the fake ERP but companies: one row per record, in the
// order they were seeded, each below the company fake.BCCompanyID (the
// composition's foreign key company_id), stamped a second apart from
// 2025-06-02T08:00:00Z on.
func capSeedCSV(t *testing.T) map[string][]byte {
	t.Helper()
	erp := fake.NewERP()
	stamp := time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)
	erp.SetClock(func() time.Time { stamp = stamp.Add(time.Second); return stamp })
	if err := fake.SeedAll(erp, fake.NewCRM(), conformance.CAPSeedCustomers); err != nil {
		t.Fatal(err)
	}
	schema := erp.Schema()
	out := map[string][]byte{}
	for _, set := range erp.Sets() {
		if set == "companies" {
			continue
		}
		e := schema.Entity(set)
		if e == nil {
			t.Fatalf("the fake ERP describes no set %s", set)
		}
		cols := []string{"company_id"}
		for _, f := range e.Fields {
			cols = append(cols, f.Name)
		}
		recs := erp.All(set)
		slices.SortStableFunc(recs, func(a, b connectors.Record) int {
			return strings.Compare(fmt.Sprint(a["lastModifiedDateTime"]), fmt.Sprint(b["lastModifiedDateTime"]))
		})
		var buf bytes.Buffer
		buf.WriteString(strings.Join(cols, ";") + "\n")
		for _, r := range recs {
			r["company_id"] = fake.BCCompanyID
			for i, c := range cols {
				if i > 0 {
					buf.WriteByte(';')
				}
				buf.WriteString(csvValue(t, set, c, r[c]))
			}
			buf.WriteByte('\n')
		}
		out["erp-"+set+".csv"] = buf.Bytes()
	}
	return out
}

// csvValue writes v the way CAP's CSV reader (cds.parse.csv) reads it
// back unchanged: text always quoted, since an unquoted value is trimmed,
// an empty one is null and "10000" would be a number; numbers and
// booleans bare; null empty.
func csvValue(t *testing.T, set, col string, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	case json.Number:
		return v.String()
	case bool, int, int64, float64:
		return fmt.Sprint(v)
	}
	t.Fatalf("%s.%s: a %T, which the CSV writer does not know", set, col, v)
	return ""
}
