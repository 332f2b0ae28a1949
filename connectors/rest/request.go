package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
)

// Error is a response with a status outside 2xx.
type Error struct {
	// Method and URL (path and query only) of the request.
	Method, URL string
	// StatusCode and Status ("404 Not Found") of the response.
	StatusCode int
	Status     string
	// Message is the server's message when the body carried one.
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	s := e.Method + " " + e.URL + ": " + e.Status
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// HTTPStatus returns the response's status code; the engine tells a
// refused record (4xx) from a failure of the service by it.
func (e *Error) HTTPStatus() int { return e.StatusCode }

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// response is a 2xx answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
	url    string // path and query, for errors
}

// send performs one request and reads the 2xx body up to the size limit.
// A non-2xx status is an *Error.
func (c *Client) send(ctx context.Context, method, u string, body []byte, header http.Header) (response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return response{}, fmt.Errorf("build %s request for %s: %w", method, redact.PathQueryString(u), err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, redact.URLError(err) // a *url.Error naming method and URL
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header, url: redact.PathQuery(req.URL)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return out, &Error{Method: method, URL: out.url, StatusCode: resp.StatusCode, Status: resp.Status, Message: errorMessage(b)}
	}
	out.body, err = transport.ReadBody(resp, c.maxBody)
	if err != nil {
		return out, fmt.Errorf("read response of %s %s: %w", method, out.url, err)
	}
	return out, nil
}

// errorMessage extracts a message from an error body: the common JSON
// shapes {"message"}, {"error": "…"}, {"error": {"message"}}, {"detail"},
// or the first line of a short text body. HTML pages are dropped.
func errorMessage(body []byte) string {
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		for _, path := range [][]string{{"error", "message"}, {"message"}, {"error"}, {"detail"}, {"title"}} {
			if v, ok := lookup(doc, path); ok {
				if s, ok := v.(string); ok && s != "" {
					return clip(s)
				}
			}
		}
		return ""
	}
	text := strings.TrimSpace(string(body))
	if text == "" || text[0] == '<' {
		return ""
	}
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		text = text[:i]
	}
	return clip(text)
}

func clip(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
}

// wrap adds the operation and the record it was about.
func wrap(op, entity, key string, err error) error {
	if key == "" {
		return fmt.Errorf("%s %s: %w", op, entity, err)
	}
	return fmt.Errorf("%s %s/%s: %w", op, entity, key, err)
}
