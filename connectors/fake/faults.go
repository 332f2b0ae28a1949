package fake

import (
	"bytes"
	"context"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Faults says how often a FaultInjector breaks a request: each rate is the
// probability, from 0 to 1, that one request gets that fault. At most one
// fault hits a request; the rates are tried in the order of the fields.
type Faults struct {
	// Seed makes the sequence of faults repeatable (for a given order of
	// requests; concurrent requests arrive in an order of their own).
	Seed uint64

	// Throttle answers 429 Too Many Requests with Retry-After, without
	// handling the request.
	Throttle   float64
	RetryAfter time.Duration
	// ServerError answers 500, 502 or 503 without handling the request.
	ServerError float64
	// Reset closes the connection without handling the request or
	// answering.
	Reset float64
	// Slow waits SlowDelay before handling the request. A client that gave
	// up meanwhile (its timeout) has its request dropped unhandled, as a
	// server does when the connection is gone before the request runs.
	Slow      float64
	SlowDelay time.Duration
	// Late waits LateDelay, then handles the request whether or not the
	// client still waits: a write that lands after the client gave up.
	Late      float64
	LateDelay time.Duration
	// Lost handles the request, then closes the connection without
	// answering: the write happened, the client cannot know.
	Lost float64
	// Truncate handles the request and sends its status with only the
	// first half of the body.
	Truncate float64
	// Malformed handles the request and replaces its body with text that
	// is not JSON, keeping the status.
	Malformed float64
}

// Fault kinds, as FaultInjector.Counts keys them.
const (
	FaultThrottle    = "throttle"
	FaultServerError = "server_error"
	FaultReset       = "reset"
	FaultSlow        = "slow"
	FaultLate        = "late"
	FaultLost        = "lost"
	FaultTruncate    = "truncate"
	FaultMalformed   = "malformed"
)

// FaultInjector is an http.Handler that breaks a random share of the
// requests to the handler it wraps (usually a Server), to test that
// clients survive an unreliable network and service. It is safe for
// concurrent use.
type FaultInjector struct {
	next http.Handler

	mu      sync.Mutex
	faults  Faults
	rng     *rand.Rand
	enabled bool
	counts  map[string]int
}

// WithFaults wraps next in a FaultInjector, enabled.
func WithFaults(next http.Handler, f Faults) *FaultInjector {
	return &FaultInjector{next: next, faults: f, rng: rand.New(rand.NewPCG(f.Seed, 0xfa17)), enabled: true, counts: map[string]int{}}
}

// SetEnabled turns fault injection on or off; off, requests pass through.
func (fi *FaultInjector) SetEnabled(on bool) {
	fi.mu.Lock()
	fi.enabled = on
	fi.mu.Unlock()
}

// Counts returns how many faults of each kind were injected so far.
func (fi *FaultInjector) Counts() map[string]int {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return maps.Clone(fi.counts)
}

// pick draws the fault for one request: "" for none.
func (fi *FaultInjector) pick() (kind string, status int, f Faults) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f = fi.faults
	if !fi.enabled {
		return "", 0, f
	}
	x := fi.rng.Float64()
	for _, c := range []struct {
		kind string
		rate float64
	}{
		{FaultThrottle, f.Throttle}, {FaultServerError, f.ServerError}, {FaultReset, f.Reset}, {FaultSlow, f.Slow},
		{FaultLate, f.Late}, {FaultLost, f.Lost}, {FaultTruncate, f.Truncate}, {FaultMalformed, f.Malformed},
	} {
		if x < c.rate {
			kind = c.kind
			break
		}
		x -= c.rate
	}
	if kind == "" {
		return "", 0, f
	}
	fi.counts[kind]++
	if kind == FaultServerError {
		status = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[fi.rng.IntN(3)]
	}
	return kind, status, f
}

// ServeHTTP implements http.Handler.
func (fi *FaultInjector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, status, f := fi.pick()
	switch kind {
	case "":
		fi.next.ServeHTTP(w, r)
	case FaultThrottle:
		w.Header().Set("Content-Type", contentType)
		writeThrottled(w, f.RetryAfter)
	case FaultServerError:
		w.Header().Set("Content-Type", contentType)
		writeStatus(w, status, "InjectedFault", "injected fault: "+strconv.Itoa(status))
	case FaultReset:
		hangUp(w)
	case FaultSlow:
		// With the body read, the server watches the connection and
		// cancels the request's context when the client hangs up.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-time.After(f.SlowDelay):
			fi.next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	case FaultLate:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		time.Sleep(f.LateDelay)
		fi.next.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
	default:
		rec := httptest.NewRecorder()
		fi.next.ServeHTTP(rec, r)
		if kind == FaultLost {
			hangUp(w)
			return
		}
		body := rec.Body.Bytes()
		if kind == FaultTruncate {
			body = body[:len(body)/2]
		} else if len(bytes.TrimSpace(body)) > 0 {
			body = []byte(`{"value": [{"oops" <html>`)
		}
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}
}

// hangUp closes the connection under w without a response. A server that
// cannot hijack (HTTP/2) aborts the handler instead, which also resets.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
