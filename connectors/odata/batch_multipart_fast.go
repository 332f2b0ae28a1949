package odata

import (
	"bytes"
	"net/http"
	"net/textproto"
	"strconv"
)

// decodeMultipartFast decodes a multipart $batch answer as
// decodeMultipartBatch does, for the common shape alone: a request
// without change sets answered by application/http parts, each holding
// a response whose body is sized by its Content-Length or runs to the
// end of the part. It reads the answer in place, where mime/multipart
// and http.ReadResponse parsed every part's headers twice into maps
// (a twentieth of a batched first sync's CPU, a tenth of its
// allocations). ok is false for anything else, an error included,
// which decodeMultipartBatch then decodes, or refuses, as before;
// FuzzMultipartFastMatches holds the two together.
func decodeMultipartFast(boundary string, body []byte, items [][]batchOp) (answers []batchAnswer, ok bool) {
	for _, item := range items {
		if item[0].group != "" {
			return nil, false
		}
	}
	dash := []byte("--" + boundary)
	// The first delimiter opens the answer (no preamble), and its line
	// end is the one every delimiter line has (CRLF, or LF as
	// mime/multipart also takes when the first line ends so).
	if !bytes.HasPrefix(body, dash) {
		return nil, false
	}
	rest := body[len(dash):]
	nl := []byte("\r\n")
	switch {
	case bytes.HasPrefix(rest, nl):
	case len(rest) > 0 && rest[0] == '\n':
		nl = nl[1:]
	default:
		return nil, false
	}
	rest = rest[len(nl):]
	delim := append(append([]byte{}, nl...), dash...)
	answers = make([]batchAnswer, 0, len(items))
	for n := 0; ; n++ {
		end := bytes.Index(rest, delim)
		if end < 0 {
			return nil, false // no closing delimiter
		}
		part, after := rest[:end], rest[end+len(delim):]
		// What follows the delimiter: "--" closes the answer, a line end
		// opens the next part; anything else (padding, a longer boundary)
		// is left to mime/multipart.
		closing := bytes.HasPrefix(after, []byte("--"))
		if closing {
			if tail := after[2:]; len(tail) > 0 && !bytes.HasPrefix(tail, nl) {
				return nil, false
			}
		} else if !bytes.HasPrefix(after, nl) {
			return nil, false
		}
		if n < len(items) {
			a, ok := readHTTPPart(part, nl)
			if !ok {
				return nil, false
			}
			a.ID = items[n][0].id // by position: the request carried no Content-ID
			answers = append(answers, a)
		} else if _, ok := scanHeaderBlock(part, nl, func(_, _ []byte) {}); !ok {
			return nil, false // a part beyond the request's, ignored once read
		}
		if closing {
			return answers, true
		}
		rest = after[len(nl):]
	}
}

// readHTTPPart reads a body part holding an application/http response, its
// lines ending in nl.
func readHTTPPart(part, nl []byte) (batchAnswer, bool) {
	rest, ok := partIsHTTP(part, nl)
	if !ok {
		return batchAnswer{}, false
	}
	status, rest, ok := cutLine(rest, nl)
	code, ok := statusCode(status, ok)
	if !ok {
		return batchAnswer{}, false
	}
	h, body, ok := readHeaderBlock(rest, nl)
	// http.ReadResponse drops Connection: close (of HTTP/1.1) and adds
	// Cache-Control to Pragma: no-cache; answers with either, or with
	// Transfer-Encoding, are left to it.
	if !ok || h["Transfer-Encoding"] != nil || h["Connection"] != nil || h["Pragma"] != nil {
		return batchAnswer{}, false
	}
	cl := h["Content-Length"]
	if len(cl) > 1 {
		return batchAnswer{}, false
	}
	// net/http refuses a Content-Length that is not a number whatever the
	// status, before it reads no body for a 204 or 304.
	n := uint64(len(body))
	if len(cl) == 1 {
		var err error
		if n, err = strconv.ParseUint(cl[0], 10, 31); err != nil {
			return batchAnswer{}, false
		}
	}
	switch {
	case code == http.StatusNoContent || code == http.StatusNotModified:
		body = nil // whatever the part holds, as net/http reads it
	case n > uint64(len(body)):
		return batchAnswer{}, false
	default:
		body = body[:n]
	}
	if len(body) == 0 {
		body = nil
	} else {
		body = bytes.Clone(body) // the answer's buffer is reused
	}
	return batchAnswer{Status: code, Header: http.Header(h), Body: body}, true
}

