package odata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"sync"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
)

// maxBatchSize is the most requests one $batch may carry (Dataverse's
// limit); a larger Config.BatchSize is lowered to it.
const maxBatchSize = 1000

// maxBCBatchSize is the most operations Business Central takes in one
// $batch: more are answered "The current batch message contains too many
// parts. A maximum number of '100' query operations and change sets are
// allowed in a batch message." (a limit of the OData library the service
// runs on, which its documentation does not state).
const maxBCBatchSize = 100

// batchOp is one write of a $batch, before it is put in a wire format:
// its request id (the JSON "id", the multipart Content-ID), its change set
// ("" for none) and the request it stands for.
type batchOp struct {
	id    string
	group string
	wr    writeRequest
}

// batchAnswer is the server's answer to one batchOp, whatever the wire
// format. ID is the request id it answers; an answer that stands for a
// whole change set has an ID of none of its requests and Group set.
type batchAnswer struct {
	ID     string
	Group  string
	Status int
	Header http.Header
	Body   []byte // raw, nil for none
}

// writeBatched is Write for Config.BatchSize > 1. The ops are sent in
// chunks of c.batchSize as $batch requests
//
//	POST {root}/$batch   Prefer: odata.continue-on-error
//
// in the connector's batch format: OData 4.01 JSON
// ({"requests":[{"id","method","url","headers","body"}, …]}, batch_json.go)
// or OData 4.0 multipart/mixed (one application/http part per request,
// batch_multipart.go), with up to MaxConcurrency chunks in flight. Each op
// is the same request the single path would send (encodeWrite). By default
// no change sets are used: each record succeeds or fails on its own, and
// its answer becomes a WriteResult exactly as a response of its own would.
// With Config.Atomicity "batch" each chunk is one change set (a JSON
// atomicity group, a multipart change set), and its results are all or
// nothing (settleGroup). When the $batch request itself fails (after the
// transport's retries) every op of the chunk gets that error. Context
// cancellation behaves as in Write.
func (c *Client) writeBatched(ctx context.Context, e connectors.Entity, ops []connectors.WriteOp) ([]connectors.WriteResult, error) {
	results := make([]connectors.WriteResult, len(ops))
	sem := make(chan struct{}, c.concurrency)
	var wg sync.WaitGroup
	started := 0
launch:
	for lo := 0; lo < len(ops); lo += c.batchSize {
		hi := min(lo+c.batchSize, len(ops))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		if ctx.Err() != nil { // select picks at random when both are ready
			<-sem
			break launch
		}
		started = hi
		wg.Go(func() {
			defer func() { <-sem }()
			c.writeChunk(ctx, e, ops[lo:hi], results[lo:hi])
		})
	}
	wg.Wait()

	if err := ctx.Err(); err != nil {
		connectors.NotSent(results, ops, started, err, func(op connectors.WriteOp, err error) error {
			return wrap(string(op.Op), e.Name, op.Key, err)
		})
		return results, wrap("write", e.Name, "", err)
	}
	return results, nil
}

// writeChunk sends ops as one $batch and fills results, which is as long
// as ops.
func (c *Client) writeChunk(ctx context.Context, e connectors.Entity, ops []connectors.WriteOp, results []connectors.WriteResult) {
	fail := func(i int, err error) {
		results[i] = connectors.WriteResult{Key: ops[i].Key, Err: wrap(string(ops[i].Op), e.Name, ops[i].Key, err)}
	}
	wrs := make([]writeRequest, len(ops))
	batch := make([]batchOp, 0, len(ops))
	index := make(map[string]int, len(ops)) // request id -> op index
	k := c.keyer(e)
	for i, op := range ops {
		wr, err := c.encodeWrite(ctx, k, e, op)
		if err != nil {
			if c.atomic {
				c.failGroup(e, ops, results, i, err)
				return
			}
			fail(i, err)
			continue
		}
		wrs[i] = wr
		// Numeric ids: a multipart Content-ID must not read as a system
		// resource such as $batch when referenced (OData 4.01, 11.7.4).
		b := batchOp{id: strconv.Itoa(i + 1), wr: wr}
		if c.atomic {
			b.group = changeSetID
		}
		index[b.id] = i
		batch = append(batch, b)
	}
	if len(batch) == 0 {
		return
	}

	answers, err := c.sendBatch(ctx, batch)
	if err != nil {
		for _, i := range index {
			fail(i, fmt.Errorf("$batch: %w", err))
		}
		return
	}
	done := make([]bool, len(ops))
	var groupErr *batchAnswer // an answer for the change set as a whole
	for _, a := range answers {
		i, ok := index[a.ID]
		if !ok && c.atomic && (a.ID == changeSetID || a.Group == changeSetID) && (a.Status < 200 || a.Status > 299) {
			groupErr = &a
			continue
		}
		if !ok || done[i] {
			continue // not ours, or a duplicate: the first answer counts
		}
		done[i] = true
		results[i] = c.batchResult(e, ops[i], wrs[i], a)
	}
	if c.atomic {
		c.settleGroup(e, ops, wrs, results, done, groupErr)
		return
	}
	for id, i := range index {
		if !done[i] {
			fail(i, fmt.Errorf("the $batch response has no answer for request %q: the write may or may not have taken effect", id))
		}
	}
}

