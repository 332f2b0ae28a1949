package transport

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestRetryLogRedactsQueries: retryablehttp's messages reach the logger at
// debug level with the query values of their URLs redacted, since a query
// may carry a secret.
func TestRetryLogRedactsQueries(t *testing.T) {
	var buf bytes.Buffer
	a := slogAdapter{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	a.Debug("performing request", "method", "GET", "url", "https://erp.example/api?api_token=s3cret&$top=5")
	out := buf.String()
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "http: performing request") {
		t.Errorf("log line %q: want a debug line of the request", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("log line %q holds the query's secret", out)
	}
}

// TestRetryLogCostsNothingWhenDebugIsOff: retryablehttp logs every request
// it performs; with debug logging off (the default) that must not cost
// redacting the URL, which was 2% of a first sync's CPU in single
// requests.
func TestRetryLogCostsNothingWhenDebugIsOff(t *testing.T) {
	a := slogAdapter{slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	allocs := testing.AllocsPerRun(100, func() {
		a.Debug("performing request", "method", "POST", "url", "https://crm.example/api/data/v9.2/accounts?api_token=s3cret")
	})
	if allocs > 1 { // the variadic arguments
		t.Errorf("a debug message with debug off allocated %.0f times a call", allocs)
	}
}
