package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

const secret = "s3cr3t-token"

// fastOptions keeps backoff waits tiny so tests stay fast.
func fastOptions() Options {
	return Options{MaxRetries: -1, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}
}

func newClient(t *testing.T, o Options) *http.Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// scripted serves statuses in order, then 200, counting requests.
func scripted(statuses []int, header http.Header) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(statuses) {
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(statuses[i])
			return
		}
		w.Write([]byte("ok"))
	}))
	return srv, &n
}

func TestRetryByStatus(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		statuses   []int
		maxRetries int
		wantCalls  int32
		wantStatus int  // final status when no error
		wantErr    bool // a *RetryError
	}{
		{"429 then ok", "GET", []int{429}, -1, 2, 200, false},
		{"503 twice then ok", "GET", []int{503, 503}, -1, 3, 200, false},
		{"500 then ok", "GET", []int{500}, -1, 2, 200, false},
		{"502 then ok", "PATCH", []int{502}, -1, 2, 200, false},
		{"400 not retried", "GET", []int{400}, -1, 1, 400, false},
		{"404 not retried", "DELETE", []int{404}, -1, 1, 404, false},
		{"412 not retried", "PATCH", []int{412}, -1, 1, 412, false},
		{"501 not retried", "GET", []int{501}, -1, 1, 501, false},
		{"post 500 not retried", "POST", []int{500}, -1, 1, 500, false},
		{"post 429 retried", "POST", []int{429}, -1, 2, 200, false},
		{"post 503 retried", "POST", []int{503}, -1, 2, 200, false},
		{"gives up after max retries", "GET", []int{500, 500, 500, 500}, 2, 3, 0, true},
		{"zero retries", "GET", []int{503}, 0, 1, 0, true},
		{"default is four retries", "GET", []int{503, 503, 503, 503, 503, 503}, -1, 5, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := scripted(tt.statuses, nil)
			defer srv.Close()
			o := fastOptions()
			o.MaxRetries = tt.maxRetries
			c := newClient(t, o)

			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+"/x?a=1", strings.NewReader(`{"a":1}`))
			resp, err := c.Do(req)
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantErr {
				var re *RetryError
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want a *RetryError", err)
				}
				last := tt.statuses[tt.wantCalls-1]
				if re.Attempts != int(tt.wantCalls) || re.StatusCode != last {
					t.Errorf("RetryError = %+v, want %d attempts, last status %d", re, tt.wantCalls, last)
				}
				msg := err.Error()
				t.Logf("error: %s", msg)
				for _, want := range []string{"giving up after", http.StatusText(last), srv.URL + "/x"} {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q does not mention %q", msg, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	srv, calls := scripted([]int{429}, http.Header{"Retry-After": {"1"}})
	defer srv.Close()
	c := newClient(t, fastOptions())

	start := time.Now()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	elapsed := time.Since(start)
	if calls.Load() != 2 {
		t.Errorf("calls = %d, want 2", calls.Load())
	}
	// MaxWait is 5ms, so only Retry-After explains a wait of a second.
	if elapsed < time.Second || elapsed > 1800*time.Millisecond {
		t.Errorf("elapsed = %v, want about 1s", elapsed)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	srv, calls := scripted([]int{503, 503, 503, 503, 503}, http.Header{"Retry-After": {"30"}})
	defer srv.Close()
	c := newClient(t, fastOptions())

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	_, err := c.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("took %v after cancellation", elapsed)
	}
	if calls.Load() != 1 {
		t.Errorf("calls = %d, want 1", calls.Load())
	}
}

func TestConnectionErrorsRetried(t *testing.T) {
	// A listener that is closed at once gives "connection refused".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			o := fastOptions()
			o.MaxRetries = 2
			c := newClient(t, o)
			req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+addr+"/", strings.NewReader("{}"))
			_, err := c.Do(req)
			var re *RetryError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RetryError", err)
			}
			// Dial errors are safe to retry even for POST: nothing was sent.
			if re.Attempts != 3 || re.Err == nil {
				t.Errorf("RetryError = %+v, want 3 attempts and a transport error", re)
			}
		})
	}
}

func TestBearerAuth(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	var logs bytes.Buffer
	o := fastOptions()
	o.MaxRetries = 1
	o.Auth = connectors.Auth{Type: "bearer", Token: secret}
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, o)

	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
	_, err := c.Do(req)
	if err == nil {
		t.Fatal("want an error after retries")
	}
	if got.Load() != "Bearer "+secret {
		t.Errorf("Authorization = %q", got.Load())
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("the caller's request was modified")
	}
	t.Logf("logs:\n%s", logs.String())
	if !strings.Contains(logs.String(), "retrying request") {
		t.Errorf("retry not logged: %s", logs.String())
	}
	for name, s := range map[string]string{"error": err.Error(), "logs": logs.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("%s leak the token: %s", name, s)
		}
	}
}

func TestNoAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			t.Errorf("Authorization = %q, want none", h)
		}
	}))
	defer srv.Close()
	for _, typ := range []string{"", "none"} {
		o := fastOptions()
		o.Auth = connectors.Auth{Type: typ}
		resp, err := newClient(t, o).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

func TestInvalidAuth(t *testing.T) {
	tests := []struct {
		name string
		auth connectors.Auth
		want string
	}{
		{"unknown type", connectors.Auth{Type: "digest", Token: secret}, `unsupported type "digest"`},
		{"basic without username", connectors.Auth{Type: "basic", Password: secret}, "empty username"},
		{"api_key without key", connectors.Auth{Type: "api_key", Header: "X-Key"}, "empty key"},
		{"bearer without token", connectors.Auth{Type: "bearer"}, "empty token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{Auth: tt.auth})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the other origin with Authorization %q", r.Header.Get("Authorization"))
	}))
	defer other.Close()
	var sameAuth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/target", http.StatusFound)
		case "/target":
			sameAuth.Store(r.Header.Get("Authorization"))
		case "/away":
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		}
	}))
	defer srv.Close()

	o := fastOptions()
	o.Auth = connectors.Auth{Type: "bearer", Token: secret}
	c := newClient(t, o)

	resp, err := c.Get(srv.URL + "/same")
	if err != nil {
		t.Fatalf("same-origin redirect: %v", err)
	}
	resp.Body.Close()
	if sameAuth.Load() != "Bearer "+secret {
		t.Errorf("same-origin redirect lost auth: %q", sameAuth.Load())
	}

	_, err = c.Get(srv.URL + "/away")
	if err == nil || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("cross-origin redirect: err = %v, want refusal", err)
	}
}

func TestRateLimit(t *testing.T) {
	srv, calls := scripted(nil, nil)
	defer srv.Close()
	o := fastOptions()
	o.RateLimit = 50 // one every 20ms
	c := newClient(t, o)

	start := time.Now()
	for range 6 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The first token is free; five more take 5 * 20ms.
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("6 requests at 50/s took %v, want >= 100ms", elapsed)
	}
	if calls.Load() != 6 {
		t.Errorf("calls = %d", calls.Load())
	}
}

func TestRateLimitPerAttempt(t *testing.T) {
	srv, _ := scripted([]int{503, 503}, nil)
	defer srv.Close()
	o := fastOptions()
	o.RateLimit = 20 // one every 50ms
	c := newClient(t, o)

	start := time.Now()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Three attempts need three tokens: the first free, two more at 50ms.
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("3 attempts at 20/s took %v, want >= 100ms", elapsed)
	}
}

// TestRetriedBodySentWholeFromOneCopy: a request body is sent whole, with
// its Content-Length, by every attempt, whatever the reader it was made
// with; one that can be had again (GetBody) is not copied per request,
// as retryablehttp's RoundTripper copied every body.
func TestRetriedBodySentWholeFromOneCopy(t *testing.T) {
	const want = `{"name":"Contoso","city":"Oslo"}`
	type attempt struct {
		body    string
		length  int64
		chunked bool
	}
	var mu sync.Mutex
	var got []attempt
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, attempt{string(b), r.ContentLength, slices.Contains(r.TransferEncoding, "chunked")})
		mu.Unlock()
		if n.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	c := newClient(t, fastOptions())
	post := func(t *testing.T, url string, body io.Reader) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, tc := range []struct {
		name    string
		body    func() io.Reader
		chunked bool
	}{
		{"bytes.Reader", func() io.Reader { return bytes.NewReader([]byte(want)) }, false},
		{"strings.Reader", func() io.Reader { return strings.NewReader(want) }, false},
		{"bytes.Buffer", func() io.Reader { return bytes.NewBufferString(want) }, false},
		// No GetBody and no length: read whole first, sent chunked as
		// net/http sends a body of unknown length.
		{"other reader", func() io.Reader { return io.MultiReader(strings.NewReader(want)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			post(t, srv.URL, tc.body())
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 2 {
				t.Fatalf("%d attempts, want 2 (a 503, then the retry)", len(got))
			}
			for i, a := range got {
				if a.body != want || a.chunked != tc.chunked || (!tc.chunked && a.length != int64(len(want))) {
					t.Errorf("attempt %d sent %q, Content-Length %d, chunked %v; want %q, length %d, chunked %v",
						i+1, a.body, a.length, a.chunked, want, len(want), tc.chunked)
				}
			}
		})
	}

	// A large body allocates about nothing per request where it was
	// copied whole before (8 MiB and more for 4 MiB).
	big := bytes.Repeat([]byte("x"), 4<<20)
	discard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer discard.Close()
	post(t, discard.URL, bytes.NewReader(big)) // connections and buffers made once
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	post(t, discard.URL, bytes.NewReader(big))
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("a request with a 4 MiB body allocated %d bytes; want it sent from the caller's body, not a copy", d)
	}
}
