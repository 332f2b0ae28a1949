package transport

import (
	"context"
	"log/slog"

	"github.com/couplerhq/coupler/connectors/redact"
)

// slogAdapter makes a *slog.Logger a retryablehttp.LeveledLogger. Every
// message goes out at debug level: a failed attempt that is retried is not an
// error for the application, and the final failure reaches the caller as an
// error anyway. retryablehttp logs only method, URL, error, wait and the
// number of retries left, never headers or bodies.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) log(msg string, kv []any) {
	ctx := context.Background()
	// retryablehttp logs every request it performs: with debug off, as
	// by default, redacting each URL for nothing was 2% of a first
	// sync's CPU in single requests.
	if !a.l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	a.l.Log(ctx, slog.LevelDebug, "http: "+msg, redactKV(kv)...)
}

// redactKV redacts the query values of URLs in log values: retryablehttp
// strips only user info, and a query may carry a secret (?api_token=…).
func redactKV(kv []any) []any {
	out := make([]any, len(kv))
	for i, v := range kv {
		switch x := v.(type) {
		case string:
			v = redact.Text(x)
		case error:
			v = redact.Text(x.Error())
		}
		out[i] = v
	}
	return out
}

func (a slogAdapter) Error(msg string, kv ...any) { a.log(msg, kv) }
func (a slogAdapter) Info(msg string, kv ...any)  { a.log(msg, kv) }
func (a slogAdapter) Debug(msg string, kv ...any) { a.log(msg, kv) }
func (a slogAdapter) Warn(msg string, kv ...any)  { a.log(msg, kv) }
