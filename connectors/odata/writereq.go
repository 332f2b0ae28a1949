package odata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
	ijson "github.com/couplerhq/coupler/internal/jsontext"
)

// writeRequest is one op encoded as HTTP, independent of how it is sent:
// alone today, as a part of a $batch later.
type writeRequest struct {
	method   string
	resource string // escaped path below the service root (entity path included)
	// sel is the $select of a write answered with the record
	// (selectOnWrite), "" for none.
	sel    string
	header http.Header
	body   []byte // nil for none
}

// target is the URL wr is sent to.
func (c *Client) target(wr writeRequest) string {
	return c.resourceURL(wr.resource, param{"$select", wr.sel})
}

// writeResponse is what the server answered to one writeRequest.
type writeResponse struct {
	status int
	header http.Header
	body   []byte
}

// encodeWrite encodes op as a writeRequest, after rewriting the lookups
// bound in OData syntax to records addressed by an alternate key
// (bindAlternateKeys), then writing its connectors.Reference values
// (encodeReferences), which address their records themselves.
func (c *Client) encodeWrite(ctx context.Context, k keyer, e connectors.Entity, op connectors.WriteOp) (writeRequest, error) {
	fields, err := c.bindAlternateKeys(op.Fields)
	if err != nil {
		return writeRequest{}, err
	}
	if fields, err = c.encodeReferences(ctx, e, fields); err != nil {
		return writeRequest{}, err
	}
	op.Fields = fields
	wr, err := prepareWrite(k, e, op)
	wr.resource = c.sets + wr.resource // below the entity path, if any
	if c.selectOnWrite && op.Return != nil && wr.header.Get("Prefer") == "return=representation" {
		wr.sel = selectOnWrite(e, op.Return)
	}
	return wr, err
}

// selectOnWrite is the $select of a write whose caller reads the fields
// returned of the record: those, its key and modified field, each once.
// Dataverse answers a create or update with return=representation with
// every column of the record otherwise (hundreds on a system table), and
// documents $select for both ("Create with data returned", "Update with
// data returned": "To control which properties are returned, append the
// $select query option to the URL").
func selectOnWrite(e connectors.Entity, returned []string) string {
	names := []string{e.Key}
	if e.Modified != "" {
		names = append(names, e.Modified)
	}
	for _, f := range returned {
		if f != "" && !slices.Contains(names, f) {
			names = append(names, f)
		}
	}
	return strings.Join(names, ",")
}

// prepareWrite encodes op as a writeRequest, op's lookups already bound.
func prepareWrite(k keyer, e connectors.Entity, op connectors.WriteOp) (writeRequest, error) {
	wr := writeRequest{header: http.Header{}}
	switch op.Op {
	case connectors.OpCreate:
		wr.method = http.MethodPost
		wr.resource = entityPath(e.Name)
		wr.header.Set("Prefer", "return=representation")
	case connectors.OpUpdate, connectors.OpDelete:
		if op.Key == "" {
			return wr, errors.New("no key to address the record")
		}
		wr.method = http.MethodPatch
		wr.header.Set("Prefer", "return=representation")
		if op.Op == connectors.OpDelete {
			wr.method = http.MethodDelete
			wr.header.Del("Prefer")
		}
		path, err := k.path(e.Name, op.Key)
		if err != nil {
			return wr, err
		}
		wr.resource = path
		etag := op.ETag
		if etag == "" {
			etag = "*" // exists, in any version: never create on update
		}
		wr.header.Set("If-Match", etag)
	default:
		return wr, fmt.Errorf("unknown write op %q", op.Op)
	}
	if op.Op != connectors.OpDelete {
		body, err := encodeFields(op.Fields)
		if err != nil {
			return wr, err
		}
		wr.body = body
	}
	return wr, nil
}

// encodeFields writes fields as a JSON object. json.Number values are
// written as numbers. The record's own ETag annotation is left out: it is
// read-only and travels in If-Match instead.
func encodeFields(fields connectors.Record) ([]byte, error) {
	if _, ok := fields[etagKey]; ok {
		fields = maps.Clone(fields)
		delete(fields, etagKey)
	}
	if fields == nil {
		fields = connectors.Record{}
	}
	body, err := ijson.MarshalObject(fields, false)
	if err != nil {
		return nil, fmt.Errorf("encode fields: %w", err)
	}
	return body, nil
}

// send performs one writeRequest. A non-2xx status is an *Error. The body is
// read up to the size limit; on transport.ErrBodyTooLarge the response is still
// returned, without its body.
func (c *Client) send(ctx context.Context, wr writeRequest) (writeResponse, error) {
	req, err := c.newRequest(ctx, wr.method, c.target(wr), wr.body)
	if err != nil {
		return writeResponse{}, err
	}
	for k, v := range wr.header {
		req.Header[k] = v
	}
	resp, err := c.do(req)
	if err != nil {
		return writeResponse{}, err
	}
	defer resp.Body.Close()
	out := writeResponse{status: resp.StatusCode, header: resp.Header}
	body, err := transport.ReadBody(resp, c.maxBody)
	if err != nil {
		return out, fmt.Errorf("read response of %s %s: %w", wr.method, redact.PathQuery(req.URL), err)
	}
	out.body = body
	return out, nil
}

