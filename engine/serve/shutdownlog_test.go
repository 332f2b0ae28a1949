package serve

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log destination written by serve's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stoppingRunner blocks its run until shutdown begins, then returns what
// stop makes of it: the drain, or the shutdown timeout's cancel.
type stoppingRunner struct {
	started chan struct{}
	once    sync.Once
	stop    func(ctx context.Context, drain <-chan struct{}) error
}

func (r *stoppingRunner) Use(*Project) {}

func (r *stoppingRunner) Run(ctx context.Context, drain <-chan struct{}, mapping string) (Result, error) {
	r.once.Do(func() { close(r.started) })
	return Result{}, r.stop(ctx, drain)
}

// A run stopped by shutdown did not fail: it is logged as interrupted (at
// info when it drained, at warning when the shutdown timeout cancelled
// it), never at error as "run failed", and counted as drained.
func TestShutdownIsNotLoggedAsFailure(t *testing.T) {
	for _, tc := range []struct {
		name, level string
		stop        func(ctx context.Context, drain <-chan struct{}) error
	}{
		{"drained", "INFO", func(_ context.Context, drain <-chan struct{}) error {
			<-drain
			return fmt.Errorf("%w: before the next batch of writes", ErrDrained)
		}},
		{"cancelled", "WARN", func(ctx context.Context, _ <-chan struct{}) error {
			<-ctx.Done()
			return fmt.Errorf("write accounts: %w", ctx.Err())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuffer
			r := &stoppingRunner{started: make(chan struct{}), stop: tc.stop}
			s, err := New(Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r, Listen: "127.0.0.1:0",
				WatchInterval: -1, ShutdownTimeout: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			<-r.started
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			out := logs.String()
			if strings.Contains(out, "run failed") || strings.Contains(out, "level=ERROR") {
				t.Errorf("a run stopped by shutdown was logged as failed:\n%s", out)
			}
			if !strings.Contains(out, "level="+tc.level+` msg="run interrupted by shutdown"`) {
				t.Errorf("no %s line \"run interrupted by shutdown\":\n%s", tc.level, out)
			}
		})
	}
}
