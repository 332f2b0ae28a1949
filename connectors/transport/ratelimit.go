package transport

import (
	"fmt"
	"net/http"

	"golang.org/x/time/rate"
)

// limitTransport waits for a token from limiter before each attempt.
type limitTransport struct {
	limiter *rate.Limiter
	next    http.RoundTripper
}

// errRateWait marks a failure to obtain a token (the context would expire
// first); retrying cannot help, so checkRetry stops on it.
type errRateWait struct{ err error }

func (e errRateWait) Error() string { return fmt.Sprintf("rate limit wait: %v", e.err) }
func (e errRateWait) Unwrap() error { return e.err }

// RoundTrip implements http.RoundTripper.
func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.limiter.Wait(req.Context()); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, errRateWait{err}
	}
	return t.next.RoundTrip(req)
}
