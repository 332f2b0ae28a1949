package odata

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/couplerhq/coupler/connectors/transport"
)

// The multipart batch format of OData 4.0 (Part 1: Protocol, 11.7), the
// one Dataverse documents ("Execute batch operations using the Web API"):
//
//	POST {root}/$batch
//	Content-Type: multipart/mixed; boundary=batch_<id>
//
//	--batch_<id>
//	Content-Type: application/http
//	Content-Transfer-Encoding: binary
//
//	PATCH /api/data/v9.2/accounts(…) HTTP/1.1   (see partTarget)
//	If-Match: *
//	…
//
//	{"name":"x"}
//	--batch_<id>
//	Content-Type: multipart/mixed; boundary=changeset_<id>
//
//	--changeset_<id>
//	Content-Type: application/http
//	Content-Transfer-Encoding: binary
//	Content-ID: 1
//	…
//	--changeset_<id>--
//	--batch_<id>--
//
// A write outside change sets is a part of its own, as in the documented
// "batch request without change sets": Dataverse takes writes outside
// change sets, so atomicity: record needs none. Such a part carries no
// Content-ID (Dataverse documents it for change sets only); its answer is
// found by position, since the response "MUST structurally match
// one-to-one with the multipart batch request body" (OData 4.01 Part 1,
// 11.7.7.2). A change set's parts carry a Content-ID, which their answers
// repeat, and answer in any order.

// encodeMultipartBatch encodes ops as the body of a multipart $batch
// request and returns it with its Content-Type. Adjacent ops of one group
// form one change set.
func (c *Client) encodeMultipartBatch(ops []batchOp) ([]byte, string, error) {
	// Sized once for the whole batch: grown as it was written, the buffer
	// was copied a dozen times, as much allocated again as it held.
	var buf bytes.Buffer
	buf.Grow(encodedSize(ops))
	mw := multipart.NewWriter(&buf)
	boundaries := []string{"batch_" + uuid.NewString()}
	if err := mw.SetBoundary(boundaries[0]); err != nil {
		return nil, "", fmt.Errorf("encode batch: %w", err)
	}
	dir := c.batchDir()
	var part []byte // one part's request, its buffer reused
	for _, item := range batchItems(ops) {
		if item[0].group == "" {
			w, err := mw.CreatePart(httpPartHeader(""))
			if err != nil {
				return nil, "", fmt.Errorf("encode batch: %w", err)
			}
			part = appendHTTPRequest(part[:0], c.partTarget(dir, item[0].wr), item[0].wr)
			w.Write(part) // into buf, a bytes.Buffer: no error
			continue
		}
		var cs bytes.Buffer
		cs.Grow(encodedSize(item))
		cw := multipart.NewWriter(&cs)
		boundaries = append(boundaries, "changeset_"+uuid.NewString())
		if err := cw.SetBoundary(boundaries[len(boundaries)-1]); err != nil {
			return nil, "", fmt.Errorf("encode batch: %w", err)
		}
		for _, op := range item {
			w, err := cw.CreatePart(httpPartHeader(op.id))
			if err != nil {
				return nil, "", fmt.Errorf("encode batch: %w", err)
			}
			part = appendHTTPRequest(part[:0], c.partTarget(dir, op.wr), op.wr)
			w.Write(part) // into cs, a bytes.Buffer: no error
		}
		if err := cw.Close(); err != nil {
			return nil, "", fmt.Errorf("encode batch: %w", err)
		}
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"multipart/mixed; boundary=" + cw.Boundary()}})
		if err != nil {
			return nil, "", fmt.Errorf("encode batch: %w", err)
		}
		w.Write(cs.Bytes()) // into buf, a bytes.Buffer: no error
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("encode batch: %w", err)
	}
	for _, op := range ops {
		// A body holding a boundary would end its part early. Boundaries
		// are random: only a record that quotes one can, and then the
		// batch is refused here rather than misread there.
		for _, b := range boundaries {
			if bytes.Contains(op.wr.body, []byte(b)) {
				return nil, "", errors.New("encode batch: a request body holds the multipart boundary")
			}
		}
	}
	return buf.Bytes(), "multipart/mixed; boundary=" + boundaries[0], nil
}

