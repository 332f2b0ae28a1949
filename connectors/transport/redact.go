package transport

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces each query parameter value in URLs that errors and
// logs show.
const Redacted = "REDACTED"

// RedactQuery returns rawQuery with every parameter's value replaced by
// Redacted and the names kept: a service that authenticates by query
// parameter (?api_token=…), in base_url or through auth in: query, must not
// have its secret copied into errors, logs or plans, and which parameters
// are secret cannot be told from their names.
func RedactQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		if name, _, ok := strings.Cut(p, "="); ok {
			parts[i] = name + "=" + Redacted
		}
	}
	return strings.Join(parts, "&")
}

// RedactURL returns u for an error or a log: scheme, host, path and the
// query with its values redacted; never user info or fragment.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: RedactQuery(u.RawQuery)}
	return v.String()
}

// queryValue is a query parameter's value in free text: after "?" or "&"
// and "name=", up to the next "&", space, quote, "#" or ">".
var queryValue = regexp.MustCompile(`([?&][^=&\s"'#<>?]+=)[^&\s"'#<>]*`)

// RedactText redacts the query values of any URL in s, such as the message
// of a *url.Error ("Get \"https://host/v1?api_token=…\": EOF").
func RedactText(s string) string {
	if !strings.ContainsAny(s, "?&") {
		return s
	}
	return queryValue.ReplaceAllString(s, "${1}"+Redacted)
}

// RedactError returns err with the URL of a *url.Error in it redacted, so
// that the error can be shown, logged or stored. Other errors are returned
// as they are.
func RedactError(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	ue.URL = RedactText(ue.URL)
	return err
}
