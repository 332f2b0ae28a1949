package fake

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// The multipart batch format, as the Dataverse Web API documents it
// ("Execute batch operations using the Web API", which defers to OData 4.0
// Part 1: Protocol, 11.7 Batch Requests). What the fake checks, each a 400
// Bad Request before any request of the batch runs:
//
//   - the Content-Type has a boundary, and the body is well-framed
//     multipart: every part delimited, the closing delimiter present;
//   - each part is "Content-Type: application/http" with
//     "Content-Transfer-Encoding: binary" (the documentation: each item
//     "must be preceded by the batch identifier with a Content-Type and
//     Content-Transfer-Encoding header"), or a change set,
//     "Content-Type: multipart/mixed" with a boundary;
//   - a change set's parts are requests, not change sets, each with a
//     Content-ID unique in the batch (OData 4.0, 11.7.2: each body part
//     representing an operation in the change set MUST specify one), and
//     no GET ("GET request are not allowed within change sets");
//   - each request is an HTTP/1.1 request line and headers, and is not
//     itself a $batch; at most 1000 requests ("Batch requests can contain
//     up to 1000 individual requests and can't contain other batch
//     requests").
//
// Requests run in order, each through the ordinary routing as in a JSON
// batch. A change set runs all or nothing (runGroup). When it fails, its
// answer is the failed request's error alone, with that request's
// Content-ID, inside the change set's multipart part: the shape
// Microsoft's own Dataverse client parses ("When a changeset fails,
// Dataverse returns a single error for the entire changeset", tests of the
// batch client in microsoft/PowerPlatform-DataverseClient-Python). OData
// 4.0 (11.7.4) has the single response stand in place of the change set's
// part instead; the connector reads both. Without
// Prefer: odata.continue-on-error the batch stops at the first failure and
// the response's status is that failure's, its error the last part: the
// documentation's example answers "HTTP/1.1 400 BadRequest" with the
// failed request's 400 inside ("The batch error represents the error of
// the first failing request"). With it, the status is 200 OK and every
// request is answered.

// batchItem is a top-level part of a multipart batch: one request, or the
// requests of a change set.
type batchItem struct {
	changeSet bool
	reqs      []batchRequest
}

// serveMultipartBatch answers a multipart/mixed $batch whose Content-Type
// names boundary.
func (s *Server) serveMultipartBatch(w http.ResponseWriter, r *http.Request, boundary string) {
	if boundary == "" {
		writeError(w, badRequest("a multipart batch needs a boundary in its Content-Type"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, badRequest("read batch: %v", err))
		return
	}
	items, perr := parseMultipartBatch(body, boundary)
	if perr == nil {
		perr = s.checkBatchParts(len(items))
	}
	if perr != nil {
		writeError(w, perr)
		return
	}
	continueOnError := preferContinueOnError(r)

	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	_ = mw.SetBoundary("batchresponse_" + uuid.NewString()) // valid by construction
	status := http.StatusOK
	failed := map[string]bool{}
	for _, item := range items {
		var bad *batchResponse
		if item.changeSet {
			resps, ok := s.runGroup(r, item.reqs, failed)
			if ok {
				writeChangeSetResponse(mw, resps)
				continue
			}
			for i := range resps {
				if resps[i].Status >= 400 {
					bad = &resps[i]
					break
				}
			}
			writeChangeSetResponse(mw, []batchResponse{*bad})
		} else {
			resp := s.runBatched(r, item.reqs[0])
			writeHTTPResponse(mw, resp, false)
			if resp.Status < 400 {
				continue
			}
			bad = &resp
		}
		if !continueOnError {
			status = bad.Status
			break
		}
	}
	_ = mw.Close() // into a bytes.Buffer
	if continueOnError {
		w.Header().Set("Preference-Applied", "odata.continue-on-error")
	}
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(out.Bytes())
}

// parseMultipartBatch reads the items of a multipart batch body, checking
// its framing as described above.
func parseMultipartBatch(body []byte, boundary string) ([]batchItem, *statusError) {
	var items []batchItem
	ids := map[string]bool{}
	n := 0
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for i := 1; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("malformed multipart batch: part %d: %v", i, err)
		}
		ct := p.Header.Get("Content-Type")
		mt, params, _ := mime.ParseMediaType(ct)
		switch mt {
		case "application/http":
			br, err := readBatchRequest(p, strconv.Itoa(i))
			if err != nil {
				return nil, badRequest("malformed multipart batch: part %d: %v", i, err)
			}
			items = append(items, batchItem{reqs: []batchRequest{br}})
			n++
		case "multipart/mixed":
			if params["boundary"] == "" {
				return nil, badRequest("malformed multipart batch: change set %d has no boundary", i)
			}
			cs := batchItem{changeSet: true}
			cr := multipart.NewReader(p, params["boundary"])
			for j := 1; ; j++ {
				q, err := cr.NextRawPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					return nil, badRequest("malformed multipart batch: change set %d, part %d: %v", i, j, err)
				}
				if qt, _, _ := mime.ParseMediaType(q.Header.Get("Content-Type")); qt != "application/http" {
					return nil, badRequest("change set %d, part %d: Content-Type %q: a change set holds requests (application/http) only", i, j, q.Header.Get("Content-Type"))
				}
				id := strings.TrimSpace(q.Header.Get("Content-ID"))
				switch {
				case id == "":
					return nil, badRequest("change set %d, part %d has no Content-ID", i, j)
				case ids[id]:
					return nil, badRequest("change set %d, part %d: Content-ID %q is not unique in the batch", i, j, id)
				}
				ids[id] = true
				br, err := readBatchRequest(q, id)
				if err != nil {
					return nil, badRequest("malformed multipart batch: change set %d, part %d: %v", i, j, err)
				}
				if br.Method == http.MethodGet {
					return nil, badRequest("change set %d, part %d: GET requests are not allowed within change sets", i, j)
				}
				br.AtomicityGroup = "changeset " + strconv.Itoa(i)
				cs.reqs = append(cs.reqs, br)
				n++
			}
			if len(cs.reqs) == 0 {
				return nil, badRequest("change set %d holds no request", i)
			}
			items = append(items, cs)
		default:
			return nil, badRequest("malformed multipart batch: part %d has Content-Type %q, not application/http or multipart/mixed", i, ct)
		}
		if n > maxBatch {
			return nil, badRequest("a batch may hold at most %d requests", maxBatch)
		}
	}
	return items, nil
}

