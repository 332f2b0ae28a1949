package fake

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxBatch is the most requests one $batch may carry, Dataverse's limit.
const maxBatch = 1000

// maxBCBatchParts is the most parts (requests and change sets) Business
// Central takes in one $batch. Its documentation names no number; the
// service answers more with "The current batch message contains too many
// parts. A maximum number of '100' query operations and change sets are
// allowed in a batch message." (the limit of the OData library it runs on,
// ODataMessageQuotas), as reported by its users.
const maxBCBatchParts = 100

// checkBatchParts refuses a $batch of more than the server's part limit
// (batchParts; none when 0) as Business Central does.
func (s *Server) checkBatchParts(n int) *statusError {
	if s.batchParts > 0 && n > s.batchParts {
		return badRequest("The current batch message contains too many parts. A maximum number of '%d' query operations and change sets are allowed in a batch message.", s.batchParts)
	}
	return nil
}

// batchRequest is one request of an OData 4.01 JSON batch.
type batchRequest struct {
	ID             string            `json:"id"`
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	Headers        map[string]string `json:"headers"`
	Body           json.RawMessage   `json:"body"`
	DependsOn      []string          `json:"dependsOn"`
	AtomicityGroup string            `json:"atomicityGroup"`
}

// batchResponse is the answer to one batchRequest.
type batchResponse struct {
	ID             string            `json:"id,omitempty"`
	AtomicityGroup string            `json:"atomicityGroup,omitempty"`
	Status         int               `json:"status"`
	Headers        map[string]string `json:"headers,omitempty"`
	Body           json.RawMessage   `json:"body,omitempty"`
}

// BatchFormats is a set of $batch formats a Server accepts.
type BatchFormats uint8

// The $batch formats.
const (
	// BatchJSON is the OData 4.01 JSON batch format
	// ({"requests":[…]}, Content-Type: application/json).
	BatchJSON BatchFormats = 1 << iota
	// BatchMultipart is the multipart/mixed batch format of OData 4.0,
	// with change sets (multipart.go).
	BatchMultipart
)

// SetBatchFormats sets the $batch formats the server accepts (New: both).
// A request in another format is refused; see serveBatch.
func (s *Server) SetBatchFormats(f BatchFormats) {
	s.batchFormats.Store(uint32(f))
}

// serveBatch answers POST /$batch in the formats the server accepts,
// chosen by the request's Content-Type.
//
// A server that accepts multipart only (NewCRM) refuses any other type
// as Dataverse does: its Web API is an OData 4.0 service, and "the POST
// request containing the batch must have a Content-Type header with a
// value set to multipart/mixed" ("Execute batch operations using the Web
// API"). The documentation does not show the refusal; the answer is the
// one Microsoft's own Dataverse client expects for it (tests of the batch
// client in microsoft/PowerPlatform-DataverseClient-Python: 400, error
// code 0x80048d19, "The batch request must have Content-Type
// multipart/mixed."), a 4xx as OData 4.01 Part 1, 11.7 requires for a
// batch request with invalid headers. Other servers answer 415.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	formats := BatchFormats(s.batchFormats.Load())
	switch {
	case mt == "multipart/mixed" && formats&BatchMultipart != 0:
		s.serveMultipartBatch(w, r, params["boundary"])
	case mt == "application/json" && formats&BatchJSON != 0:
		s.serveJSONBatch(w, r)
	case formats == BatchMultipart:
		writeStatus(w, http.StatusBadRequest, "0x80048d19", "The batch request must have Content-Type multipart/mixed.")
	case formats == BatchJSON:
		writeStatus(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType",
			"only JSON batches (Content-Type: application/json) are supported")
	default:
		writeStatus(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType",
			"a batch must be multipart/mixed or application/json")
	}
}

