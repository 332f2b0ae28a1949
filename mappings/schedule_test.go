package mappings

import (
	"os"
	"path/filepath"
	"strings"
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
		// Days and weeks, as the CLI's duration flags take them.
		{"days", "schedule: { every: 1d }\ninactivity_timeout: 2w\n", "", Schedule{Every: 24 * time.Hour}, 14 * 24 * time.Hour},
		{"days and hours", "", "schedule: { every: 1d12h }\ninactivity_timeout: 7d\n", Schedule{Every: 36 * time.Hour}, 7 * 24 * time.Hour},
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

// TestParseCronRefuses checks the specs robfig/cron accepts wrongly or
// panics on: a zone prefix with nothing after it (an index out of range in
// v3.0.1), and @every under a second (silently made one second).
func TestParseCronRefuses(t *testing.T) {
	for spec, want := range map[string]string{
		"CRON_TZ=UTC":                 "CRON_TZ=UTC must be followed by a space and the schedule",
		"TZ=Europe/Berlin":            "TZ=Europe/Berlin must be followed by a space",
		"CRON_TZ=UTC\t@hourly":        "must be followed by a space",
		"CRON_TZ=":                    "must be followed by a space",
		"@every 0s":                   "@every must be at least 1s, not 0s",
		"@every -1s":                  "@every must be at least 1s",
		"@every 500ms":                "@every must be at least 1s",
		"CRON_TZ=Nowhere/X 0 6 * * *": "Nowhere/X",
		"0 0 30 2 *":                  "never fires",
	} {
		sch, err := ParseCron(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCron(%q) = %v, %v; want an error with %q", spec, sch, err, want)
		}
	}
	for _, spec := range []string{"CRON_TZ=UTC 0 6 * * *", "TZ=Europe/Berlin @hourly", "*/15 * * * *", "@every 1s", "@every 10m"} {
		if _, err := ParseCron(spec); err != nil {
			t.Errorf("ParseCron(%q): %v", spec, err)
		}
	}
}

// FuzzParseCron parses arbitrary text as a schedule's cron: never a panic,
// and a schedule that parses has a next time after now (or none).
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{
		"*/15 * * * *", "0 6 * * 1-5", "@hourly", "@every 10m", "@every 0s", "@every -1s",
		"CRON_TZ=UTC", "TZ=Europe/Berlin", "CRON_TZ=UTC 0 6 * * *", "TZ=", "CRON_TZ=", "CRON_TZ= ",
		"TZ=UTC\t* * * * *", "CRON_TZ=a=b * * * * *", "60 * * * *", "* * * * * *", "@", "@every", "",
		"0-59/0 * * * *", "*/0 * * * *", "1-0 * * * *", "? ? ? ? ?", "L * * * *",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		if len(spec) > 200 {
			return
		}
		sch, err := ParseCron(spec)
		if err != nil {
			return
		}
		if next := sch.Next(now); !next.IsZero() && !next.After(now) {
			t.Errorf("ParseCron(%q).Next(%v) = %v, not after it", spec, now, next)
		}
	})
}
