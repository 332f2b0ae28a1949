package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/transport"
)

// Write implements connectors.Connector. Each op is one request, with up to
// MaxConcurrency in flight: the entity's create, update or delete request
// with the fields as a JSON object. Updates and deletes carry If-Match with
// the record's ETag when it has one; a 412 gives an error wrapping
// connectors.ErrStale, a 404 or 410 one wrapping connectors.ErrNotFound.
// A failed op is reported in its result and does not stop the others.
func (c *Client) Write(ctx context.Context, e connectors.Entity, ops []connectors.WriteOp) ([]connectors.WriteResult, error) {
	res, err := c.resource(e.Name)
	if err != nil {
		return nil, wrap("write", e.Name, "", err)
	}
	results, started := connectors.WriteEach(ctx, ops, c.concurrency, func(op connectors.WriteOp) connectors.WriteResult {
		return c.writeOne(ctx, e, &res, op)
	})
	if err := ctx.Err(); err != nil {
		connectors.NotSent(results, ops, started, err, func(op connectors.WriteOp, err error) error {
			return wrap(string(op.Op), e.Name, op.Key, err)
		})
		return results, wrap("write", e.Name, "", err)
	}
	return results, nil
}

func (c *Client) writeOne(ctx context.Context, e connectors.Entity, res *resource, op connectors.WriteOp) connectors.WriteResult {
	fail := func(err error) connectors.WriteResult {
		var re *Error
		if errors.As(err, &re) {
			switch re.StatusCode {
			case http.StatusPreconditionFailed:
				err = fmt.Errorf("%w: %w", connectors.ErrStale, err)
			case http.StatusNotFound, http.StatusGone:
				err = fmt.Errorf("%w: %w", connectors.ErrNotFound, err)
			}
		}
		return connectors.WriteResult{Key: op.Key, Err: wrap(string(op.Op), e.Name, op.Key, err)}
	}
	var ep endpoint
	switch op.Op {
	case connectors.OpCreate:
		ep = res.create
	case connectors.OpUpdate:
		ep = res.update
	case connectors.OpDelete:
		ep = res.delete
	default:
		return fail(fmt.Errorf("unknown write op %q", op.Op))
	}
	if op.Op != connectors.OpCreate && op.Key == "" {
		return fail(errors.New("no key to address the record"))
	}
	if op.Op != connectors.OpCreate {
		if err := checkID(op.Key); err != nil {
			return fail(err)
		}
	}
	var body []byte
	if op.Op != connectors.OpDelete {
		var err error
		if body, err = encodeFields(op.Fields, res); err != nil {
			return fail(err)
		}
	}
	header := http.Header{}
	if op.ETag != "" && op.Op != connectors.OpCreate {
		header.Set("If-Match", entityTag(op.ETag))
	}
	resp, err := c.send(ctx, ep.method, c.url(ep.path, op.Key), body, header)
	if err != nil && !errors.Is(err, transport.ErrBodyTooLarge) {
		return fail(err)
	}
	out := connectors.WriteResult{Key: op.Key, ETag: resp.header.Get("ETag")}
	if len(bytes.TrimSpace(resp.body)) > 0 && op.Op != connectors.OpDelete {
		rec, err := decodeItem(resp.body, res, res.topWins(e))
		if err != nil && op.Op == connectors.OpCreate {
			return fail(fmt.Errorf("created, but the response does not decode: %w", err))
		}
		if rec != nil {
			res.modified.normalize(rec, e.Modified)
			out.Record = rec
			if tag, ok := rec[connectors.ETagField].(string); ok {
				out.ETag = tag
			}
		}
	}
	if op.Op != connectors.OpCreate {
		return out
	}
	out.Key = keyString(out.Record[e.Key])
	if out.Key == "" {
		out.Key = keyString(out.Record[res.keyField()])
	}
	if out.Key == "" {
		out.Key = locationKey(resp.header.Get("Location"))
	}
	if out.Key == "" {
		return fail(fmt.Errorf("created, but the response has neither %s nor a Location", e.Key))
	}
	return out
}

// encodeFields writes fields as a JSON object, numbers as they were read,
// leaving out the ETag, which travels in If-Match, and wrapped in the
// entity's fields_at path when it has one. A lookup (connectors.Reference)
// is written as its target's key: REST APIs take plain ids.
func encodeFields(fields connectors.Record, res *resource) ([]byte, error) {
	if _, ok := fields[connectors.ETagField]; ok {
		fields = maps.Clone(fields)
		delete(fields, connectors.ETagField)
	}
	for _, v := range fields {
		if _, ref := v.(connectors.Reference); ref {
			fields = maps.Clone(fields)
			for f, v := range fields {
				fields[f] = connectors.PlainValue(v)
			}
			break
		}
	}
	if fields == nil {
		fields = connectors.Record{}
	}
	fields = res.wrapFields(fields)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return nil, fmt.Errorf("encode fields: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// locationKey is the last path segment of a Location header, unescaped.
func locationKey(loc string) string {
	if loc == "" {
		return ""
	}
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	p := strings.TrimRight(u.Path, "/")
	seg := p[strings.LastIndexByte(p, '/')+1:]
	if s, err := url.PathUnescape(seg); err == nil {
		return s
	}
	return ""
}