// encodedSize is about the size of ops encoded as parts of a multipart
// batch, a little more rather than less: each part's body and target, and
// for its boundary, part header, request line and headers a few hundred
// bytes.
func encodedSize(ops []batchOp) int {
	n := 256
	for _, op := range ops {
		n += len(op.wr.body) + 2*len(op.wr.resource) + len(op.wr.sel) + 384
	}
	return n
}

// batchItems splits ops into the body parts of a multipart batch: a run of
// adjacent ops of one group is one change set, an op of no group a request
// of its own.
func batchItems(ops []batchOp) [][]batchOp {
	var items [][]batchOp
	for i := 0; i < len(ops); {
		n := 1
		for ops[i].group != "" && i+n < len(ops) && ops[i+n].group == ops[i].group {
			n++
		}
		items = append(items, ops[i:i+n])
		i += n
	}
	return items
}

// httpPartHeader is the header of a body part holding one request, with
// its Content-ID when id is not empty.
func httpPartHeader(id string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{
		"Content-Type":              {"application/http"},
		"Content-Transfer-Encoding": {"binary"},
	}
	if id != "" {
		h["Content-ID"] = []string{id} // spelled as the documentation does
	}
	return h
}

// appendHTTPRequest appends to b wr as the request of a body part, sent
// to target: its request line, the headers a single request carries
// (sorted, Accept and a body's Content-Type set to JSON), then the body.
// Built in one buffer the encoder reuses: a bufio.Writer per part, and a
// copy of its headers, were a quarter of what a batched apply allocated.
func appendHTTPRequest(b []byte, target string, wr writeRequest) []byte {
	b = append(b, wr.method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\n"...)
	keys := make([]string, 0, len(wr.header)+2)
	keys = append(keys, "Accept")
	if wr.body != nil {
		keys = append(keys, "Content-Type")
	}
	for k := range wr.header {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		values := wr.header[k]
		if k == "Accept" || k == "Content-Type" && wr.body != nil {
			values = []string{"application/json"}
		}
		for _, v := range values {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	return append(b, wr.body...)
}

// batchDir is the escaped path of the directory $batch requests are sent
// to (see partTarget), or "" when the batch URL does not parse.
func (c *Client) batchDir() string {
	batch, err := url.Parse(c.batchURL())
	if err != nil {
		return ""
	}
	dir := batch.EscapedPath()
	return dir[:strings.LastIndexByte(dir, '/')+1]
}

// partTarget is the request target of a part sending wr, for a
// batch sent to the directory dir (batchDir). OData 4.0 (Part 1, 11.7.2)
// lets a part name it by absolute URL, by absolute path, or relative to
// the batch request's URL, and services must take all three; they do not:
//
//   - Dataverse documents the absolute path ("POST /api/data/v9.2/tasks
//     HTTP/1.1", "Execute batch operations using the Web API") and absolute
//     URLs, never a relative path;
//   - SAP CAP takes the relative path only: it reads any other as a path
//     below its service ("Invalid resource path").
//
// So the Dataverse Web API (isDataverse) gets absolute paths, and every
// other service the path relative to the batch URL, e.g. "accounts(…)".
func (c *Client) partTarget(dir string, wr writeRequest) string {
	abs, err := url.Parse(c.target(wr))
	if err != nil {
		return wr.resource // resourceURL joins escaped parts: it parses
	}
	if c.absPaths || dir == "" {
		return abs.RequestURI()
	}
	if rel, ok := strings.CutPrefix(abs.RequestURI(), dir); ok && rel != "" {
		return rel
	}
	return abs.RequestURI()
}

// decodeMultipartBatch decodes the body of a multipart $batch response to
// the request that ops were encoded in. Its top-level parts answer the
// request's parts in order: an application/http part answers a request of
// its own, a multipart/mixed part a change set, one part per request
// matched by Content-ID (or, lacking one, by position). A change set that
// failed may be answered by one application/http part (OData 4.0: "a
// single response … that applies to all requests in the change set"),
// which becomes an answer with Group set and the ID of the request it
// names in Content-ID, if any. Header names are case-insensitive; lines may
// end in CRLF or LF. Parts beyond the request's are ignored; a missing
// one leaves its requests unanswered.
func decodeMultipartBatch(contentType string, body []byte, ops []batchOp) ([]batchAnswer, error) {
	boundary, err := multipartBoundary(contentType)
	if err != nil {
		return nil, fmt.Errorf("decode batch response: %w", err)
	}
	items := batchItems(ops)
	if answers, ok := decodeMultipartFast(boundary, body, items); ok {
		return answers, nil
	}
	return decodeMultipartParts(boundary, body, items)
}

// decodeMultipartParts is decodeMultipartBatch through mime/multipart and
// net/http, for any answer.
func decodeMultipartParts(boundary string, body []byte, items [][]batchOp) ([]batchAnswer, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	d := answerReader{br: bufio.NewReader(nil), limit: int64(len(body))}
	var answers []batchAnswer
	for n := 0; ; n++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return answers, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode batch response: part %d: %w", n+1, err)
		}
		if n >= len(items) {
			continue
		}
		item := items[n]
		got, err := d.decodeBatchItem(p, item)
		if err != nil {
			return nil, fmt.Errorf("decode batch response: part %d: %w", n+1, err)
		}
		answers = append(answers, got...)
	}
}

// answerReader reads the HTTP responses the parts of one $batch response
// hold, through one bufio.Reader: one per part was an eighth of what a
// batched apply allocated.
type answerReader struct {
	br *bufio.Reader
	// limit bounds a part's body: the batch's length, which no part's
	// body can pass, whatever its Content-Length says.
	limit int64
}

// decodeBatchItem decodes top-level part p, the answer to item.
func (d *answerReader) decodeBatchItem(p *multipart.Part, item []batchOp) ([]batchAnswer, error) {
	group := item[0].group
	ct := p.Header.Get("Content-Type")
	switch mediaTypeOf(ct) {
	case "application/http":
		a, err := d.readHTTPAnswer(p)
		if err != nil {
			return nil, err
		}
		a.Group = group
		switch id := contentID(p.Header); {
		case group == "":
			a.ID = item[0].id // by position: the request carried no Content-ID
		case slices.ContainsFunc(item, func(op batchOp) bool { return op.id == id }):
			a.ID = id
		}
		return []batchAnswer{a}, nil
	case "multipart/mixed":
		boundary, err := multipartBoundary(ct)
		if err != nil {
			return nil, err
		}
		cr := multipart.NewReader(p, boundary)
		var out []batchAnswer
		for j := 0; ; j++ {
			q, err := cr.NextRawPart()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("change set part %d: %w", j+1, err)
			}
			if mt := mediaTypeOf(q.Header.Get("Content-Type")); mt != "application/http" {
				return nil, fmt.Errorf("change set part %d is of type %q, not application/http", j+1, q.Header.Get("Content-Type"))
			}
			a, err := d.readHTTPAnswer(q)
			if err != nil {
				return nil, fmt.Errorf("change set part %d: %w", j+1, err)
			}
			a.Group = group
			if a.ID = contentID(q.Header); a.ID == "" && j < len(item) {
				a.ID = item[j].id
			}
			out = append(out, a)
		}
	default:
		return nil, fmt.Errorf("part of type %q, not application/http or multipart/mixed", ct)
	}
}

