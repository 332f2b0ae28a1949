package mappings

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors/config"
)

// DefaultEvery is how often coupler serve runs a mapping that declares no
// schedule, and whose project declares none: every 30 minutes, as the
// product's job queue does.
const DefaultEvery = 30 * time.Minute

// MinEvery is the shortest interval a schedule may declare: shorter would
// make serve plan continuously and hammer both systems.
const MinEvery = time.Second

// Schedule says when coupler serve runs a mapping on its own: at a fixed
// interval (Every) or at the times a cron expression names (Cron); exactly
// one of the two is set.
type Schedule struct {
	Every time.Duration
	// Cron is a standard five-field cron expression ("*/15 * * * *") or a
	// descriptor (@hourly), in the server's local time unless it starts with
	// CRON_TZ=.
	Cron string
	Pos  Pos
}

// String renders the schedule as a user wrote it: "every 30m0s" or
// "cron */15 * * * *".
func (s Schedule) String() string {
	if s.Cron != "" {
		return "cron " + s.Cron
	}
	return "every " + ShortDuration(s.Every)
}

// ShortDuration renders d without zero trailing units: 30m, 1h, 1h30m,
// 90s rather than 30m0s, 1h0m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseCron parses a cron expression as schedules accept it: five fields
// (minute, hour, day of month, month, day of week) or a descriptor such as
// @hourly or @every 10m, optionally prefixed by CRON_TZ=Zone and a space.
// It never panics: robfig/cron v3.0.1 indexes past the end of a zone
// prefix with no space after it ("CRON_TZ=UTC"), so that is refused first,
// and any other panic of the parser is turned into an error.
func ParseCron(spec string) (sch cron.Schedule, err error) {
	for _, prefix := range []string{"TZ=", "CRON_TZ="} {
		if zone, ok := strings.CutPrefix(spec, prefix); ok && !strings.Contains(zone, " ") {
			return nil, fmt.Errorf("%s%s must be followed by a space and the schedule, e.g. \"%sEurope/Berlin 0 6 * * *\"", prefix, zone, prefix)
		}
	}
	if every, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every "); ok {
		// The parser turns an interval under a second, 0 or negative, into
		// one second without a word.
		if d, err := time.ParseDuration(strings.TrimSpace(every)); err == nil && d < MinEvery {
			return nil, fmt.Errorf("@every must be at least %s, not %s", MinEvery, d)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, fmt.Errorf("not a cron expression (the parser failed: %v)", r)
		}
	}()
	if sch, err = cron.ParseStandard(spec); err != nil {
		return nil, err
	}
	// The parser takes days that never come (30 February); serve would
	// never run such a mapping.
	if sch.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%q never fires: no time within five years matches it", spec)
	}
	return sch, nil
}

// ScheduleOf returns the schedule and inactivity timeout coupler serve uses
// for a mapping: the mapping's own, else the project's defaults, else every
// DefaultEvery with no inactivity back-off.
func (p *Project) ScheduleOf(m *Mapping) (Schedule, time.Duration) {
	s := Schedule{Every: DefaultEvery}
	switch {
	case m.Schedule != nil:
		s = *m.Schedule
	case p.Schedule != nil:
		s = *p.Schedule
	}
	timeout := p.InactivityTimeout
	if m.HasInactivityTimeout {
		timeout = m.InactivityTimeout
	}
	return s, timeout
}

// decodeSchedule decodes schedule: { every: 30m } or schedule: { cron: "..." }.
func decodeSchedule(d *decoder, n *yaml.Node, what string) *Schedule {
	s := &Schedule{Pos: d.Pos(n)}
	var set []*yaml.Node
	ok := d.Object(n, what+": schedule", nil, map[string]config.KeyFunc{
		"every": func(_, v *yaml.Node) {
			set = append(set, v)
			every, ok := d.Duration(v, what+": schedule: every")
			if !ok {
				return
			}
			if every < MinEvery {
				d.Errorf(v, "%s: schedule: every must be at least %s, not %s", what, MinEvery, every)
				return
			}
			s.Every = every
		},
		"cron": func(_, v *yaml.Node) {
			set = append(set, v)
			spec, ok := d.NonEmpty(v, what+": schedule: cron")
			if !ok {
				return
			}
			if _, err := ParseCron(spec); err != nil {
				d.Errorf(v, "%s: schedule: cron %q: %v", what, spec, err)
				return
			}
			s.Cron = spec
		},
	})
	if !ok {
		return nil
	}
	switch len(set) {
	case 0:
		d.Errorf(n, "%s: schedule needs every (e.g. every: 30m) or cron (e.g. cron: \"*/15 * * * *\")", what)
		return nil
	case 2:
		// At the schedule itself, where the schema reports it too.
		d.Errorf(n, "%s: schedule takes every or cron, not both", what)
		return nil
	}
	if s.Every == 0 && s.Cron == "" {
		return nil // the value was wrong and reported
	}
	return s
}

// decodeInactivityTimeout decodes inactivity_timeout: a duration, 0 for no
// back-off.
func decodeInactivityTimeout(d *decoder, n *yaml.Node, what string) (time.Duration, bool) {
	t, ok := d.Duration(n, what+": inactivity_timeout")
	if !ok {
		return 0, false
	}
	if t != 0 && t < MinEvery {
		d.Errorf(n, "%s: inactivity_timeout must be 0 (no back-off) or at least %s, not %s", what, MinEvery, t)
		return 0, false
	}
	return t, true
}
