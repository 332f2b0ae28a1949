package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dayUnits are the units ParseDuration accepts on top of time.ParseDuration's:
// retention is thought of in days and weeks (plans prune --older-than 7d), and
// time.ParseDuration stops at hours.
var dayUnits = []struct {
	suffix string
	unit   time.Duration
}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}}

// ParseDuration parses a duration as time.ParseDuration does, and also whole
// days and weeks in front of it, for the CLI's flags and the files' durations alike: "7d", "2w", "1d12h", "-1d". A day is 24
// hours, whatever the clocks do that day.
func ParseDuration(s string) (time.Duration, error) {
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

// FormatDuration renders d as ParseDuration reads it, in days where it is a
// whole number of them: the defaults in --help read "7d", not "168h0m0s".
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
