package transport

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/couplerhq/coupler/connectors"
)

// NewAuthTransport returns a RoundTripper that authenticates each request as
// a describes and passes it to next. For no auth it returns next unchanged.
// Errors name the auth type but never the token.
func NewAuthTransport(a connectors.Auth, next http.RoundTripper) (http.RoundTripper, error) {
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
	default:
		return nil, fmt.Errorf("auth: unsupported type %q (want none or bearer)", a.Type)
	}
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
