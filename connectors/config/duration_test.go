package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "7d", want: 7 * day},
		{in: "2w", want: 14 * day},
		{in: "1w2d", want: 9 * day},
		{in: "1d12h", want: day + 12*time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "-1s", want: -time.Second},
		{in: "-1d", want: -day},
		{in: " 3d ", want: 3 * day},
		{in: "", bad: true},
		{in: "-", bad: true},
		{in: "d", bad: true},
		{in: "7", bad: true},
		{in: "1.5d", bad: true},
		{in: "12h3d", bad: true},
		{in: "2d1w", bad: true},
		{in: "1d-5m", bad: true},
		{in: "1d+5m", bad: true},
		{in: "7days", bad: true},
	} {
		got, err := ParseDuration(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %s, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{7 * 24 * time.Hour: "7d", 36 * time.Hour: "36h0m0s", 0: "0s", 5 * time.Second: "5s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
