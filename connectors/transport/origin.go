package transport

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Origin returns u's origin, scheme://host:port, with the scheme and host
// lower-cased and the port made explicit, so that equal origins compare equal
// as strings. It never includes user info.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

// SameOrigin reports whether a and b share scheme, host and port. Connectors
// use it before sending credentials to a URL the server handed them.
func SameOrigin(a, b *url.URL) bool {
	return Origin(a) == Origin(b)
}

// ParseBaseURL checks a connector's base URL: http or https, a host, no
// fragment, and no credentials, which would travel in every request and
// show up in errors (auth carries them instead). The path loses its
// trailing slash. Its errors never quote the URL, for the same reason.
func ParseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("base url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the input, which may hold credentials.
		return nil, errors.New("base url does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("base url scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return nil, errors.New("base url has no host")
	case u.User != nil:
		return nil, errors.New("base url must not contain credentials; use auth")
	case u.Fragment != "":
		return nil, errors.New("base url must not contain a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}