// serveJSONBatch answers a $batch in the OData 4.01 JSON format. Requests
// run one after another, each as if sent on its own (but neither counted
// nor throttled: the batch is one request). As the protocol says, the batch
// stops at the first failed request unless the client sent
// Prefer: odata.continue-on-error; a request whose dependsOn names a failed
// request answers 424. Requests sharing an atomicityGroup (a change set)
// must be adjacent and succeed or fail together; see runGroup.
func (s *Server) serveJSONBatch(w http.ResponseWriter, r *http.Request) {
	var batch struct {
		Requests []batchRequest `json:"requests"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&batch); err != nil {
		writeError(w, badRequest("malformed JSON batch: %v", err))
		return
	}
	if len(batch.Requests) > maxBatch {
		writeError(w, badRequest("a batch may hold at most %d requests, not %d", maxBatch, len(batch.Requests)))
		return
	}
	if err := s.checkBatchParts(len(batch.Requests)); err != nil {
		writeError(w, err)
		return
	}
	if err := checkGroups(batch.Requests); err != nil {
		writeError(w, err)
		return
	}
	continueOnError := preferContinueOnError(r)

	failed := map[string]bool{}
	out := struct {
		Responses []batchResponse `json:"responses"`
	}{Responses: make([]batchResponse, 0, len(batch.Requests))}
	for i := 0; i < len(batch.Requests); {
		br := batch.Requests[i]
		if br.AtomicityGroup != "" {
			n := groupLen(batch.Requests[i:])
			resps, ok := s.runGroup(r, batch.Requests[i:i+n], failed)
			out.Responses = append(out.Responses, resps...)
			i += n
			if !ok {
				failed[br.AtomicityGroup] = true
				if !continueOnError {
					break
				}
			}
			continue
		}
		i++
		var resp batchResponse
		if slices.ContainsFunc(br.DependsOn, func(id string) bool { return failed[id] }) {
			resp = batchError(br.ID, errorf(http.StatusFailedDependency, "FailedDependency",
				"request %q depends on a request that failed", br.ID))
		} else {
			resp = s.runBatched(r, br)
		}
		out.Responses = append(out.Responses, resp)
		if resp.Status >= 400 {
			failed[br.ID] = true
			if !continueOnError {
				break
			}
		}
	}
	if continueOnError {
		w.Header().Set("Preference-Applied", "odata.continue-on-error")
	}
	body, err := json.Marshal(out)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// preferContinueOnError reports whether r asks for
// Prefer: odata.continue-on-error (OData 4.01 Part 1, 8.2.8.3): a batch
// then goes on after a failed request.
func preferContinueOnError(r *http.Request) bool {
	for _, line := range r.Header.Values("Prefer") {
		for pref := range strings.SplitSeq(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if strings.EqualFold(name, "odata.continue-on-error") && !strings.EqualFold(strings.TrimSpace(val), "false") {
				return true
			}
		}
	}
	return false
}

// runBatched performs one request of a batch through the ordinary routing.
func (s *Server) runBatched(outer *http.Request, br batchRequest) batchResponse {
	prefix := strings.TrimSuffix(strings.TrimSuffix(requestPath(outer), outer.URL.EscapedPath()), "/")
	target, err := batchTarget(br.URL, prefix)
	if err != nil {
		return batchError(br.ID, badRequest("request %q: invalid url %q: %v", br.ID, br.URL, err))
	}
	if strings.Trim(target.Path, "/") == "$batch" {
		return batchError(br.ID, badRequest("request %q: a batch cannot contain a batch", br.ID))
	}
	var body []byte
	if len(br.Body) > 0 && string(br.Body) != "null" {
		body = br.Body
	}
	req, err := http.NewRequestWithContext(outer.Context(), strings.ToUpper(br.Method), target.String(), bytes.NewReader(body))
	if err != nil {
		return batchError(br.ID, badRequest("request %q: %v", br.ID, err))
	}
	for k, v := range br.Headers {
		req.Header.Set(k, v)
	}
	req.Host = outer.Host
	req.TLS = outer.TLS
	// The request target as the client would have sent it on its own, so
	// that links in the answer carry the same service root.
	req.RequestURI = prefix + target.RequestURI()

	rec := &recorder{header: http.Header{}}
	rec.header.Set("Content-Type", contentType)
	s.route(rec, req)
	resp := batchResponse{ID: br.ID, Status: rec.status, Headers: map[string]string{}}
	for k, vs := range rec.header {
		if k != "Content-Length" && len(vs) > 0 {
			resp.Headers[strings.ToLower(k)] = vs[0]
		}
	}
	if b := bytes.TrimSpace(rec.body.Bytes()); len(b) > 0 {
		resp.Body = b
	}
	return resp
}

// batchTarget resolves a batch request's url (relative to the service root,
// absolute-path, or absolute) to a URL relative to the handler's root.
func batchTarget(raw, prefix string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	path := u.EscapedPath()
	if u.IsAbs() || strings.HasPrefix(path, "/") {
		path = strings.TrimPrefix(path, prefix)
	}
	t, err := url.Parse("/" + strings.TrimPrefix(path, "/"))
	if err != nil {
		return nil, err
	}
	t.RawQuery = u.RawQuery
	return t, nil
}

func batchError(id string, e *statusError) batchResponse {
	body := append([]byte(`{"error":{"code":`), appendQuote(nil, e.code)...)
	body = append(body, `,"message":`...)
	body = append(appendQuote(body, e.msg), "}}"...)
	return batchResponse{ID: id, Status: e.status, Headers: map[string]string{"content-type": contentType}, Body: body}
}

// recorder is the http.ResponseWriter a batched request writes to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
