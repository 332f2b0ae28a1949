package transport

import (
	"net/http"
	"sync/atomic"
)

// Observer is told of the HTTP traffic of every client New made, for
// metrics: coupler serve counts requests and retries per connector. It
// sees requests and status codes, never bodies or credentials (the
// Authorization header is set on a clone further in).
type Observer interface {
	// Attempt is called after each attempt with its response, or with the
	// error that left it without one.
	Attempt(req *http.Request, resp *http.Response, err error)
	// Retry is called before each attempt that repeats an earlier one.
	Retry(req *http.Request)
}

var observer atomic.Pointer[Observer]

// SetObserver makes o the observer of every client, including those made
// before; nil stops observing. A process has one observer, since the
// metrics it feeds are the process's.
func SetObserver(o Observer) {
	if o == nil {
		observer.Store(nil)
		return
	}
	observer.Store(&o)
}

func currentObserver() Observer {
	if p := observer.Load(); p != nil {
		return *p
	}
	return nil
}

// observeTransport reports each attempt to the observer, if one is set.
type observeTransport struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t observeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if o := currentObserver(); o != nil {
		o.Attempt(req, resp, err)
	}
	return resp, err
}

// observeRetry is the retryablehttp.RequestLogHook: attempt 0 is the
// first, any later one a retry.
func observeRetry(req *http.Request, attempt int) {
	if attempt == 0 {
		return
	}
	if o := currentObserver(); o != nil {
		o.Retry(req)
	}
}
