package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// MaxRetryAfter caps the wait a server can ask for with Retry-After, so that
// a bogus header cannot park a sync for hours. Dataverse asks for at most
// five minutes.
const MaxRetryAfter = 5 * time.Minute

// RetryError reports a request that failed on its last attempt, either
// because the attempts ran out or because the failure was not worth
// retrying. The http.Client wraps it in a *url.Error that adds the method
// and URL.
type RetryError struct {
	// Attempts is how many attempts were made.
	Attempts int
	// StatusCode and Status describe the last response; 0 and "" when the
	// last attempt got no response.
	StatusCode int
	Status     string
	// Err is the last attempt's transport error, or nil.
	Err error
}

// Error implements error.
func (e *RetryError) Error() string {
	n := "attempts"
	if e.Attempts == 1 {
		n = "attempt"
	}
	if e.Err != nil {
		return fmt.Sprintf("giving up after %d %s: %v", e.Attempts, n, e.Err)
	}
	return fmt.Sprintf("giving up after %d %s, last status %s", e.Attempts, n, e.Status)
}

// Unwrap returns the last transport error, so errors.Is(err,
// context.Canceled) and friends work.
func (e *RetryError) Unwrap() error { return e.Err }

// giveUp is the retryablehttp.ErrorHandler: it turns the last outcome into a
// *RetryError and releases the response, since the caller gets no response.
func giveUp(resp *http.Response, err error, attempts int) (*http.Response, error) {
	// The inner http.Client wrapped transport errors in a *url.Error naming
	// the URL; the outer one will do that again, so drop this one.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	re := &RetryError{Attempts: attempts, Err: err}
	if resp != nil {
		re.StatusCode, re.Status = resp.StatusCode, resp.Status
		// Drain a little so the connection can be reused, then close.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}
	return nil, re
}

// checkRetry is the retryablehttp.CheckRetry policy:
//   - never after the context is done;
//   - 429 always, since the server did not process the request;
//   - other 5xx (but not 501) for idempotent methods; for POST only 503,
//     because a POST that failed with 500 or a broken connection may have
//     created a record, and repeating it would create a duplicate;
//   - connection errors for idempotent methods; for POST only when the
//     connection was never made (dial errors);
//   - never for other statuses, TLS certificate failures or rate limiter
//     waits that cannot finish before the deadline.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return retryableError(ctx, err), nil
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		return true, nil
	case code >= 500 && code != http.StatusNotImplemented:
		return idempotent(resp.Request.Method), nil
	default:
		return false, nil
	}
}

func retryableError(ctx context.Context, err error) bool {
	var (
		rw      errRateWait
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
		verify  *tls.CertificateVerificationError
	)
	if errors.As(err, &rw) || errors.As(err, &unknown) || errors.As(err, &invalid) ||
		errors.As(err, &host) || errors.As(err, &verify) {
		return false
	}
	if method, _ := ctx.Value(methodKey{}).(string); !idempotent(method) {
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	return true
}

// idempotent reports whether repeating a request with method is harmless.
// PATCH is treated as idempotent: coupler's updates set fields to values
// rather than apply increments.
func idempotent(method string) bool {
	return method != http.MethodPost
}

// methodKey is the context key under which methodTransport records the
// request method: retryablehttp passes the policy the request's context but
// not the request, and on a transport error there is no response to ask.
type methodKey struct{}

// methodTransport records the request method in the request's context for
// checkRetry, then hands the request to next (the retrying RoundTripper).
type methodTransport struct{ next http.RoundTripper }

// retryTransport sends a request through the retrying client, as
// retryablehttp.RoundTripper does, but without its copy of every request
// body: FromRequest reads the body, an io.Reader to it, into a new buffer
// (125 MB for a first sync of 100,000 records in $batch requests). A
// request whose body can be had again (GetBody, which http.NewRequest sets
// for a bytes.Reader, a bytes.Buffer or a strings.Reader) is sent from
// GetBody instead, each attempt reading its own reader over the one body,
// which its caller must leave as it is until the request is done.
type retryTransport struct{ client *retryablehttp.Client }

// RoundTrip implements http.RoundTripper.
func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r, err := retryable(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(r)
	// The outer http.Client names method and URL itself.
	if _, ok := err.(*url.Error); ok {
		return resp, errors.Unwrap(err)
	}
	return resp, err
}

// retryable wraps a clone of req, which it leaves as it is, for the
// retrying client.
func retryable(req *http.Request) (*retryablehttp.Request, error) {
	if req.GetBody == nil || req.Body == nil || req.Body == http.NoBody {
		return retryablehttp.FromRequest(req.Clone(req.Context()))
	}
	clone := req.Clone(req.Context())
	r := &retryablehttp.Request{Request: clone}
	err := r.SetBody(retryablehttp.ReaderFunc(func() (io.Reader, error) { return req.GetBody() }))
	if err != nil {
		return nil, err
	}
	// SetBody cannot tell the length through GetBody's reader: without
	// it the body would go chunked.
	clone.ContentLength = req.ContentLength
	return r, nil
}

// RoundTrip implements http.RoundTripper.
func (t methodTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := context.WithValue(req.Context(), methodKey{}, req.Method)
	return t.next.RoundTrip(req.WithContext(ctx))
}

// Backoff is the retryablehttp.Backoff policy. On a 429 or 503 with a
// Retry-After header it waits what the server asked (at most MaxRetryAfter).
// Otherwise it waits a random duration between lo and lo*2^attempt, capped
// at hi: exponential growth, with jitter so that concurrent clients that
// failed together do not retry together.
func Backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := RetryAfter(resp, time.Now()); ok {
		return d
	}
	ceil := hi
	if attempt < 30 && lo<<attempt > 0 && lo<<attempt < hi {
		ceil = lo << attempt
	}
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo+1)
}

// RetryAfter returns the wait that resp's Retry-After header asks for, when
// resp is a 429 or 503 and the header is delay-seconds or an HTTP-date
// (relative to now). The wait is capped at MaxRetryAfter; a date in the past
// means no wait.
func RetryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), MaxRetryAfter), true
}
