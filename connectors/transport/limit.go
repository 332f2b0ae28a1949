package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrBodyTooLarge is returned by a LimitReader once its limit is exceeded.
var ErrBodyTooLarge = errors.New("response body too large")

// LimitReader reads at most limit bytes from r and then fails with an error
// wrapping ErrBodyTooLarge, rather than io.LimitReader's silent EOF, which
// would turn an oversized response into a confusing syntax error. A body of
// exactly limit bytes is fine.
func LimitReader(r io.Reader, limit int64) io.Reader {
	return &limitReader{r: r, n: limit, limit: limit}
}

type limitReader struct {
	r     io.Reader
	n     int64 // bytes left
	limit int64
	err   error // sticky, once the limit is exceeded
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.n <= 0 {
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 {
			return 0, err
		}
		l.err = fmt.Errorf("%w (limit %d bytes)", ErrBodyTooLarge, l.limit)
		return 0, l.err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// ReadBody reads resp's body, at most limit bytes (else an error wrapping
// ErrBodyTooLarge), into one buffer of its Content-Length when it states
// one within the limit: io.ReadAll grows its buffer from 512 bytes,
// copying it a dozen times for a $batch answer.
func ReadBody(resp *http.Response, limit int64) ([]byte, error) {
	return ReadBodyInto(resp, limit, new(bytes.Buffer))
}

// ReadBodyInto is ReadBody into buf, emptied first, returning buf's bytes,
// which its next use overwrites: for a caller that reads many large
// answers, most of no stated length (chunked $batch answers), and keeps
// nothing of each once decoded.
func ReadBodyInto(resp *http.Response, limit int64, buf *bytes.Buffer) ([]byte, error) {
	buf.Reset()
	r := LimitReader(resp.Body, limit)
	if n := resp.ContentLength; n > 0 && n <= limit {
		// A body is its Content-Length long: net/http reads no further,
		// and fails a shorter one with io.ErrUnexpectedEOF, as this does.
		// Read into the room Grow made, which buf.ReadFrom would grow
		// again near its end.
		buf.Grow(int(n))
		room := buf.AvailableBuffer()[:n]
		m, err := io.ReadFull(r, room)
		buf.Write(room[:m])
		return buf.Bytes(), err
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
