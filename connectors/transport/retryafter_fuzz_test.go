package transport

import (
	"net/http"
	"testing"
	"time"
)

// FuzzRetryAfter reads arbitrary Retry-After headers: the wait is never
// negative nor longer than MaxRetryAfter, whatever the server sends.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "1", "120", "-5", "99999999999999999999", "1.5", "", " 7 ",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 2094 08:49:37 GMT", "garbage"} {
		f.Add(s, int64(1700000000))
	}
	f.Fuzz(func(t *testing.T, header string, unix int64) {
		now := time.Unix(unix%(1<<40), 0)
		for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusOK} {
			resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {header}}}
			d, ok := RetryAfter(resp, now)
			if d < 0 || d > MaxRetryAfter {
				t.Fatalf("Retry-After %q: wait %v", header, d)
			}
			if ok && status == http.StatusOK {
				t.Fatalf("Retry-After %q honoured on a 200", header)
			}
			if b := Backoff(time.Millisecond, time.Second, 3, resp); b < 0 || b > MaxRetryAfter {
				t.Fatalf("Retry-After %q: backoff %v", header, b)
			}
		}
	})
}
