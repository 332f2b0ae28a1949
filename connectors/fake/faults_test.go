package fake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFaultInjector(t *testing.T) {
	for _, tc := range []struct {
		name    string
		faults  Faults
		kind    string
		status  int  // 0: no response at all
		written bool // whether the POST reached the store
		json    bool // whether the body decodes
	}{
		{"none", Faults{}, "", http.StatusCreated, true, true},
		{"throttle", Faults{Throttle: 1, RetryAfter: time.Second}, FaultThrottle, http.StatusTooManyRequests, false, true},
		{"server error", Faults{ServerError: 1}, FaultServerError, -1, false, true},
		{"reset", Faults{Reset: 1}, FaultReset, 0, false, false},
		{"slow", Faults{Slow: 1, SlowDelay: time.Millisecond}, FaultSlow, http.StatusCreated, true, true},
		{"late", Faults{Late: 1, LateDelay: time.Millisecond}, FaultLate, http.StatusCreated, true, true},
		{"lost", Faults{Lost: 1}, FaultLost, 0, true, false},
		{"truncate", Faults{Truncate: 1}, FaultTruncate, http.StatusCreated, true, false},
		{"malformed", Faults{Malformed: 1}, FaultMalformed, http.StatusCreated, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewCRM()
			fi := WithFaults(s, tc.faults)
			srv := httptest.NewServer(fi)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/accounts", strings.NewReader(`{"name":"x"}`))
			req.Header.Set("Prefer", "return=representation")
			resp, err := srv.Client().Do(req)
			switch {
			case tc.status == 0:
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got a response %s, want none", resp.Status)
				}
			case err != nil:
				t.Fatal(err)
			default:
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if tc.status > 0 && resp.StatusCode != tc.status || tc.status < 0 && resp.StatusCode < 500 {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if tc.kind == FaultThrottle && resp.Header.Get("Retry-After") != "1" {
					t.Errorf("Retry-After %q, want 1", resp.Header.Get("Retry-After"))
				}
				if got := json.Valid(body); got != tc.json {
					t.Errorf("body %q valid JSON = %v, want %v", body, got, tc.json)
				}
			}
			if got := s.Len("accounts"); got != map[bool]int{false: 0, true: 1}[tc.written] {
				t.Errorf("%d accounts stored, want written=%v", got, tc.written)
			}
			if tc.kind != "" && fi.Counts()[tc.kind] != 1 {
				t.Errorf("counts %v, want one %s", fi.Counts(), tc.kind)
			}
		})
	}
}

func TestFaultInjectorRatesAndSeed(t *testing.T) {
	draw := func(seed uint64) string {
		fi := WithFaults(http.NotFoundHandler(), Faults{Seed: seed, Throttle: 0.1, ServerError: 0.1, Reset: 0.1})
		var kinds []string
		for range 1000 {
			k, _, _ := fi.pick()
			kinds = append(kinds, k)
		}
		c := fi.Counts()
		for _, k := range []string{FaultThrottle, FaultServerError, FaultReset} {
			if c[k] < 60 || c[k] > 140 {
				t.Errorf("seed %d: %d %s faults in 1000 draws at rate 0.1", seed, c[k], k)
			}
		}
		return strings.Join(kinds, ",")
	}
	if draw(1) != draw(1) {
		t.Error("the same seed drew different faults")
	}
	if draw(1) == draw(2) {
		t.Error("two seeds drew the same faults")
	}
	fi := WithFaults(http.NotFoundHandler(), Faults{Reset: 1})
	fi.SetEnabled(false)
	if k, _, _ := fi.pick(); k != "" {
		t.Errorf("disabled injector drew %q", k)
	}
}
