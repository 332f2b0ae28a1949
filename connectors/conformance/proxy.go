package conformance

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
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
	failPosts  int    // answer this many next POSTs with 500, unforwarded
	posts      int    // POSTs seen so far
	page       *pageFault
}

// pageFault changes the successful GETs of one read: the nth answers what
// the first did (a paging cycle), or the first names another origin in
// place of the proxy's (a foreign next link).
type pageFault struct {
	replayAt int    // > 0: the GET that answers the first one's body and Link header
	foreign  string // != "": the origin put in place of the proxy's in the first GET's answer
	gets     int
	body     []byte
	link     []string
	hit      bool // the fault was applied
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

// FailPosts makes the next n POSTs answer 500 without reaching the server.
func (p *faultProxy) FailPosts(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failPosts = n
}

// Posts returns the POSTs seen so far.
func (p *faultProxy) Posts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.posts
}

// ReplayFirstPage makes the nth successful GET from now answer the body and
// Link header of the first, so that its next page reference leads back to
// the second page: a cycle A -> B -> C -> B.
func (p *faultProxy) ReplayFirstPage(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.page = &pageFault{replayAt: n}
}

// ForeignNextLinks makes the next successful GET name origin wherever its
// body or Link header names the proxy's, so that an absolute next link
// leads to another host.
func (p *faultProxy) ForeignNextLinks(origin string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.page = &pageFault{foreign: origin}
}

// EndPageFault stops the page fault and reports whether it was applied.
func (p *faultProxy) EndPageFault() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	hit := p.page != nil && p.page.hit
	p.page = nil
	return hit
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
	if req.Method == http.MethodPost {
		p.posts++
		if p.failPosts > 0 {
			p.failPosts--
			p.mu.Unlock()
			body := `{"error":{"code":"500","message":"failed by the conformance suite"}}`
			return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Content-Type": {"application/json"}}, Request: req,
				Body: io.NopCloser(bytes.NewReader([]byte(body))), ContentLength: int64(len(body))}, nil
		}
	}
	if p.page != nil && req.Method == http.MethodGet {
		// Let the transport ask for and undo compression itself, so that
		// the body can be rewritten.
		req.Header.Del("Accept-Encoding")
	}
	p.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	p.mu.Lock()
	body := p.corrupt
	p.corrupt = nil
	fault := p.page
	p.mu.Unlock()
	if body == nil && fault != nil {
		return p.pageFault(fault, resp)
	}
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

// pageFault applies f to a successful GET's response.
func (p *faultProxy) pageFault(f *pageFault, resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	f.gets++
	switch {
	case f.gets == 1 && f.foreign != "":
		own := p.srv.URL
		link := resp.Header.Values("Link")
		if bytes.Contains(body, []byte(own)) || strings.Contains(strings.Join(link, ","), own) {
			f.hit = true
			body = bytes.ReplaceAll(body, []byte(own), []byte(f.foreign))
			resp.Header.Del("Link")
			for _, l := range link {
				resp.Header.Add("Link", strings.ReplaceAll(l, own, f.foreign))
			}
		}
	case f.gets == 1:
		f.body, f.link = body, resp.Header.Values("Link")
	case f.gets == f.replayAt:
		f.hit = true
		body = f.body
		resp.Header.Del("Link")
		for _, l := range f.link {
			resp.Header.Add("Link", l)
		}
	}
	p.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}
