package serve

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// When the HTTP listener fails, Run says so and returns: it must not wait
// for the file watcher, which only stops with ctx.
func TestListenerFailureEndsRun(t *testing.T) {
	r := &fakeRunner{runs: make(chan string, 100)}
	s, err := New(Config{Load: func() (*Project, error) { return testProject("A"), nil }, Runner: r,
		Listen: "127.0.0.1:0", WatchInterval: time.Hour, ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(200 * time.Millisecond)
	s.listener.Close() // the listener fails
	select {
	case err := <-done:
		t.Logf("Run returned: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its listener failing (blocked on the watcher)")
	}
}

// TestRunNowRefusesRebinding: without a token, a request naming another
// host (a page that rebound its name to 127.0.0.1) cannot start runs, even
// from its own origin; loopback names can.
func TestRunNowRefusesRebinding(t *testing.T) {
	r := &fakeRunner{runs: make(chan string, 10)}
	_, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r})
	settleRuns := func() {
		for len(r.runs) > 0 {
			<-r.runs
		}
	}
	next(t, r.runs) // the first scheduled run
	for _, tt := range []struct {
		host string
		want int
	}{
		{"evil.example:7700", http.StatusForbidden},
		{"localhost:7700", http.StatusAccepted},
		{"[::1]:7700", http.StatusAccepted},
	} {
		req, err := http.NewRequest(http.MethodPost, base+"/runs?mapping=CUSTOMER", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tt.host
		req.Header.Set("Origin", "http://"+tt.host)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("Host %s: status %d, want %d", tt.host, resp.StatusCode, tt.want)
		}
		settleRuns()
	}
}
