package odata

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/transport"
)

// maxBatchSize is the most requests one $batch may carry (Dataverse's
// limit); a larger Config.BatchSize is lowered to it.
const maxBatchSize = 1000

// batchPart is one request of an OData 4.01 JSON batch.
type batchPart struct {
	ID             string            `json:"id"`
	AtomicityGroup string            `json:"atomicityGroup,omitempty"`
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	Headers        map[string]string `json:"headers,omitempty"`
	Body           json.RawMessage   `json:"body,omitempty"`
}

// batchAnswer is the server's answer to one batchPart.
type batchAnswer struct {
	ID             string            `json:"id"`
	AtomicityGroup string            `json:"atomicityGroup"`
	Status         int               `json:"status"`
	Headers        map[string]string `json:"headers"`
	Body           json.RawMessage   `json:"body"`
}

// writeBatched is Write for Config.BatchSize > 1. The ops are sent in
// chunks of c.batchSize as JSON $batch requests
//
//	POST {base}/$batch   Prefer: odata.continue-on-error
//	{"requests":[{"id","method","url","headers","body"}, …]}
//
// with up to MaxConcurrency chunks in flight. Each op is the same request
// the single path would send (prepareWrite), addressed relative to the
// service root. By default no atomicity groups are used: each record
// succeeds or fails on its own, and its answer becomes a WriteResult
// exactly as a response of its own would. With Config.Atomicity "batch"
// each chunk is one atomicity group (change set), and its results are all
// or nothing (settleGroup). When the $batch request itself fails (after
// the transport's retries) every op of the chunk gets that error. Context
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
	parts := make([]batchPart, 0, len(ops))
	index := make(map[string]int, len(ops)) // part id -> op index
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
		id := strconv.Itoa(i + 1)
		index[id] = i
		p := c.batchPart(id, wr)
		if c.atomic {
			p.AtomicityGroup = changeSetID
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return
	}

	answers, err := c.sendBatch(ctx, parts)
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
		if !ok && c.atomic && (a.ID == changeSetID || a.AtomicityGroup == changeSetID) && (a.Status < 200 || a.Status > 299) {
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
		why = c.batchResult(e, connectors.WriteOp{Op: ops[0].Op}, wrs[0], *groupErr).Err
		why = fmt.Errorf("the change set failed: %v", why)
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

// batchPart encodes wr as a part of a batch. Its url is relative to the
// service root, carrying the root's query if it has one.
func (c *Client) batchPart(id string, wr writeRequest) batchPart {
	p := batchPart{ID: id, Method: wr.method, URL: wr.resource, Headers: map[string]string{}}
	if c.base.RawQuery != "" {
		p.URL += "?" + c.base.RawQuery
	}
	// Header names go lower-case, as the OData JSON batch examples write
	// them: SAP CAP matches them case-sensitively and, sent "If-Match",
	// answers 428 Precondition Required (found by the e2e test against it).
	for k := range wr.header {
		p.Headers[strings.ToLower(k)] = wr.header.Get(k)
	}
	if wr.body != nil {
		p.Headers["content-type"] = "application/json" // as newRequest sets it
		p.Body = wr.body
	}
	return p
}

// sendBatch posts parts to {base}/$batch and returns the answers. An error
// is for the batch as a whole.
func (c *Client) sendBatch(ctx context.Context, parts []batchPart) ([]batchAnswer, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Requests []batchPart `json:"requests"`
	}{parts}); err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.resourceURL("$batch"), buf.Bytes())
	if err != nil {
		return nil, err
	}
	req.Header.Set("Prefer", "odata.continue-on-error")
	if c.atomic {
		// Business Central makes a $batch transactional by this header
		// (its documented way), not by atomicity groups; services that
		// honour the groups (Dataverse, SAP CAP) ignore it.
		req.Header.Set("Isolation", "snapshot")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(transport.LimitReader(resp.Body, c.maxBody))
	if err != nil {
		return nil, fmt.Errorf("read response of POST %s: %w", redact(req.URL), err)
	}
	var out struct {
		Responses []batchAnswer `json:"responses"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode batch response: %w", at(dec, err))
	}
	return out.Responses, nil
}

// batchResult turns the answer to op into its WriteResult as writeOne would
// from a response of its own: a non-2xx status becomes an *Error (412 and
// 404 marked by resultError), a 2xx goes through result.
func (c *Client) batchResult(e connectors.Entity, op connectors.WriteOp, wr writeRequest, a batchAnswer) connectors.WriteResult {
	header := http.Header{}
	for k, v := range a.Headers {
		header.Set(k, v)
	}
	body := []byte(a.Body)
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '"' {
		// A non-JSON body travels as a JSON string.
		var s string
		if json.Unmarshal(t, &s) == nil {
			body = []byte(s)
		}
	} else if string(t) == "null" {
		body = nil
	}
	if a.Status < 200 || a.Status > 299 {
		oe := &Error{
			Method:     wr.method,
			URL:        redactString(c.resourceURL(wr.resource)),
			StatusCode: a.Status,
			Status:     strconv.Itoa(a.Status) + " " + http.StatusText(a.Status),
		}
		if len(body) > maxErrorBody {
			body = body[:maxErrorBody]
		}
		oe.Code, oe.Message = errorDetail(body)
		return resultError(e, op, oe)
	}
	res, err := result(c.keyer(e), e, op, writeResponse{status: a.Status, header: header, body: body})
	if err != nil {
		return connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, err)}
	}
	return res
}
