package connectors

import (
	"context"
	"encoding/json"
)

// Reference is the value of a lookup in WriteOp.Fields: the record of
// another entity that the field points to. It is how the engine writes a
// lookup without knowing the protocol, in the spirit of database/sql's
// driver.Valuer: each connector encodes it its own way. The odata
// connector binds it ("parentcustomerid_account@odata.bind":
// "/accounts(<id>)" when the lookup may point to several entity sets,
// "ownerid@odata.bind": "/systemusers(<id>)" otherwise); a connector that
// knows nothing of references writes Key as the field's plain value.
type Reference struct {
	// Entity is the entity set (OData) or resource the target record
	// belongs to, as mappings name it, e.g. "accounts".
	Entity string
	// Key is the target record's id, of the key the target's mapping
	// couples by. Empty clears the lookup (null).
	Key string
}

// referenceJSON is the member a Reference is marshalled under, so that a
// write saved as JSON (the engine's write intents) can be read back as the
// Reference it was: no service names a field so.
const referenceJSON = "$coupler.reference"

// MarshalJSON writes r as {"$coupler.reference": {"entity": …, "key": …}}.
// It is for saving writes, never for sending them: connectors encode a
// Reference before their own JSON encoding.
func (r Reference) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]map[string]string{referenceJSON: {"entity": r.Entity, "key": r.Key}})
}

// PlainValue is what a connector without references writes for v: the
// key of a Reference (nil when it clears the lookup), any other value
// unchanged.
func PlainValue(v any) any {
	r, ok := v.(Reference)
	if !ok {
		return v
	}
	if r.Key == "" {
		return nil
	}
	return r.Key
}

// RestoreReferences turns the References in a record decoded from JSON
// that MarshalJSON wrote back into References, in place.
func RestoreReferences(rec Record) {
	for f, v := range rec {
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			continue
		}
		inner, ok := m[referenceJSON].(map[string]any)
		if !ok {
			continue
		}
		entity, _ := inner["entity"].(string)
		key, _ := inner["key"].(string)
		rec[f] = Reference{Entity: entity, Key: key}
	}
}

// LookupReader is implemented by connectors that read a lookup otherwise
// than as a plain field holding the target's key: under another name
// (Dataverse reads ownerid as _ownerid_value), or together with which
// entity set the target belongs to, for a lookup that may point to
// records of several (Dataverse's multi-table lookups, e.g. a contact's
// parentcustomerid: an account or a contact). The engine checks for it at
// run time; without it a lookup is read under its own name and its
// target is not told.
type LookupReader interface {
	// LookupField returns the field that records read from entity carry
	// the value of the lookup field in.
	LookupField(entity, field string) string
	// LookupTarget returns the entity set the lookup field of rec, a
	// record read from entity, points to, or "" when rec does not say
	// (the lookup is empty, or has one target). An error means the
	// connector could not find out (its service description is out of
	// reach).
	LookupTarget(ctx context.Context, entity, field string, rec Record) (string, error)
}

// ReadBacker is implemented by connectors whose records are read back
// under other names, or with other values, than the fields they were
// written with: a Reference written to Dataverse's parentcustomerid is
// read back as _parentcustomerid_value holding the target's primary key.
// The engine uses it to tell whether a write it lost the answer to
// happened. Without it a field is read back under its own name, and a
// Reference as its key.
type ReadBacker interface {
	// ReadBack returns the field of a record read from entity that holds
	// what was written to field as v, and the value it holds then. ok is
	// false when the record cannot tell: e.g. a reference to a record
	// addressed by an alternate key, read back as the target's primary
	// key, which coupler does not know.
	ReadBack(entity, field string, v any) (name string, value any, ok bool)
}
