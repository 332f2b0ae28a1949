package conformance

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
)

// faultProxy stands between the connector and the server under test, so
// that every server, also one nobody here wrote, can be made to throttle or
// to answer garbage on demand.
type faultProxy struct {
	srv *httptest.Server

	mu         sync.Mutex
	throttle   int    // answer this many next requests with 429
	retryAfter string // Retry-After of those 429s
	corrupt    []byte // when set, the body of the next successful GET
	throttled  int    // 429s served so far
	requests   int    // requests seen so far
}

func newFaultProxy(target *url.URL) *faultProxy {
	p := &faultProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	rp.Transport = p
	// The Host header stays the proxy's, so that servers build their next
	// links and Location headers on the proxy's origin.
	p.srv = httptest.NewServer(rp)
	return p
}

// URL returns the proxy's URL with target's path.
func (p *faultProxy) URL(target *url.URL) string {
	u, _ := url.Parse(p.srv.URL)
	u.Path, u.RawPath, u.RawQuery = target.Path, target.RawPath, target.RawQuery
	return u.String()
}

func (p *faultProxy) Close() { p.srv.Close() }

// Throttle makes the next n requests answer 429 with Retry-After.
func (p *faultProxy) Throttle(n int, retryAfterSeconds int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttle, p.retryAfter = n, strconv.Itoa(retryAfterSeconds)
}

// Corrupt makes the next successful GET answer body instead of the
// server's.
func (p *faultProxy) Corrupt(body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.corrupt = body
}

// Counts returns the requests seen and the 429s served.
func (p *faultProxy) Counts() (requests, throttled int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, p.throttled
}

// RoundTrip implements http.RoundTripper for the reverse proxy.
func (p *faultProxy) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.requests++
	if p.throttle > 0 {
		p.throttle--
		p.throttled++
		ra := p.retryAfter
		p.mu.Unlock()
		h := http.Header{"Retry-After": {ra}, "Content-Type": {"application/json"}}
		body := `{"error":{"code":"429","message":"throttled by the conformance suite"}}`
		return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: req,
			Body: io.NopCloser(bytes.NewReader([]byte(body))), ContentLength: int64(len(body))}, nil
	}
	p.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	p.mu.Lock()
	body := p.corrupt
	p.corrupt = nil
	p.mu.Unlock()
	if body != nil {
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Link") // or the connector would go on to a next page
	}
	return resp, nil
}