// readBatchRequest reads the HTTP request held by an application/http
// part. Its body runs to the end of the part, or Content-Length bytes.
func readBatchRequest(p *multipart.Part, id string) (batchRequest, error) {
	if cte := p.Header.Get("Content-Transfer-Encoding"); !strings.EqualFold(strings.TrimSpace(cte), "binary") {
		return batchRequest{}, fmt.Errorf("Content-Transfer-Encoding %q, want binary", cte)
	}
	tp := textproto.NewReader(bufio.NewReader(p))
	line, err := tp.ReadLine()
	if err != nil {
		return batchRequest{}, fmt.Errorf("request line: %w", err)
	}
	// The target may be relative to the service root, which
	// http.ReadRequest refuses: OData 4.0 Part 1, 11.7.2 allows an
	// absolute URL, an absolute path, or a path relative to the batch URL.
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" || strings.ContainsAny(method, "\t") {
		return batchRequest{}, fmt.Errorf("request line %q is not METHOD target HTTP/1.1", line)
	}
	if proto != "HTTP/1.1" {
		return batchRequest{}, fmt.Errorf("request line names %s, not HTTP/1.1", proto)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		// Headers end with an empty line, even with no body to follow
		// (OData 4.0 Part 1, 11.7.2: "the two empty lines after the Host
		// header of the GET request are necessary").
		return batchRequest{}, fmt.Errorf("request headers (they end with an empty line): %w", err)
	}
	body, err := io.ReadAll(tp.R)
	if err != nil {
		return batchRequest{}, fmt.Errorf("request body: %w", err)
	}
	if cl := mh.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > len(body) {
			return batchRequest{}, fmt.Errorf("Content-Length %q, but the body has %d bytes", cl, len(body))
		}
		body = body[:n]
	}
	out := batchRequest{ID: id, Method: method, URL: target, Headers: map[string]string{}}
	for k, vs := range mh {
		out.Headers[k] = vs[0]
	}
	if len(bytes.TrimSpace(body)) > 0 {
		out.Body = body
	}
	return out, nil
}

// writeChangeSetResponse writes the answers of a change set that succeeded
// as one multipart/mixed part, each answer with its request's Content-ID.
func writeChangeSetResponse(mw *multipart.Writer, resps []batchResponse) {
	var cs bytes.Buffer
	cw := multipart.NewWriter(&cs)
	_ = cw.SetBoundary("changesetresponse_" + uuid.NewString())
	for _, resp := range resps {
		writeHTTPResponse(cw, resp, true)
	}
	_ = cw.Close()
	pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"multipart/mixed; boundary=" + cw.Boundary()}})
	_, _ = pw.Write(cs.Bytes())
}

// writeHTTPResponse writes resp as an application/http part, with its
// request's Content-ID when withID is set.
func writeHTTPResponse(mw *multipart.Writer, resp batchResponse, withID bool) {
	h := textproto.MIMEHeader{
		"Content-Type":              {"application/http"},
		"Content-Transfer-Encoding": {"binary"},
	}
	if withID {
		h["Content-ID"] = []string{resp.ID}
	}
	pw, _ := mw.CreatePart(h) // writes into a bytes.Buffer
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", resp.Status, http.StatusText(resp.Status))
	b.WriteString("OData-Version: 4.0\r\n")
	for _, k := range slices.Sorted(maps.Keys(resp.Headers)) {
		fmt.Fprintf(&b, "%s: %s\r\n", http.CanonicalHeaderKey(k), resp.Headers[k])
	}
	b.WriteString("\r\n")
	b.Write(resp.Body)
	_, _ = pw.Write(b.Bytes())
}
