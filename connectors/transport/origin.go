package transport

import (
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
