package redact

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Redacted stands in for a secret, and for each query parameter value in
// URLs that errors and logs show.
const Redacted = "REDACTED"

// Query returns rawQuery with every parameter's value replaced by Redacted
// and the names kept, except OData's system query options ($filter,
// $skiptoken, …), which the protocol defines and which say what a failed
// request asked for: a service that authenticates by query parameter
// (?api_token=…, a signature ?sig=… in base_url, auth in: query) must not
// have its secret copied into errors, logs or plans, and which of the
// other parameters are secret cannot be told from their names.
func Query(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		if name, _, ok := strings.Cut(p, "="); ok && !protocolOption(name) {
			parts[i] = name + "=" + Redacted
		}
	}
	return strings.Join(parts, "&")
}

// protocolOption reports whether a query parameter's (escaped) name is an
// OData system query option: "$" and letters (OData v4.01 URL Conventions,
// 5 "Query Options": system query options are prefixed with "$").
func protocolOption(escapedName string) bool {
	name, err := url.QueryUnescape(escapedName)
	if err != nil || len(name) < 2 || name[0] != '$' {
		return false
	}
	for _, c := range name[1:] {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// URL returns u for an error or a log: scheme, host, path and the query
// with its values redacted (see Query); never user info or fragment.
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: Query(u.RawQuery)}
	return v.String()
}

// PathQuery returns the path and query of u with the query's values
// redacted (see Query), for a connector's errors, which name the request
// without the host the connector implies.
func PathQuery(u *url.URL) string {
	s := u.EscapedPath()
	if s == "" {
		s = "/"
	}
	if u.RawQuery != "" {
		s += "?" + Query(u.RawQuery)
	}
	return s
}

// PathQueryString is PathQuery for a URL in string form.
func PathQueryString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable url)"
	}
	return PathQuery(u)
}

// queryValue is a query parameter in free text: after "?" or "&", its
// name and "=", then its value up to the next "&", space, quote, "#" or
// ">".
var queryValue = regexp.MustCompile(`([?&])([^=&\s"'#<>?]+)=([^&\s"'#<>]*)`)

// Text redacts the query values of any URL in s, such as the message of a
// *url.Error ("Get \"https://host/v1?api_token=…\": EOF"), as Query does.
func Text(s string) string {
	if !strings.ContainsAny(s, "?&") {
		return s
	}
	return queryValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := queryValue.FindStringSubmatch(m)
		if protocolOption(sub[2]) {
			return m
		}
		return sub[1] + sub[2] + "=" + Redacted
	})
}

// URLError returns err with the URL of a *url.Error in it redacted, so
// that the error can be shown, logged or stored. Other errors are returned
// as they are.
func URLError(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	ue.URL = Text(ue.URL)
	return err
}
