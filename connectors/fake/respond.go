package fake

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// contentType is sent on every response, as both real services do.
const contentType = "application/json; odata.metadata=minimal"

// OData error codes the fake answers with.
const (
	codeBadRequest = "BadRequest"
	codeNotFound   = "NotFound"
	// codeObjectDoesNotExist is Dataverse's code for a lookup bound to a
	// record that does not exist (0x80040217).
	codeObjectDoesNotExist   = "0x80040217"
	codeMethodNotAllowed     = "MethodNotAllowed"
	codeConflict             = "Conflict"
	codePreconditionFailed   = "PreconditionFailed"
	codePreconditionRequired = "PreconditionRequired"
	codeTooManyRequests      = "TooManyRequests"
)

// statusError is an error that knows its HTTP answer.
type statusError struct {
	status int
	code   string
	msg    string
	wrap   error // a connectors sentinel, so that Go callers can errors.Is it
}

func (e *statusError) Error() string { return e.msg }
func (e *statusError) Unwrap() error { return e.wrap }

func errorf(status int, code, format string, args ...any) *statusError {
	return &statusError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *statusError {
	return errorf(http.StatusBadRequest, codeBadRequest, format, args...)
}

func notFound(set, key string) *statusError {
	e := errorf(http.StatusNotFound, codeNotFound, "%s(%s) does not exist", set, key)
	e.wrap = connectors.ErrNotFound
	return e
}

func staleError(set, key string) *statusError {
	e := errorf(http.StatusPreconditionFailed, codePreconditionFailed,
		"%s(%s) was changed since it was read: the If-Match ETag does not match", set, key)
	e.wrap = connectors.ErrStale
	return e
}

// writeError answers err as an OData error. Errors that are not a
// statusError are the fake's own faults and answer 500.
func writeError(w http.ResponseWriter, err error) {
	var se *statusError
	var fe *filterError
	switch {
	case errors.As(err, &se):
	case errors.As(err, &fe):
		se = badRequest("%v", fe)
	default:
		se = errorf(http.StatusInternalServerError, "InternalServerError", "%v", err)
	}
	writeStatus(w, se.status, se.code, se.msg)
}

// writeStatus writes an OData error body: {"error":{"code":..,"message":..}}.
func writeStatus(w http.ResponseWriter, status int, code, msg string) {
	body := append([]byte(`{"error":{"code":`), appendQuote(nil, code)...)
	body = append(body, `,"message":`...)
	body = appendQuote(body, msg)
	body = append(body, "}}\n"...)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to do
}

func writeMethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeStatus(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method not allowed; allowed: "+allow)
}

func writeThrottled(w http.ResponseWriter, wait time.Duration) {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeStatus(w, http.StatusTooManyRequests, codeTooManyRequests,
		fmt.Sprintf("number of requests exceeded the limit; retry after %d seconds", secs))
}

// serviceRoot returns the absolute URL of the service root as the client
// addresses it, without a trailing slash: scheme and Host, plus whatever
// prefix a surrounding http.StripPrefix removed. The prefix is what the
// original request target (r.RequestURI) has in front of the path the
// handler sees.
func serviceRoot(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix := ""
	if orig := requestPath(r); orig != "" {
		seen := r.URL.EscapedPath()
		if strings.HasSuffix(orig, seen) {
			prefix = strings.TrimSuffix(orig[:len(orig)-len(seen)], "/")
		}
	}
	return scheme + "://" + r.Host + prefix
}

// requestPath is the escaped path of the request target as received, or ""
// when the request did not come off the wire.
func requestPath(r *http.Request) string {
	if r.RequestURI == "" {
		return ""
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	return u.EscapedPath()
}

// entityPath renders the canonical path of one record, set(key), relative
// to the service root.
func entityPath(set, key string) string {
	if isGUID(key) {
		return set + "(" + key + ")"
	}
	// PathEscape would also escape the quotes, which OData wants verbatim.
	lit := url.PathEscape("'" + strings.ReplaceAll(key, "'", "''") + "'")
	return set + "(" + strings.ReplaceAll(lit, "%27", "'") + ")"
}

// parsedPath is a request path relative to the service root.
type parsedPath struct {
	batch  bool   // /$batch
	set    string // entity set
	key    string // normalised key, when hasKey
	hasKey bool
	named  namedKey // the key as written with names, if it was; see altkey.go
	badKey error    // why named, if it is the primary key, is malformed
}

// parsePath splits the escaped request path "/set" or "/set(key)". It
// works on the escaped form so that a %2F inside a quoted key is not taken
// for a segment separator. Anything deeper (navigation, properties, $ref)
// is not served.
func parsePath(escaped string) (parsedPath, error) {
	escaped = strings.Trim(escaped, "/")
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return parsedPath{}, badRequest("malformed path: %v", err)
	}
	if p == "$batch" {
		return parsedPath{batch: true}, nil
	}
	if p == "" || strings.Contains(escaped, "/") {
		return parsedPath{}, errorf(http.StatusNotFound, codeNotFound, "no resource at /%s", p)
	}
	if open := strings.IndexByte(p, '('); open > 0 && strings.HasSuffix(p, ")") {
		named, ok, err := parseNamedKey(p[open+1 : len(p)-1])
		if err != nil {
			return parsedPath{}, err
		}
		if ok && len(named) > 1 { // composite: only an alternate key
			return parsedPath{set: p[:open], hasKey: true, named: named}, nil
		}
		if ok {
			// Resolved now if it names the primary key, which only the
			// table knows; a value no primary key can have waits in
			// badKey for that verdict.
			_, key, _, err := splitKeySegment(p)
			return parsedPath{set: p[:open], key: key, hasKey: true, named: named, badKey: err}, nil
		}
	}
	set, key, hasKey, err := splitKeySegment(p)
	if err != nil {
		return parsedPath{}, err
	}
	return parsedPath{set: set, key: key, hasKey: hasKey}, nil
}

// splitKeySegment splits "set(key)" into its parts; "set" alone has no key.
// The key may be an unquoted GUID or integer, a 'quoted string' in which a
// quote is doubled, or either of those named: (accountid=<guid>).
func splitKeySegment(seg string) (set, key string, hasKey bool, err error) {
	open := strings.IndexByte(seg, '(')
	if open < 0 {
		return seg, "", false, nil
	}
	if !strings.HasSuffix(seg, ")") || open == 0 {
		return "", "", false, badRequest("malformed key segment %q", seg)
	}
	set, lit := seg[:open], seg[open+1:len(seg)-1]
	if name, v, ok := strings.Cut(lit, "="); ok && isIdentifier(strings.TrimSpace(name)) {
		lit = v
	}
	key, err = parseKeyLiteral(strings.TrimSpace(lit))
	if err != nil {
		return "", "", false, badRequest("malformed key in %q: %v", seg, err)
	}
	return set, normKey(key), true, nil
}

// parseKeyLiteral decodes a key as written in a URL.
func parseKeyLiteral(lit string) (string, error) {
	if strings.HasPrefix(lit, "'") {
		if len(lit) < 2 || !strings.HasSuffix(lit, "'") {
			return "", errors.New("unterminated string")
		}
		body := lit[1 : len(lit)-1]
		if strings.Count(body, "'")%2 != 0 || strings.Contains(strings.ReplaceAll(body, "''", ""), "'") {
			return "", errors.New("unescaped quote in string")
		}
		return strings.ReplaceAll(body, "''", "'"), nil
	}
	if isGUID(lit) {
		return strings.ToLower(lit), nil
	}
	if lit != "" && strings.Trim(lit, "0123456789") == "" {
		return lit, nil
	}
	return "", fmt.Errorf("want a GUID, an integer or a 'quoted string', not %q", lit)
}
