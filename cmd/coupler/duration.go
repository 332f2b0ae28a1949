package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// dayUnits are the units parseDuration accepts on top of time.ParseDuration's:
// retention is thought of in days and weeks (plans prune --older-than 7d), and
// time.ParseDuration stops at hours.
var dayUnits = []struct {
	suffix string
	unit   time.Duration
}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}}

// parseDuration parses a duration as time.ParseDuration does, and also whole
// days and weeks in front of it: "7d", "2w", "1d12h", "-1d". A day is 24
// hours, whatever the clocks do that day.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid duration %q: use a number and a unit such as 30m, 12h, 7d or 2w", s)
	rest := strings.TrimSpace(s)
	sign := time.Duration(1)
	if r, ok := strings.CutPrefix(rest, "-"); ok {
		sign, rest = -1, r
	} else {
		rest = strings.TrimPrefix(rest, "+")
	}
	if rest == "" {
		return 0, bad
	}
	var total time.Duration
	for _, du := range dayUnits {
		i := strings.Index(rest, du.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil {
			return 0, bad
		}
		total += time.Duration(n) * du.unit
		rest = rest[i+len(du.suffix):]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 || strings.HasPrefix(rest, "+") {
			return 0, bad
		}
		total += d
	}
	return sign * total, nil
}

// formatDuration renders d as parseDuration reads it, in days where it is a
// whole number of them: the defaults in --help read "7d", not "168h0m0s".
func formatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// durationValue is a flag holding a duration parsed by parseDuration.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return formatDuration(time.Duration(*d)) }

// Type is what --help shows as the flag's argument.
func (d *durationValue) Type() string { return "duration" }

// durationFlag defines a duration flag that also accepts days and weeks;
// every duration flag of the CLI uses it, so that they all read alike.
func durationFlag(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var((*durationValue)(p), name, usage)
}
