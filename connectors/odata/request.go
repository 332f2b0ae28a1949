package odata

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/couplerhq/coupler/connectors/redact"
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
		return nil, fmt.Errorf("build %s request for %s: %w", method, redact.PathQueryString(url), err)
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

// readPreferences is the Prefer header of a read: the page size, and for
// a service that binds lookups the annotation naming each lookup's target
// table, which Dataverse sends only when asked (lookups.go).
func (c *Client) readPreferences() string {
	prefs := []string{}
	if p := c.maxPageSize(); p != "" {
		prefs = append(prefs, p)
	}
	if c.bindLookups {
		prefs = append(prefs, includeAnnotations)
	}
	return strings.Join(prefs, ",")
}

// do sends req and returns the response if its status is 2xx. Otherwise it
// returns an *Error carrying the server's message. The caller closes the
// body of a returned response.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, redact.URLError(err) // a *url.Error naming method and URL
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	code, msg := errorDetail(body)
	return nil, &Error{
		Method:     req.Method,
		URL:        redact.PathQuery(req.URL),
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Code:       code,
		Message:    msg,
	}
}