// statusCode is the code of an HTTP/1.x status line with a reason phrase.
func statusCode(line []byte, ok bool) (int, bool) {
	if !ok || len(line) < len("HTTP/1.1 200 ") || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || line[12] != ' ' ||
		(line[7] != '0' && line[7] != '1') {
		return 0, false
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, code >= 200
}

// readHeaderBlock reads header lines up to an empty one, names
// canonicalised and values trimmed as textproto reads them; ok is false
// for a line that is not "Name: value" of a plain name, or folded. The
// values share one slice, as textproto's do.
func readHeaderBlock(b, nl []byte) (textproto.MIMEHeader, []byte, bool) {
	n := 0
	if _, ok := scanHeaderBlock(b, nl, func(_, _ []byte) { n++ }); !ok {
		return nil, nil, false
	}
	h := make(textproto.MIMEHeader, n)
	values := make([]string, 0, n)
	rest, _ := scanHeaderBlock(b, nl, func(name, value []byte) {
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		values = append(values, string(value))
		if had := h[key]; had != nil {
			h[key] = append(had, values[len(values)-1])
		} else {
			h[key] = values[len(values)-1 : len(values) : len(values)]
		}
	})
	return h, rest, true
}

// partIsHTTP reads the header block of a body part and reports whether
// its (first) Content-Type is application/http, as
// textproto.MIMEHeader.Get would tell, without making the header.
func partIsHTTP(b, nl []byte) (rest []byte, ok bool) {
	var ct []byte
	seen := false
	rest, ok = scanHeaderBlock(b, nl, func(name, value []byte) {
		if !seen && bytes.EqualFold(name, []byte("Content-Type")) {
			ct, seen = value, true
		}
	})
	return rest, ok && string(ct) == "application/http"
}

// scanHeaderBlock calls fn with each header line's name and value (trimmed)
// up to an empty line, and returns what follows it; ok is false for a
// line that is not "Name: value" of a plain name, or folded.
func scanHeaderBlock(b, nl []byte, fn func(name, value []byte)) ([]byte, bool) {
	start := len(b)
	for lines := 0; ; lines++ {
		line, rest, ok := cutLine(b, nl)
		// mime/multipart refuses a part header of more than 10,000 lines
		// or 10 MiB; one past what any service sends is left to it.
		if !ok || lines > maxFastHeaderLines || start-len(rest) > maxFastHeaderBytes {
			return nil, false
		}
		b = rest
		if len(line) == 0 {
			return b, true
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || line[0] == ' ' || line[0] == '\t' {
			return nil, false
		}
		for _, c := range line[:i] {
			if !isTokenByte(c) {
				return nil, false
			}
		}
		value := bytes.Trim(line[i+1:], " \t")
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return nil, false
			}
		}
		fn(line[:i], value)
	}
}

// maxFastHeaderLines and maxFastHeaderBytes bound a header block
// readHeaderBlock reads, well within mime/multipart's bounds.
const (
	maxFastHeaderLines = 1000
	maxFastHeaderBytes = 64 << 10
)

// isTokenByte reports whether c may be in a header name (RFC 9110's
// tchar), as textproto takes them.
func isTokenByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c != 0 && bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// cutLine cuts b at its first line end, which must be nl, and returns the
// line without it; ok is false when there is none or it is a lone CR or
// LF of the other style.
func cutLine(b, nl []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line = b[:i]
	if len(nl) == 2 {
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return nil, nil, false
		}
		line = line[:len(line)-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, false
	}
	return line, b[i+1:], true
}
