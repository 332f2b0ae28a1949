// Package transport builds the one HTTP client that every HTTP connector
// uses: bounded retries with jittered exponential backoff that honour
// Retry-After, bearer authentication, an optional request rate limit, a
// timeout per attempt and debug logging of retries through log/slog.
//
// The layers, from the caller inward:
//
//	http.Client         follows same-origin redirects only
//	methodTransport     records the method for the retry policy
//	retryablehttp       retries, backoff, Retry-After, give-up error
//	http.Client         Timeout per attempt (covers reading the body too)
//	rate limiter        one token per attempt
//	auth                sets Authorization on a clone of the request
//	base RoundTripper   connection pooling
//
// Rate limiting and auth sit inside the retry loop so that every attempt,
// not just every logical request, waits for a token and carries credentials.
package transport

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
)

// Defaults applied by New to zero (or, for MaxRetries, negative) options.
const (
	DefaultMaxRetries = 4
	DefaultTimeout    = 60 * time.Second
	DefaultMinWait    = 200 * time.Millisecond
	DefaultMaxWait    = 30 * time.Second
)

// Options configure New. The zero value is usable except for MaxRetries,
// whose zero means "no retries" to match connectors.Config: pass a negative
// value for the default.
type Options struct {
	// Auth authenticates every attempt. Type "" or "none" sends no
	// credentials; "bearer" sends Token as a bearer token.
	Auth connectors.Auth
	// MaxRetries bounds the retries after the first attempt; <0 means
	// DefaultMaxRetries and 0 means a single attempt.
	MaxRetries int
	// Timeout bounds each attempt, including reading the response body;
	// 0 means DefaultTimeout. The whole call, retries and waits included, is
	// bounded by the request's context instead.
	Timeout time.Duration
	// MinWait and MaxWait bound the exponential backoff between attempts;
	// 0 means DefaultMinWait and DefaultMaxWait. A Retry-After header
	// overrides them (up to MaxRetryAfter).
	MinWait, MaxWait time.Duration
	// RateLimit caps attempts per second; 0 means no limit. Ignored when
	// Limiter is set.
	RateLimit float64
	// Limiter, when set, paces attempts instead of RateLimit. Share one
	// limiter between clients to give them a common budget.
	Limiter *rate.Limiter
	// Logger receives retry decisions at debug level; nil means
	// slog.Default(). Headers and bodies are never logged.
	Logger *slog.Logger
	// CAFile names a PEM file of certificate authorities to trust besides
	// the system's, for a service behind a private CA. Certificates are
	// always verified; no option turns verification off.
	CAFile string
	// Redactor, when set, learns each OAuth2 access token as it is
	// fetched, so that errors echoing it are scrubbed (package redact).
	Redactor *redact.Redactor
	// Base is the innermost RoundTripper; nil means a clone of
	// http.DefaultTransport with a larger idle pool per host.
	Base http.RoundTripper
}

// New returns an *http.Client configured by opts. Use it like any
// http.Client: the retries, waits, rate limit and credentials are invisible
// to the caller except through latency and, when every attempt failed, an
// error that wraps a *RetryError.
//
// New fails when opts.Auth is invalid (an unknown type or a missing
// credential) or opts.CAFile holds no certificate; the error never contains
// a secret.
func New(opts Options) (*http.Client, error) {
	opts = opts.withDefaults()
	if opts.CAFile != "" {
		base, err := withCAFile(opts.Base, opts.CAFile)
		if err != nil {
			return nil, err
		}
		opts.Base = base
	}

	rt, err := NewAuthTransport(opts.Auth, opts.Base, opts.Redactor)
	if err != nil {
		return nil, err
	}
	if lim := opts.limiter(); lim != nil {
		rt = &limitTransport{limiter: lim, next: rt}
	}
	// Around every attempt, so that metrics see each one and its status.
	rt = observeTransport{next: rt}

	rc := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: rt,
			Timeout:   opts.Timeout,
			// Redirects are left to the outer client, which refuses
			// cross-origin ones; following them here would bypass that.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger:       slogAdapter{opts.Logger},
		RetryWaitMin: opts.MinWait,
		RetryWaitMax: opts.MaxWait,
		RetryMax:     opts.MaxRetries,
		CheckRetry:   checkRetry,
		Backoff:      Backoff,
		ErrorHandler: giveUp,
		RequestLogHook: func(_ retryablehttp.Logger, req *http.Request, attempt int) {
			observeRetry(req, attempt)
		},
	}
	return &http.Client{
		Transport:     methodTransport{retryTransport{client: rc}},
		CheckRedirect: sameOriginRedirect,
	}, nil
}

func (o Options) withDefaults() Options {
	if o.MaxRetries < 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MinWait <= 0 {
		o.MinWait = DefaultMinWait
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxWait < o.MinWait {
		o.MaxWait = o.MinWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The default of 2 idle connections per host would make concurrent
		// connector requests reconnect constantly.
		t.MaxIdleConnsPerHost = 32
		o.Base = t
	}
	return o
}

func (o Options) limiter() *rate.Limiter {
	if o.Limiter != nil {
		return o.Limiter
	}
	if o.RateLimit > 0 {
		// A burst of one spreads attempts evenly, which is what service
		// protection limits measured over short windows reward.
		return rate.NewLimiter(rate.Limit(o.RateLimit), 1)
	}
	return nil
}

// sameOriginRedirect refuses redirects to another origin, so that a server
// cannot send our credentials elsewhere, and bounds redirect chains.
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("stopped after %d redirects", len(via))
	}
	if !SameOrigin(req.URL, via[0].URL) {
		return fmt.Errorf("redirect from %s to another origin %s refused", Origin(via[0].URL), Origin(req.URL))
	}
	return nil
}
