package rest

import (
	"slices"

	"github.com/couplerhq/coupler/connectors"
)

// Records whose own fields sit in a nested object (fields_at), such as
// HubSpot's {"id": "51", "properties": {"name": …}, "updatedAt": …}, are
// flattened on the way in and wrapped again on the way out, so that the
// engine and the mappings only ever see flat records.

// topWins returns the field names for which a record's top-level value
// beats a nested one of the same name: the key {id} stands for, the
// mapping's key, the ETag field and the mapping's modified field. These
// are the server's bookkeeping, which must never be shadowed by a property
// that happens to share the name.
func (res *resource) topWins(e connectors.Entity) []string {
	var out []string
	for _, f := range []string{res.keyField(), e.Key, res.etag, e.Modified} {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// flatten returns rec's fields as the engine sees them. Without fields_at
// that is rec itself. With it, the result is the nested object's fields
// plus rec's top-level scalar (string, number, boolean, null) fields; on a
// name both hold, the nested value wins unless the name is one of top.
// Top-level objects and arrays (associations, say) and the path's first
// member itself are left out. A missing or null nested object leaves the top-level
// fields only; any other non-object there is an error.
func (res *resource) flatten(rec map[string]any, top []string) (map[string]any, error) {
	if len(res.fieldsAt) == 0 {
		return rec, nil
	}
	var nested map[string]any
	if v, ok := lookup(rec, res.fieldsAt); ok && v != nil {
		m, isObj := v.(map[string]any)
		if !isObj {
			return nil, &shapeError{path: pathName(res.fieldsAt, ""), kind: kind(v)}
		}
		nested = m
	}
	out := make(map[string]any, len(nested)+len(rec))
	for k, v := range nested {
		out[k] = v
	}
	for k, v := range rec {
		if k == res.fieldsAt[0] { // a null there is no field
			continue
		}
		switch v.(type) {
		case map[string]any, []any:
			continue
		}
		if _, clash := out[k]; clash && !slices.Contains(top, k) {
			continue
		}
		out[k] = v
	}
	return out, nil
}

// wrapFields nests fields under the fields_at path for a create or update
// body: every field, the key included if the mapping writes it, because
// the API's write bodies hold nothing else ({"properties": {…}}).
func (res *resource) wrapFields(fields connectors.Record) connectors.Record {
	if len(res.fieldsAt) == 0 {
		return fields
	}
	var v connectors.Record = fields
	for i := len(res.fieldsAt) - 1; i >= 0; i-- {
		v = connectors.Record{res.fieldsAt[i]: v}
	}
	return v
}

// shapeError is a record whose fields_at member is not an object.
type shapeError struct{ path, kind string }

func (e *shapeError) Error() string { return e.path + " is " + e.kind + ", want an object" }