// readHTTPAnswer reads the HTTP response held by an application/http part.
func (d *answerReader) readHTTPAnswer(r io.Reader) (batchAnswer, error) {
	br := d.br
	br.Reset(r)
	// Tolerate blank lines before the status line.
	for {
		b, err := br.Peek(1)
		if err != nil || (b[0] != '\r' && b[0] != '\n') {
			break
		}
		br.ReadByte()
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return batchAnswer{}, fmt.Errorf("read the response it holds: %w", err)
	}
	defer resp.Body.Close()
	body, err := transport.ReadBody(resp, d.limit)
	if err != nil {
		return batchAnswer{}, fmt.Errorf("read the body of its %s response: %w", resp.Status, err)
	}
	if len(body) == 0 {
		body = nil
	}
	return batchAnswer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// contentID is the Content-ID of a body part, without the angle brackets
// of RFC 2045 if a service adds them.
func contentID(h textproto.MIMEHeader) string {
	id := strings.TrimSpace(h.Get("Content-ID"))
	if len(id) >= 2 && id[0] == '<' && id[len(id)-1] == '>' {
		id = id[1 : len(id)-1]
	}
	return id
}

// multipartBoundary is the boundary parameter of a multipart Content-Type.
func multipartBoundary(contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("content type %q: %w", contentType, err)
	}
	if !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return "", fmt.Errorf("content type %q is not multipart with a boundary", contentType)
	}
	return params["boundary"], nil
}