// changeSetID names the one atomicity group of a $batch with atomicity:
// batch.
const changeSetID = "changeset"

// ErrRolledBack is connectors.ErrRolledBack, kept under this name for
// callers that test for it here.
var ErrRolledBack = connectors.ErrRolledBack

// settleGroup makes the results of one change set all or nothing. A
// service may answer a failed change set with one error for the group,
// with an error for the failed request only, or (SAP CAP) with 2xx answers
// for the requests before the failure although they were rolled back: so
// as soon as any request failed or went unanswered, every result of the
// change set is a failure. The request that failed keeps its own error;
// the others get ErrRolledBack naming it. The cause is formatted as text
// (%v), never wrapped: an innocent write must not read as the failed
// write's ErrNotFound, ErrStale or HTTP status, or the engine would treat
// a rolled-back delete of a record that still exists as "gone already".
func (c *Client) settleGroup(e connectors.Entity, ops []connectors.WriteOp, wrs []writeRequest, results []connectors.WriteResult, done []bool, groupErr *batchAnswer) {
	cause := -1
	for i := range ops {
		if done[i] && results[i].Err != nil {
			cause = i
			break
		}
	}
	var why error
	switch {
	case cause >= 0:
		why = fmt.Errorf("record %s failed: %v", opName(ops[cause], cause), results[cause].Err)
	case groupErr != nil:
		// An answer for the whole change set was the answer to none of
		// its requests: it names no request's method or URL.
		why = fmt.Errorf("the change set failed: %v", answerError("", "", *groupErr))
	default:
		for i := range ops {
			if !done[i] {
				// No failure was reported, and one answer is missing: the
				// change set may as well have been committed. That is not
				// a rollback; the engine reads the records to find out.
				for j, op := range ops {
					err := fmt.Errorf("the $batch response has no answer for record %s of this change set (atomicity: batch): the writes may or may not have taken effect", opName(ops[i], i))
					results[j] = connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, err)}
				}
				return
			}
		}
		return // all succeeded
	}
	for i, op := range ops {
		if i == cause {
			continue
		}
		err := fmt.Errorf("%w (atomicity: batch): %v", ErrRolledBack, why)
		results[i] = connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, err)}
	}
}

// failGroup fails every op of a change set that cannot be sent because op
// bad could not be encoded: sending the rest would break all or nothing.
func (c *Client) failGroup(e connectors.Entity, ops []connectors.WriteOp, results []connectors.WriteResult, bad int, err error) {
	for i, op := range ops {
		e2 := err
		if i != bad {
			// The cause as text only, as in settleGroup.
			e2 = fmt.Errorf("%w (atomicity: batch): record %s of the same change set cannot be written: %v", connectors.ErrNotSent, opName(ops[bad], bad), err)
		}
		results[i] = connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, e2)}
	}
}

// opName names an op in messages: its key, or for a create its position.
func opName(op connectors.WriteOp, i int) string {
	if op.Key != "" {
		return op.Key
	}
	return fmt.Sprintf("#%d (a create)", i+1)
}

// batchURL is where $batch requests are sent: the batch endpoint, "$batch"
// relative to the service root (OData 4.01 Part 1, 11.7).
func (c *Client) batchURL() string {
	return c.resourceURL("$batch")
}

