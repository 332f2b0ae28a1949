package statetest

import (
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// RunWatermarks checks the Watermarks part: per mapping and side, moved
// by hand, lowered, cleared. How a run moves them with its end is in
// RunRuns, which needs the Runs part as well.
func RunWatermarks(t *testing.T, open func(t *testing.T) state.Watermarks) {
	runChecks(t, open, []check[state.Watermarks]{
		{"none at first", watermarksNone},
		{"set and read back", watermarkRoundTrip},
		{"per mapping and side", watermarksApart},
		{"lower", lowerWatermark},
		{"clear", clearWatermarks},
	})
}

// wantWatermark checks a mapping's watermark on one side; want zero means
// none.
func wantWatermark(t *testing.T, s state.Watermarks, mapping, side string, want time.Time) {
	t.Helper()
	got, ok, err := s.Watermark(t.Context(), mapping, side)
	must(t, err)
	switch {
	case want.IsZero() && (ok || !got.IsZero()):
		t.Errorf("watermark of %s, %s side: %v, want none", mapping, side, got)
	case !want.IsZero() && (!ok || !sameTime(got, want)):
		t.Errorf("watermark of %s, %s side: %v (set: %v), want %v", mapping, side, got, ok, storedTime(want))
	}
}

func watermarksNone(t *testing.T, s state.Watermarks) {
	wantWatermark(t, s, "CUSTOMER", "table", time.Time{})
	tok, ok, err := s.ChangeToken(t.Context(), "CUSTOMER", "integration")
	must(t, err)
	if ok || tok != "" {
		t.Errorf("change token of a new state: %q (%v), want none", tok, ok)
	}
	n, err := s.ClearChangeTokens(t.Context(), "CUSTOMER")
	must(t, err)
	if n != 0 {
		t.Errorf("ClearChangeTokens with none: %d", n)
	}
}

// watermarkRoundTrip: a watermark comes back as the same instant, in UTC,
// to the microsecond; setting it again moves it, back as well as forward.
func watermarkRoundTrip(t *testing.T, s state.Watermarks) {
	ctx := t.Context()
	must(t, s.SetWatermark(ctx, "CUSTOMER", "table", aTime))
	wantWatermark(t, s, "CUSTOMER", "table", aTime)
	later := aTime.Add(time.Hour)
	must(t, s.SetWatermark(ctx, "CUSTOMER", "table", later))
	wantWatermark(t, s, "CUSTOMER", "table", later)
	must(t, s.SetWatermark(ctx, "CUSTOMER", "table", aTime))
	wantWatermark(t, s, "CUSTOMER", "table", aTime)
}

func watermarksApart(t *testing.T, s state.Watermarks) {
	ctx := t.Context()
	must(t, s.SetWatermark(ctx, "CUSTOMER", "table", aTime))
	must(t, s.SetWatermark(ctx, "CUSTOMER", "integration", aTime.Add(time.Minute)))
	must(t, s.SetWatermark(ctx, "VENDOR", "table", aTime.Add(time.Hour)))
	wantWatermark(t, s, "CUSTOMER", "table", aTime)
	wantWatermark(t, s, "CUSTOMER", "integration", aTime.Add(time.Minute))
	wantWatermark(t, s, "VENDOR", "table", aTime.Add(time.Hour))
	wantWatermark(t, s, "VENDOR", "integration", time.Time{})
}

// lowerWatermark: only ever back, and only a watermark there is.
func lowerWatermark(t *testing.T, s state.Watermarks) {
	ctx := t.Context()
	must(t, s.SetWatermark(ctx, "CUSTOMER", "table", aTime))
	must(t, s.LowerWatermark(ctx, "CUSTOMER", "table", aTime.Add(time.Hour)))
	wantWatermark(t, s, "CUSTOMER", "table", aTime)
	must(t, s.LowerWatermark(ctx, "CUSTOMER", "table", aTime.Add(-time.Hour)))
	wantWatermark(t, s, "CUSTOMER", "table", aTime.Add(-time.Hour))
	must(t, s.LowerWatermark(ctx, "CUSTOMER", "integration", aTime))
	wantWatermark(t, s, "CUSTOMER", "integration", time.Time{})
}

// clearWatermarks: both sides of the mappings named, no others; the
// count is of watermarks removed.
func clearWatermarks(t *testing.T, s state.Watermarks) {
	ctx := t.Context()
	must(t, s.SetWatermark(ctx, "CUSTOMER", "table", aTime))
	must(t, s.SetWatermark(ctx, "CUSTOMER", "integration", aTime))
	must(t, s.SetWatermark(ctx, "VENDOR", "table", aTime))
	n, err := s.ClearWatermarks(ctx, []string{"CUSTOMER", "CONTACT"})
	must(t, err)
	if n != 2 {
		t.Errorf("ClearWatermarks(CUSTOMER, CONTACT) = %d, want 2", n)
	}
	wantWatermark(t, s, "CUSTOMER", "table", time.Time{})
	wantWatermark(t, s, "CUSTOMER", "integration", time.Time{})
	wantWatermark(t, s, "VENDOR", "table", aTime)
	n, err = s.ClearWatermarks(ctx, nil)
	must(t, err)
	if n != 0 {
		t.Errorf("ClearWatermarks() = %d, want 0", n)
	}
	wantWatermark(t, s, "VENDOR", "table", aTime)
}

// RunDefinitions checks the Definitions part that stands alone: first
// sync acknowledgements. A pass's definition is kept by FinishRun
// (RunRuns).
func RunDefinitions(t *testing.T, open func(t *testing.T) state.Definitions) {
	runChecks(t, open, []check[state.Definitions]{
		{"acknowledge", acknowledge},
	})
}

func acknowledge(t *testing.T, s state.Definitions) {
	ctx := t.Context()
	if fp, ok, err := s.Definition(ctx, "CUSTOMER", "to_integration"); err != nil || ok || fp != "" {
		t.Errorf("definition in a new state: %q (%v), %v; want none", fp, ok, err)
	}
	for range 2 { // twice is once
		must(t, s.Acknowledge(ctx, "CUSTOMER"))
		for mapping, want := range map[string]bool{"CUSTOMER": true, "VENDOR": false} {
			got, err := s.Acknowledged(ctx, mapping)
			must(t, err)
			if got != want {
				t.Errorf("Acknowledged(%s) = %v, want %v", mapping, got, want)
			}
		}
	}
}
