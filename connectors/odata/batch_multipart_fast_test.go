package odata

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMultipartFastMatchesOnEdges holds decodeMultipartFast to the general
// decoder on answers a fuzzer seldom builds: whatever the fast path takes
// it must decode as decodeMultipartParts does (net/http's ReadResponse
// drops or adds some headers, and mime/multipart bounds a part's header).
func TestMultipartFastMatchesOnEdges(t *testing.T) {
	tests := fastEdges()
	for _, tt := range tests {
		for n := 1; n <= 4; n++ {
			ops := make([]batchOp, n)
			for i := range ops {
				ops[i].id = strconv.Itoa(i + 1)
			}
			items := batchItems(ops)
			fast, ok := decodeMultipartFast("b", []byte(tt.body), items)
			if !ok {
				continue
			}
			slow, err := decodeMultipartParts("b", []byte(tt.body), items)
			if err != nil {
				t.Errorf("%s, %d requests: the fast decoder took an answer the general one refuses: %v", tt.name, n, err)
				continue
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Errorf("%s, %d requests: decoded\n%+v\nwant\n%+v", tt.name, n, fast, slow)
			}
		}
	}
}

// fastEdges are answers of boundary "b" at the edges of what
// decodeMultipartFast takes, each also with LF line ends. They seed
// FuzzMultipartFastMatches too.
func fastEdges() []struct{ name, body string } {
	const ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	p := func(resp string) string {
		return "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" + resp
	}
	ans := func(parts ...string) string {
		return "--b\r\n" + strings.Join(parts, "\r\n--b\r\n") + "\r\n--b--\r\n"
	}
	manyHeaders := strings.Repeat("X:\r\n", 10001)
	tests := []struct{ name, body string }{
		{"plain", ans(p(ok))},
		{"Connection: close, HTTP/1.1", ans(p("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"))},
		{"Connection: close, HTTP/1.0", ans(p("HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"))},
		{"Pragma: no-cache", ans(p("HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\n{}"))},
		{"part header of 10001 lines", ans("Content-Type: application/http\r\n" + manyHeaders + "\r\n" + ok)},
		{"response header of 10001 lines", ans(p("HTTP/1.1 200 OK\r\n" + manyHeaders + "\r\n{}"))},
		{"folded part header", ans("Content-Type:\r\n application/http\r\n\r\n" + ok)},
		{"folded response header", ans(p("HTTP/1.1 200 OK\r\nETag: W/\"1\"\r\n x\r\n\r\n{}"))},
		{"LF inside CRLF answer", ans(p("HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\n{}"))},
		{"CR inside a value", ans(p("HTTP/1.1 200 OK\r\nETag: a\rb\r\n\r\n{}"))},
		{"delimiter in a body, followed by other bytes", ans(p("HTTP/1.1 200 OK\r\n\r\n{\r\n--bx}"))},
		{"delimiter in a body, then a dash", ans(p("HTTP/1.1 200 OK\r\n\r\n{\r\n--b-x}"))},
		{"delimiter in a body, then a space", ans(p("HTTP/1.1 200 OK\r\n\r\n{\r\n--b x}"))},
		{"delimiter in a body, then --", ans(p("HTTP/1.1 200 OK\r\n\r\n{\r\n--b--x}"))},
		{"delimiter in a body sized past it", ans(p("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\r\n--b\r\n}"))},
		{"Content-Length 0", ans(p("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n{}"))},
		{"Content-Length shorter", ans(p("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{}"))},
		{"Content-Length empty", ans(p("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n{}"))},
		{"Content-Length signed", ans(p("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}"))},
		{"Content-Length leading zeros", ans(p("HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\n{}"))},
		{"Content-Length twice, same", ans(p("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"))},
		{"Content-Length huge", ans(p("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n{}"))},
		{"204 with a body", ans(p("HTTP/1.1 204 No Content\r\n\r\n{}"))},
		{"204 with a bad Content-Length", ans(p("HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n{}"))},
		{"304 with a body", ans(p("HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n{}"))},
		{"HTTP/1.0", ans(p("HTTP/1.0 200 OK\r\n\r\n{}"))},
		{"HTTP/2.0", ans(p("HTTP/2.0 200 OK\r\n\r\n{}"))},
		{"no reason", ans(p("HTTP/1.1 200 \r\n\r\n{}"))},
		{"no reason nor space", ans(p("HTTP/1.1 200\r\n\r\n{}"))},
		{"status 999", ans(p("HTTP/1.1 999 What\r\n\r\n{}"))},
		{"status 100", ans(p("HTTP/1.1 100 Continue\r\n\r\n{}"))},
		{"blank line before the status", ans(p("\r\n" + ok))},
		{"duplicate headers", ans(p("HTTP/1.1 200 OK\r\nETag: a\r\netag: b\r\n\r\n{}"))},
		{"header name with a space", ans(p("HTTP/1.1 200 OK\r\nE Tag: a\r\n\r\n{}"))},
		{"header name with a space before the colon", ans(p("HTTP/1.1 200 OK\r\nETag : a\r\n\r\n{}"))},
		{"header name with odd tchars", ans(p("HTTP/1.1 200 OK\r\nx_a.b~c|d: a\r\n\r\n{}"))},
		{"header name with a non-ASCII byte", ans(p("HTTP/1.1 200 OK\r\nE\xe9: a\r\n\r\n{}"))},
		{"header value with a non-ASCII byte", ans(p("HTTP/1.1 200 OK\r\nETag: \xe9\r\n\r\n{}"))},
		{"header value with trailing tabs", ans(p("HTTP/1.1 200 OK\r\nETag: \t a \t\r\n\r\n{}"))},
		{"empty header value", ans(p("HTTP/1.1 200 OK\r\nETag:\r\n\r\n{}"))},
		{"Transfer-Encoding", ans(p("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"))},
		{"Trailer without chunking", ans(p("HTTP/1.1 200 OK\r\nTrailer: X\r\n\r\n{}"))},
		{"empty part", "--b\r\n\r\n--b--\r\n"},
		{"part of no header", ans("\r\n" + ok)},
		{"transport padding after a delimiter", "--b \r\n" + p(ok) + "\r\n--b\t\r\n" + p(ok) + "\r\n--b-- \r\n"},
		{"preamble", "preamble\r\n" + ans(p(ok))},
		{"epilogue", ans(p(ok)) + "epilogue\r\n--b\r\n"},
		{"no line end after the closing delimiter", strings.TrimSuffix(ans(p(ok)), "\r\n")},
		{"LF after the closing delimiter of a CRLF answer", strings.TrimSuffix(ans(p(ok)), "\r\n") + "\n"},
		{"LF delimiters, CRLF inside", strings.ReplaceAll(ans(p(ok)), "\r\n--b", "\n--b")},
		{"body ends in CR before an LF delimiter", "--b\n" + strings.ReplaceAll(p("HTTP/1.1 200 OK\r\n\r\n{}\r"), "\r\n", "\n") + "\n--b--\n"},
		{"longer boundary", "--bb\r\n" + p(ok) + "\r\n--bb--\r\n"},
		{"part content type with parameters", ans("Content-Type: application/http; msgtype=response\r\n\r\n" + ok)},
		{"more parts than requests", ans(p(ok), p(ok), p(ok), p(ok), p(ok), "junk")},
	}
	for _, tt := range slices.Clone(tests) {
		tests = append(tests, struct{ name, body string }{tt.name + ", LF", strings.ReplaceAll(tt.body, "\r\n", "\n")})
	}
	return tests
}

// TestMultipartAnswersOutliveTheirBuffer: sendBatch reads the next answer
// into the buffer a multipart answer was decoded from, whichever decoder
// took it; nothing decoded may point into it.
func TestMultipartAnswersOutliveTheirBuffer(t *testing.T) {
	for _, a := range multipartAnswers {
		boundary, err := multipartBoundary(a.contentType)
		if err != nil {
			continue
		}
		ops := []batchOp{{id: "1"}, {id: "2"}, {id: "3"}}
		body := []byte(wire(a))
		buf := append([]byte(nil), body...)
		answers, err := decodeMultipartBatch(a.contentType, buf, ops)
		if err != nil {
			continue
		}
		for i := range buf {
			buf[i] = 'x'
		}
		again, _ := decodeMultipartParts(boundary, body, batchItems(ops))
		if !reflect.DeepEqual(answers, again) {
			t.Errorf("%s: answers changed with the buffer they were decoded from:\n%+v\nwant\n%+v", a.name, answers, again)
		}
	}
}
