package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func samplePlan() *plan.Plan {
	t0 := time.Date(2026, 11, 24, 7, 31, 16, 0, time.UTC)
	return &plan.Plan{
		ID: "20261124-073116-13e5e1", CreatedAt: t0, Fingerprint: "0123456789abcdef", Status: plan.Planned,
		Mappings: []*plan.MappingPlan{{
			Name: "CUSTOMER", Direction: "to_integration",
			Source:      plan.Endpoint{Side: plan.SideTable, Connector: "bc", Entity: "customers", Key: "id", Modified: "lastModifiedDateTime"},
			Dest:        plan.Endpoint{Side: plan.SideIntegration, Connector: "dataverse", Entity: "accounts", Key: "accountid", Modified: "modifiedon"},
			Since:       t0.Add(-time.Hour),
			ReadStarted: t0, NewWatermark: t0.Add(-time.Minute),
			Read: 5, NotModified: 995,
			Counts: plan.Counts{plan.Create: 1, plan.Update: 2, plan.Fail: 1, plan.Skip: 1, plan.Unchanged: 0},
			Operations: []plan.Operation{
				{Seq: 1, Kind: plan.Create, SourceID: "c-1", SourceDisplay: plan.Display{{Field: "number", Value: json.RawMessage(`"C00010"`)}, {Field: "displayName", Value: json.RawMessage(`"Contoso"`)}}, Changes: []plan.Change{
					{Field: "accountnumber", After: json.RawMessage(`"C00010"`)},
					{Field: "creditlimit", After: json.RawMessage(`5000`)},
				}},
				{Seq: 2, Kind: plan.Update, SourceID: "c-2", DestID: "a-2", ETag: `W/"7"`,
					SourceDisplay: plan.Display{{Field: "number", Value: json.RawMessage(`"C00020"`)}, {Field: "displayName", Value: json.RawMessage(`"Adatum Corporation"`)}},
					DestDisplay:   plan.Display{{Field: "accountnumber", Value: json.RawMessage(`"C00020"`)}, {Field: "name", Value: json.RawMessage(`"Adatum"`)}},
					Changes: []plan.Change{
						{Field: "name", Before: json.RawMessage(`"Adatum"`), After: json.RawMessage(`"Adatum Corporation"`)},
						{Field: "telephone1", Before: nil, After: json.RawMessage(`"+1 425 555 0199"`)},
					}},
				{Seq: 4, Kind: plan.Fail, SourceID: "c-4", DestID: "a-4", Reason: "the coupled accounts record no longer exists"},
			},
			Omitted:  1,
			Warnings: []string{"3 of 5 records read would change (60%): check the mapping before applying"},
		}},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (rerun with -update if intended)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestPlanTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := PlanText(&b, samplePlan()); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.txt", b.Bytes())
}

func TestPlanJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := PlanJSON(&b, samplePlan()); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.json", b.Bytes())
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc["changes"] != true || doc["format_version"] != float64(PlanFormatVersion) {
		t.Errorf("changes = %v, format_version = %v", doc["changes"], doc["format_version"])
	}
}

func TestNoChangesSaysSo(t *testing.T) {
	p := samplePlan()
	m := p.Mappings[0]
	m.Counts = plan.Counts{plan.Unchanged: 5}
	m.Operations, m.Omitted = nil, 0
	var b bytes.Buffer
	if err := PlanText(&b, p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("No changes.")) {
		t.Errorf("no-op plan does not say so:\n%s", b.String())
	}
	b.Reset()
	if err := PlanJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte(`"changes": false`)) {
		t.Errorf("no-op plan JSON lacks \"changes\": false:\n%s", b.String())
	}
}

// TestNotInStepSaysSo: a plan that writes nothing is "in step" only when no
// record failed, is in conflict or is skipped; every view says which, with
// the counts, whether or not there is anything to write.
func TestNotInStepSaysSo(t *testing.T) {
	for _, tt := range []struct {
		name    string
		counts  plan.Counts
		changes bool
		want    string // in the text and Markdown
	}{
		{"failed", plan.Counts{plan.Fail: 75, plan.Unchanged: 5}, false, "No changes to write, but not in step: 75 failed."},
		{"conflict", plan.Counts{plan.Conflict: 2}, false, "No changes to write, but not in step: 2 in conflict."},
		{"skipped", plan.Counts{plan.Skipped: 3}, false, "No changes to write, but not in step: 3 skipped (failed twice)."},
		{"changes and failures", plan.Counts{plan.Update: 1, plan.Fail: 1, plan.Skipped: 1}, true,
			"Not in step after apply: 1 failed, 1 skipped (failed twice)."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := samplePlan()
			m := p.Mappings[0]
			m.Counts, m.Operations, m.Omitted = tt.counts, nil, 0
			render := map[string]func(*bytes.Buffer, *plan.Plan) error{
				"text":     func(b *bytes.Buffer, p *plan.Plan) error { return PlanText(b, p) },
				"markdown": func(b *bytes.Buffer, p *plan.Plan) error { return PlanMarkdown(b, p) },
				"html":     func(b *bytes.Buffer, p *plan.Plan) error { return PlanHTML(b, p) },
				"json":     func(b *bytes.Buffer, p *plan.Plan) error { return PlanJSON(b, p) },
			}
			for format, fn := range render {
				var b bytes.Buffer
				if err := fn(&b, p); err != nil {
					t.Fatal(err)
				}
				out := b.String()
				if strings.Contains(out, "in step.") && !strings.Contains(out, "not in step") || strings.Contains(out, "Both sides are in step") {
					t.Errorf("%s says the sides are in step:\n%s", format, out)
				}
				switch format {
				case "text", "markdown", "html":
					if !strings.Contains(out, tt.want) {
						t.Errorf("%s lacks %q:\n%s", format, tt.want, out)
					}
				case "json":
					var doc map[string]any
					if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
						t.Fatal(err)
					}
					if doc["in_step"] != false || doc["changes"] != tt.changes {
						t.Errorf("json: in_step %v, changes %v; want false, %v", doc["in_step"], doc["changes"], tt.changes)
					}
				}
				if format == "html" && !strings.Contains(out, `data-in-step="false"`) {
					t.Errorf("html status lacks data-in-step=\"false\"")
				}
			}
		})
	}
}