// result turns the 2xx response to op into its WriteResult: the record the
// server echoed (if any), its key and its ETag. A create whose response
// names no key is an error, since the engine could not couple the record.
func result(k keyer, e connectors.Entity, op connectors.WriteOp, resp writeResponse) (connectors.WriteResult, error) {
	res := connectors.WriteResult{Key: op.Key, ETag: resp.header.Get("ETag")}
	if len(bytes.TrimSpace(resp.body)) > 0 {
		rec, err := decodeRecord(resp.body)
		if err != nil && op.Op == connectors.OpCreate {
			return res, fmt.Errorf("created, but the response does not decode: %w", err)
		}
		if rec != nil {
			res.Record = rec
			if res.ETag == "" {
				res.ETag, _ = rec[etagKey].(string)
			}
		}
	}
	if res.Record != nil {
		k.fill([]connectors.Record{res.Record})
	}
	if op.Op != connectors.OpCreate {
		return res, nil
	}
	if k.alt != nil {
		// The OData-EntityId names the primary key, not ours: the id is
		// the alternate key's value, echoed or else as sent.
		if res.Key, _ = k.idOf(res.Record); res.Key == "" {
			res.Key, _ = k.idOf(op.Fields)
		}
		if res.Key == "" {
			return res, fmt.Errorf("created, but neither the response nor the fields sent hold the key %s", e.Key)
		}
		return res, nil
	}
	res.Key = keyString(res.Record[e.Key])
	if res.Key == "" {
		res.Key = entityIDKey(resp.header.Get("OData-EntityId"))
	}
	if res.Key == "" {
		res.Key = entityIDKey(resp.header.Get("Location"))
	}
	if res.Key == "" {
		return res, fmt.Errorf("created, but the response has neither %s nor an OData-EntityId", e.Key)
	}
	return res, nil
}

// decodeRecord decodes a single-entity response body.
func decodeRecord(body []byte) (connectors.Record, error) {
	if rec, ok := decodeFlatRecord(body); ok {
		return cleanRecord(rec), nil
	}
	return decodeRecordSlow(body)
}

// recordDecoders are the token decoders of decodeFlatRecord, reused. Each
// reads its answer in place (from a bytes.Buffer, jsontext copies nothing).
var recordDecoders = sync.Pool{New: func() any { return jsontext.NewDecoder(new(bytes.Buffer)) }}

// decodeFlatRecord decodes body as decodeRecordSlow would, provided it is
// one JSON object, valid, of member names without escapes and unique,
// followed by nothing but white space: what a service answers to a write.
// Each value is decoded on its own (ijson.Decode), the common texts
// directly: encoding/json's decoding of each answer into a map was most
// of the connector's share of a first sync. ok is false for anything
// else, which decodeRecordSlow decodes, or fails to, as before;
// FuzzDecodeRecord holds the two together.
func decodeFlatRecord(body []byte) (_ connectors.Record, ok bool) {
	dec := recordDecoders.Get().(*jsontext.Decoder)
	defer func() {
		dec.Reset(new(bytes.Buffer)) // the pool keeps no answer alive
		recordDecoders.Put(dec)
	}()
	// Duplicate names are told by the record itself, cheaper than by the
	// decoder's set of names.
	dec.Reset(bytes.NewBuffer(body), jsontext.AllowDuplicateNames(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, false
	}
	// The members are gathered first and the map made at their number: a
	// map sized for a dozen was most of what an answer that selects its
	// few fields allocated (1.2 of 1.9 KB).
	type member struct {
		name string
		v    any
	}
	var room [24]member
	members := room[:0]
	for dec.PeekKind() == '"' {
		name, err := dec.ReadValue()
		if err != nil || bytes.IndexByte(name, '\\') >= 0 {
			return nil, false
		}
		raw, err := dec.ReadValue()
		if err != nil {
			return nil, false
		}
		v, err := ijson.Decode(raw)
		if err != nil {
			return nil, false
		}
		members = append(members, member{string(name[1 : len(name)-1]), v})
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return nil, false
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, false // more after the object: left to encoding/json
	}
	rec := make(connectors.Record, len(members))
	for _, m := range members {
		n := len(rec)
		if rec[m.name] = m.v; len(rec) == n {
			return nil, false // a duplicate name
		}
	}
	return rec, true
}

// decodeRecordSlow decodes a single-entity response body with
// encoding/json.
func decodeRecordSlow(body []byte) (connectors.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var rec connectors.Record
	if err := dec.Decode(&rec); err != nil {
		return nil, at(dec, err)
	}
	return cleanRecord(rec), nil
}

// keyString renders a key value from a record as the string ids travel in.
func keyString(v any) string {
	switch k := v.(type) {
	case string:
		return k
	case json.Number:
		return k.String()
	default:
		return ""
	}
}

// entityIDKey extracts the key from an entity URL such as
// https://…/accounts(00000000-0000-0000-0000-000000000001) or
// …/customers('C%2701'): the parenthesised part of the last path segment,
// unescaped and unquoted. It returns "" when there is none or the key is
// compound.
func entityIDKey(id string) string {
	seg := id[strings.LastIndexByte(id, '/')+1:] // a '/' in a key is escaped
	open := strings.IndexByte(seg, '(')          // entity set names have none
	if open < 0 || !strings.HasSuffix(seg, ")") {
		return ""
	}
	lit, err := url.PathUnescape(seg[open+1 : len(seg)-1])
	if err != nil {
		return ""
	}
	if len(lit) >= 2 && lit[0] == '\'' && lit[len(lit)-1] == '\'' {
		return strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
	}
	if lit == "" || strings.ContainsAny(lit, "=,'") {
		return ""
	}
	return lit
}
