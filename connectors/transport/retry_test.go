package transport

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestBackoffJitteredExponential(t *testing.T) {
	lo, hi := 200*time.Millisecond, 30*time.Second
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, lo, lo},
		{1, lo, 2 * lo},
		{3, lo, 8 * lo},
		{10, lo, hi},
		{63, lo, hi}, // no overflow
		{1000, lo, hi},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := Backoff(lo, hi, tt.attempt, nil)
			if d < tt.min || d > tt.max {
				t.Fatalf("attempt %d: wait %v outside [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if tt.max > tt.min && len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct waits; want jitter", tt.attempt, len(seen))
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header string
		want   time.Duration
		ok     bool
	}{
		{"seconds on 429", 429, "3", 3 * time.Second, true},
		{"seconds on 503", 503, " 7 ", 7 * time.Second, true},
		{"zero", 429, "0", 0, true},
		{"http date", 429, "Wed, 01 May 2024 12:00:05 GMT", 5 * time.Second, true},
		{"http date in the past", 503, "Wed, 01 May 2024 11:00:00 GMT", 0, true},
		{"capped", 429, "86400", MaxRetryAfter, true},
		{"huge", 429, "99999999999999999999", 0, false},
		{"negative", 429, "-1", 0, false},
		{"garbage", 429, "soon", 0, false},
		{"absent", 429, "", 0, false},
		{"ignored on 500", 500, "3", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.header != "" {
				resp.Header.Set("Retry-After", tt.header)
			}
			got, ok := RetryAfter(resp, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := RetryAfter(nil, now); ok {
		t.Error("RetryAfter(nil) ok")
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://org.crm.dynamics.com/api/data/v9.2/", "https://org.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=1", true},
		{"https://ORG.crm.dynamics.com/", "https://org.crm.dynamics.com:443/x", true},
		{"http://h/", "http://h:80/", true},
		{"https://h/", "http://h/", false},
		{"https://h/", "https://h:8443/", false},
		{"https://h/", "https://evil.example/", false},
		{"https://h/", "https://h.evil.example/", false},
		{"https://user:pw@h/", "https://h/", true},
		{"http://[::1]:8080/", "http://[::1]:8080/a", true},
	}
	for _, tt := range tests {
		a, _ := url.Parse(tt.a)
		b, _ := url.Parse(tt.b)
		if got := SameOrigin(a, b); got != tt.want {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
