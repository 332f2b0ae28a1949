package odata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// newRequest builds a request with the headers every OData call carries.
// A non-nil body is sent as JSON.
func (c *Client) newRequest(ctx context.Context, method, url string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, fmt.Errorf("build %s request for %s: %w", method, redactString(url), err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("OData-MaxVersion", "4.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// maxPageSize is the Prefer value asking for pages of c.pageSize records,
// or "" when the server should pick.
func (c *Client) maxPageSize() string {
	if c.pageSize <= 0 {
		return ""
	}
	return "odata.maxpagesize=" + strconv.Itoa(c.pageSize)
}

// do sends req and returns the response if its status is 2xx. Otherwise it
// returns an *Error carrying the server's message. The caller closes the
// body of a returned response.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err // a *url.Error naming method and URL
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	code, msg := errorDetail(body)
	return nil, &Error{
		Method:     req.Method,
		URL:        redact(req.URL),
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Code:       code,
		Message:    msg,
	}
}

// errBodyTooLarge is returned when a response exceeds Options.MaxBodyBytes.
var errBodyTooLarge = errors.New("response body too large")

// limitReader reads at most n bytes from r and then fails with
// errBodyTooLarge, rather than io.LimitReader's silent EOF, which would
// turn an oversized page into a confusing syntax error.
type limitReader struct {
	r     io.Reader
	n     int64 // bytes left
	limit int64
	err   error // sticky, once the limit is exceeded
}

func newLimitReader(r io.Reader, limit int64) *limitReader {
	return &limitReader{r: r, n: limit, limit: limit}
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.n <= 0 {
		// Probe for one more byte: a body of exactly the limit is fine.
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 {
			return 0, err
		}
		l.err = fmt.Errorf("%w (limit %d bytes)", errBodyTooLarge, l.limit)
		return 0, l.err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
