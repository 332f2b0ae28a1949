package transport

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type countingObserver struct {
	mu      sync.Mutex
	codes   []int
	retries int
}

func (o *countingObserver) Attempt(_ *http.Request, resp *http.Response, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	o.codes = append(o.codes, code)
}

func (o *countingObserver) Retry(*http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries++
}

// TestObserver checks that the observer sees every attempt with its status
// and every retry, and nothing once removed.
func TestObserver(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	o := &countingObserver{}
	SetObserver(o)
	defer SetObserver(nil)
	c, err := New(Options{MaxRetries: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(o.codes) != 3 || o.codes[0] != 503 || o.codes[2] != 200 || o.retries != 2 {
		t.Errorf("observed codes %v and %d retries, want [503 503 200] and 2", o.codes, o.retries)
	}
	SetObserver(nil)
	resp, err = c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(o.codes) != 3 {
		t.Errorf("observed after SetObserver(nil): %v", o.codes)
	}
}
