package odata

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// Error is a response with a status outside 2xx.
type Error struct {
	// Method and URL (path and query only) of the request.
	Method, URL string
	// StatusCode and Status ("412 Precondition Failed") of the response.
	StatusCode int
	Status     string
	// Code and Message come from the OData error body
	// {"error":{"code":…,"message":…}} when the server sent one. Message
	// falls back to the start of a plain-text body.
	Code, Message string
}

// Error implements error. Without Method and URL (an answer for a whole
// change set, which no single request had) it starts at the status.
func (e *Error) Error() string {
	s := e.Status
	if e.Method != "" || e.URL != "" {
		s = e.Method + " " + e.URL + ": " + s
	}
	switch {
	case e.Code != "" && e.Message != "":
		s += ": " + e.Code + ": " + e.Message
	case e.Message != "":
		s += ": " + e.Message
	case e.Code != "":
		s += ": " + e.Code
	}
	return s
}

// HTTPStatus returns the response's status code; the engine tells a
// refused record (4xx) from a failure of the service by it.
func (e *Error) HTTPStatus() int { return e.StatusCode }

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// errorDetail extracts the code and message from an error body: the OData
// JSON error, or else the first line of a short text body. HTML error pages
// from gateways say nothing useful and are dropped.
func errorDetail(body []byte) (code, message string) {
	var doc struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil && (doc.Error.Code != "" || doc.Error.Message != "") {
		return doc.Error.Code, doc.Error.Message
	}
	text := strings.TrimSpace(string(body))
	if text == "" || text[0] == '<' || text[0] == '{' {
		return "", ""
	}
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		text = text[:i]
	}
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return "", strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, text)
}

// wrap adds the operation and the record it was about to err.
func wrap(op, entity, key string, err error) error {
	if key == "" {
		return fmt.Errorf("%s %s: %w", op, entity, err)
	}
	return fmt.Errorf("%s %s(%s): %w", op, entity, key, err)
}
