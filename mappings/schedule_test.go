package mappings

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestScheduleOf checks that a mapping's own schedule and inactivity
// timeout win over the project's, and that the project's fill in for the
// rest, with every 30m and no back-off when neither says.
func TestScheduleOf(t *testing.T) {
	side := "table: { connector: erp, entity: e, key: id }\nintegration: { connector: crm, entity: e, key: id }\nfields: [{ field: a, integration_field: a }]\n"
	tests := []struct {
		name, project, mapping string
		want                   Schedule
		wantTimeout            time.Duration
	}{
		{"defaults", "", "", Schedule{Every: DefaultEvery}, 0},
		{"project", "schedule: { cron: \"*/15 * * * *\" }\ninactivity_timeout: 12h\n", "", Schedule{Cron: "*/15 * * * *"}, 12 * time.Hour},
		{"mapping wins", "schedule: { every: 1h }\ninactivity_timeout: 12h\n", "schedule: { every: 5m }\ninactivity_timeout: 0\n", Schedule{Every: 5 * time.Minute}, 0},
		{"mapping timeout only", "schedule: { every: 1h }\n", "inactivity_timeout: 24h\n", Schedule{Every: time.Hour}, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			project := "version: 1\nconnectors:\n  erp: { type: odata, base_url: \"http://erp\" }\n  crm: { type: odata, base_url: \"http://crm\" }\nmappings: [m.yaml]\n" + tt.project
			if err := os.WriteFile(filepath.Join(dir, ProjectFile), []byte(project), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte("name: CUSTOMER\n"+side+tt.mapping), 0o644); err != nil {
				t.Fatal(err)
			}
			p, diags := Load(dir, LoadOptions{Getenv: testEnv})
			if diags.HasErrors() {
				t.Fatalf("unexpected diagnostics:\n%v", diags)
			}
			got, timeout := p.ScheduleOf(p.Mapping("CUSTOMER"))
			got.Pos = Pos{}
			if got != tt.want || timeout != tt.wantTimeout {
				t.Errorf("ScheduleOf = %v, %v; want %v, %v", got, timeout, tt.want, tt.wantTimeout)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Minute: "30m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 12 * time.Hour: "12h", 0: "0s", 1500 * time.Millisecond: "1.5s"} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
