package fake

import (
	"maps"
	"sync"
	"time"
)

// Stats counts the HTTP requests a Server received. Requests inside a $batch
// are not counted separately: the batch is one request, as it is for the
// real systems' request counters.
type Stats struct {
	// Requests is the number of requests received, throttled ones included.
	Requests int
	// Throttled is the number of requests answered 429.
	Throttled int
	// ByMethod counts requests by HTTP method, throttled ones included.
	ByMethod map[string]int
}

// control holds the knobs a test turns while requests are in flight. It has
// its own lock so that counting never waits for the store.
type control struct {
	mu         sync.Mutex
	throttle   int // requests still to be answered 429
	retryAfter time.Duration
	stats      Stats
}

func (c *control) reset() {
	c.mu.Lock()
	c.stats = Stats{ByMethod: map[string]int{}}
	c.mu.Unlock()
}

// admit counts a request and reports whether it must be throttled, and for
// how long the client should wait.
func (c *control) admit(method string) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Requests++
	c.stats.ByMethod[method]++
	if c.throttle <= 0 {
		return 0, false
	}
	c.throttle--
	c.stats.Throttled++
	return c.retryAfter, true
}

// Throttle makes the server answer the next n HTTP requests with 429 Too Many
// Requests, a Retry-After header and an OData error body, without touching
// the store. Retry-After is retryAfter in whole seconds rounded up (so any
// positive duration is at least 1); zero or a negative duration sends
// "Retry-After: 0". n <= 0 cancels throttling. Each call replaces the
// previous one.
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.ctl.mu.Lock()
	s.ctl.throttle = max(n, 0)
	s.ctl.retryAfter = retryAfter
	s.ctl.mu.Unlock()
}

// Stats returns a copy of the request counters.
func (s *Server) Stats() Stats {
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	st := s.ctl.stats
	st.ByMethod = maps.Clone(st.ByMethod)
	return st
}

// ResetStats zeroes the request counters. Pending throttling is kept.
func (s *Server) ResetStats() { s.ctl.reset() }

// retryAfterSeconds renders d as Retry-After does: whole seconds, rounded up.
func retryAfterSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
