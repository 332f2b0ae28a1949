package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestReadBody reads bodies as net/http hands them over, each response
// parsed from its wire form: a Content-Length sizes the buffer but never
// lets more than the limit in, and a short body is an error, not a
// silently shorter record.
func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		wire    string
		limit   int64
		want    string
		wantErr error
	}{
		{"sized", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 10, "hello", nil},
		{"sized at the limit", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 5, "hello", nil},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 10, "hello", nil},
		{"chunked past the limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 4, "", ErrBodyTooLarge},
		{"length past the limit", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 4, "", ErrBodyTooLarge},
		// A length no body could have must not become an allocation.
		{"huge length past the limit", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\nhello", 10, "", io.ErrUnexpectedEOF},
		{"shorter than its length", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello", 10, "", io.ErrUnexpectedEOF},
		{"empty", "HTTP/1.1 204 No Content\r\n\r\n", 10, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tt.wire)), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := ReadBody(resp, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("body %q, want %q", got, tt.want)
			}
		})
		// ReadBodyInto alike, into a buffer that held a longer body.
		t.Run(tt.name+" into a used buffer", func(t *testing.T) {
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tt.wire)), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := bytes.NewBufferString("an earlier answer, longer than this one")
			got, err := ReadBodyInto(resp, tt.limit, buf)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("body %q, want %q", got, tt.want)
			}
		})
	}
}