// sendBatch posts ops as one $batch request in the connector's format and
// returns the answers. An error is for the batch as a whole. The answers
// are decoded by the response's media type, not by what was sent: a
// service may answer a multipart batch in JSON or the other way round
// (OData 4.01 lets the Accept header choose).
func (c *Client) sendBatch(ctx context.Context, ops []batchOp) ([]batchAnswer, error) {
	var (
		body        []byte
		contentType string
		err         error
	)
	switch c.batchFormat {
	case BatchFormatMultipart:
		body, contentType, err = c.encodeMultipartBatch(ops)
	default:
		body, contentType, err = c.encodeJSONBatch(ops)
	}
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.batchURL(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", mediaTypeOf(contentType))
	req.Header.Set("Prefer", "odata.continue-on-error")
	if c.atomic {
		// Business Central makes a $batch transactional by this header
		// (its documented way), not by atomicity groups; services that
		// honour change sets (Dataverse, SAP CAP) ignore it.
		req.Header.Set("Isolation", "snapshot")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, c.batchRefused(err)
	}
	defer resp.Body.Close()
	// The answer is read into a buffer of the pool: both decoders copy
	// out what they keep, so it is free again once they return.
	buf := batchAnswers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledAnswer {
			batchAnswers.Put(buf)
		}
	}()
	raw, err := transport.ReadBodyInto(resp, c.maxBody, buf)
	if err != nil {
		return nil, fmt.Errorf("read response of POST %s: %w", redact.PathQuery(req.URL), err)
	}
	got := resp.Header.Get("Content-Type")
	switch mediaTypeOf(got) {
	case "multipart/mixed":
		return decodeMultipartBatch(got, raw, ops)
	case "application/json":
		return decodeJSONBatch(raw)
	default:
		return nil, fmt.Errorf("the $batch response is of type %q, neither multipart/mixed nor application/json", got)
	}
}

// batchAnswers are the buffers $batch answers are read into, reused: an
// answer seldom states its length, and read with io.ReadAll, a new buffer
// grown a dozen times for each, they were a seventh of what a batched
// first sync allocated. A buffer that grew past maxPooledAnswer is let go.
var batchAnswers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledAnswer = 4 << 20

// batchRefused adds to the error of a $batch request refused as a whole
// (400, 415) the likely cause when it was sent in JSON: a service that
// speaks OData 4.0 only, like Dataverse, takes multipart batches only.
func (c *Client) batchRefused(err error) error {
	var oe *Error
	if c.batchFormat == BatchFormatMultipart || !errors.As(err, &oe) ||
		(oe.StatusCode != http.StatusBadRequest && oe.StatusCode != http.StatusUnsupportedMediaType) {
		return err
	}
	return fmt.Errorf("%w (this request was a JSON $batch; a service that takes multipart $batch requests only, as Dataverse does, needs batch_format: multipart)", err)
}

// mediaTypeOf is the lower-case media type of a Content-Type value,
// without parameters, or "" when it does not parse.
func mediaTypeOf(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// answerError is the *Error of a failed answer to the request method url.
func answerError(method, url string, a batchAnswer) *Error {
	body := a.Body
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	oe := &Error{Method: method, URL: url, StatusCode: a.Status, Status: strconv.Itoa(a.Status) + " " + http.StatusText(a.Status)}
	oe.Code, oe.Message = errorDetail(body)
	return oe
}

// batchResult turns the answer to op into its WriteResult as writeOne would
// from a response of its own: a non-2xx status becomes an *Error (412 and
// 404 marked by resultError), a 2xx goes through result.
func (c *Client) batchResult(e connectors.Entity, op connectors.WriteOp, wr writeRequest, a batchAnswer) connectors.WriteResult {
	header := a.Header
	if header == nil {
		header = http.Header{}
	}
	if a.Status < 200 || a.Status > 299 {
		return resultError(e, op, answerError(wr.method, redact.PathQueryString(c.target(wr)), a))
	}
	res, err := result(c.keyer(e), e, op, writeResponse{status: a.Status, header: header, body: a.Body})
	if err != nil {
		return connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, err)}
	}
	return res
}
