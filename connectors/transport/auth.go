package transport

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
)

// NewAuthTransport returns a RoundTripper that authenticates each request as
// a describes and passes it to next. For no auth it returns next unchanged.
// Errors name the auth type but never the token. Each OAuth2 access token
// is added to red (which may be nil) as it is fetched, so that a server
// echoing it is scrubbed like the configured secrets.
func NewAuthTransport(a connectors.Auth, next http.RoundTripper, red *redact.Redactor) (http.RoundTripper, error) {
	if next == nil {
		next = http.DefaultTransport
	}
	switch a.Type {
	case "", "none":
		return next, nil
	case "bearer":
		if a.Token == "" {
			return nil, errors.New("auth bearer: empty token")
		}
		return &bearerTransport{header: "Bearer " + a.Token, next: next}, nil
	case "basic":
		if a.Username == "" {
			return nil, errors.New("auth basic: empty username")
		}
		return &headerTransport{name: "Authorization", value: "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password)), kind: "basic", next: next}, nil
	case "api_key":
		if a.In == "query" {
			return newQueryKeyTransport(a, next)
		}
		if a.In != "" && a.In != "header" {
			return nil, fmt.Errorf("auth api_key: in must be header or query, not %q", a.In)
		}
		if a.Header == "" || !validHeaderName(a.Header) {
			return nil, errors.New("auth api_key: header must be a header name such as X-API-Key")
		}
		if a.Key == "" {
			return nil, errors.New("auth api_key: empty key")
		}
		return &headerTransport{name: http.CanonicalHeaderKey(a.Header), value: a.Key, kind: "api_key", next: next}, nil
	case "oauth2":
		if a.TokenURL == "" || a.ClientID == "" || a.ClientSecret == "" {
			return nil, errors.New("auth oauth2: token_url, client_id and client_secret are all needed")
		}
		cc := clientcredentials.Config{ClientID: a.ClientID, ClientSecret: a.ClientSecret, TokenURL: a.TokenURL, Scopes: a.Scopes}
		// Token requests go through a client of their own with a timeout,
		// on the same rules as the connector's requests: next (which
		// trusts ca_file's CAs) and no redirect to another origin, which
		// would carry the client secret in the body of a 307 or 308 to a
		// host the project never named. The token source caches the token
		// and renews it shortly before it expires, so each sync asks for a
		// token about once.
		tokens := &http.Client{Timeout: 30 * time.Second, Transport: next, CheckRedirect: sameOriginRedirect}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tokens)
		return &oauth2.Transport{Source: scrubbedTokens{cc.TokenSource(ctx), red}, Base: next}, nil
	default:
		return nil, fmt.Errorf("auth: unsupported type %q (want none, bearer, basic, api_key or oauth2)", a.Type)
	}
}

// scrubbedTokens adds each access token to a Redactor as it is handed out.
type scrubbedTokens struct {
	src oauth2.TokenSource
	red *redact.Redactor
}

// Token implements oauth2.TokenSource.
func (s scrubbedTokens) Token() (*oauth2.Token, error) {
	t, err := s.src.Token()
	if t != nil {
		s.red.AddSecret(t.AccessToken, t.RefreshToken)
	}
	return t, err
}

// bearerTransport sets Authorization: Bearer on every request.
type bearerTransport struct {
	header string // "Bearer <token>"; never printed
	next   http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It clones the request because a
// RoundTripper must not modify the caller's request.
func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", t.header)
	return t.next.RoundTrip(r)
}

// String hides the token from %v.
func (t *bearerTransport) String() string { return "bearer (redacted)" }

// GoString hides the token from %#v.
func (t *bearerTransport) GoString() string { return t.String() }

// headerTransport sets one credential header (basic, api_key) on every
// request.
type headerTransport struct {
	name, value string // value is secret; never printed
	kind        string
	next        http.RoundTripper
}

// RoundTrip implements http.RoundTripper on a clone of the request.
func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set(t.name, t.value)
	return t.next.RoundTrip(r)
}

// String hides the credential from %v.
func (t *headerTransport) String() string { return t.kind + " (redacted)" }

// GoString hides the credential from %#v.
func (t *headerTransport) GoString() string { return t.String() }

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return s != ""
}

// queryKeyTransport adds the api_key as a query parameter to every request,
// for services that take the key in the URL (?api_token=…). The parameter
// is set on a clone, inside the retry loop, so the URLs that errors and
// logs show never carry it.
type queryKeyTransport struct {
	param, key string // key is secret; never printed
	next       http.RoundTripper
}

func newQueryKeyTransport(a connectors.Auth, next http.RoundTripper) (http.RoundTripper, error) {
	if a.Param == "" || strings.ContainsAny(a.Param, "&=#?") {
		return nil, errors.New("auth api_key in query: param must be a query parameter name such as api_token")
	}
	if a.Key == "" {
		return nil, errors.New("auth api_key: empty key")
	}
	return &queryKeyTransport{param: a.Param, key: a.Key, next: next}, nil
}

// RoundTrip implements http.RoundTripper on a clone of the request, whose
// URL gets the parameter in place of any the request already had (a next
// link may echo it). The rest of the query is kept byte for byte: servers
// such as OData's reject "+" for a space, which re-encoding would produce.
func (t *queryKeyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	u := *r.URL
	var parts []string
	if u.RawQuery != "" {
		for _, p := range strings.Split(u.RawQuery, "&") {
			name, _, _ := strings.Cut(p, "=")
			if n, err := url.QueryUnescape(name); err == nil && n == t.param {
				continue
			}
			parts = append(parts, p)
		}
	}
	parts = append(parts, url.QueryEscape(t.param)+"="+strings.ReplaceAll(url.QueryEscape(t.key), "+", "%20"))
	u.RawQuery = strings.Join(parts, "&")
	r.URL = &u
	return t.next.RoundTrip(r)
}

// String hides the key from %v.
func (t *queryKeyTransport) String() string { return "api_key in query (redacted)" }

// GoString hides the key from %#v.
func (t *queryKeyTransport) GoString() string { return t.String() }
