package odata

import (
	"context"
	"errors"
	"fmt"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/transport"
)

// Write implements connectors.Connector. Each op is one request, with up to
// MaxConcurrency in flight:
//
//	create  POST   {sets}/{entity}        Prefer: return=representation
//	update  PATCH  {sets}/{entity}({key}) If-Match: {etag} or *
//	delete  DELETE {sets}/{entity}({key}) If-Match: {etag} or *
//
// where {sets} is the service root followed by the entity path, if any
// (Business Central: …/api/v2.0/companies({id})).
//
// With an alternate key declared for the entity (Config.AlternateKeys) and
// named by e.Key, {key} is its predicate instead, e.g.
// accounts(accountnumber='A-1'); see keyer.
//
// An update always sends If-Match, because a PATCH without it upserts in
// Dataverse and an update must never create. A 412 gives an error wrapping
// connectors.ErrStale, a 404 one wrapping connectors.ErrNotFound.
//
// A failed op is reported in its result and does not stop the others. When
// ctx is cancelled Write stops starting ops and returns the results so far,
// the ops it did not start marked with the context's error, together with
// an error: ops already sent may or may not have taken effect.
//
// With Config.BatchSize above 1 the ops travel in $batch requests
// instead, with the same results; see writeBatched.
func (c *Client) Write(ctx context.Context, e connectors.Entity, ops []connectors.WriteOp) ([]connectors.WriteResult, error) {
	if ch, ok, err := choiceOf(e); ok { // choices.go: actions, never in a $batch
		return c.writeChoiceEntity(ctx, ch, err, e, ops)
	}
	if c.batchSize > 1 {
		return c.writeBatched(ctx, e, ops)
	}
	results, started := connectors.WriteEach(ctx, ops, c.concurrency, func(op connectors.WriteOp) connectors.WriteResult {
		return c.writeOne(ctx, e, op)
	})

	if err := ctx.Err(); err != nil {
		connectors.NotSent(results, ops, started, err, func(op connectors.WriteOp, err error) error {
			return wrap(string(op.Op), e.Name, op.Key, err)
		})
		return results, wrap("write", e.Name, "", err)
	}
	return results, nil
}

// WriteBatch implements connectors.WriteBatcher: batch_size writes a
// request (1 without $batch), max_concurrency requests at once.
func (c *Client) WriteBatch() (size, inFlight int) {
	return max(c.batchSize, 1), c.concurrency
}

// writeOne performs one op. It is the seam where $batch will slot in: a
// batch would encode many writeRequests as parts of one request and decode
// each part into a writeResponse for result.
func (c *Client) writeOne(ctx context.Context, e connectors.Entity, op connectors.WriteOp) connectors.WriteResult {
	k := c.keyer(e)
	wr, err := c.encodeWrite(ctx, k, e, op)
	if err != nil {
		return connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, err)}
	}
	resp, err := c.send(ctx, wr)
	if err != nil {
		if errors.Is(err, transport.ErrBodyTooLarge) {
			// The write succeeded; only its echo was too big to keep.
			c.log.WarnContext(ctx, "odata: write response dropped", "entity", e.Name, "key", op.Key, "error", err)
		} else {
			return resultError(e, op, err)
		}
	}
	res, err := result(k, e, op, resp)
	if err != nil {
		return connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, err)}
	}
	return res
}

// resultError reports a failed op, marking staleness and absence so that
// errors.Is(err, connectors.ErrStale / ErrNotFound) works.
func resultError(e connectors.Entity, op connectors.WriteOp, err error) connectors.WriteResult {
	var oe *Error
	if errors.As(err, &oe) {
		switch oe.StatusCode {
		case 412:
			err = fmt.Errorf("%w: %w", connectors.ErrStale, err)
		case 404:
			err = fmt.Errorf("%w: %w", connectors.ErrNotFound, err)
		}
	}
	return connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, err)}
}
