package odata

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/couplerhq/coupler/connectors"
)

// Lookups, as Dataverse's Web API takes and gives them (with lookups:
// bind):
//
//   - written by binding the navigation property to the target record,
//     "ownerid@odata.bind": "/systemusers(<id>)"; null clears it ("Associate
//     table rows on create", "Associate and disassociate tables on update");
//   - a multi-table (polymorphic) lookup has one navigation property per
//     target table, named <lookup>_<target's logical name>: a contact's
//     parent customer is bound as "parentcustomerid_account@odata.bind" or
//     "parentcustomerid_contact@odata.bind"; parentcustomerid itself is no
//     navigation property ("Multi-table lookups", "Use single-valued
//     navigation properties"). Which ones a lookup has, $metadata says;
//   - read as the computed property _<lookup>_value, holding the target's
//     primary key, annotated with the target's logical name
//     (_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname:
//     "account") when the request asks for it with Prefer:
//     odata.include-annotations ("Web API properties", "Lookup properties").

// lookupLogicalName is the annotation naming the table a lookup points to.
const lookupLogicalName = "@Microsoft.Dynamics.CRM.lookuplogicalname"

// includeAnnotations is the preference asking for it.
const includeAnnotations = `odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"`

var (
	_ connectors.LookupReader = (*Client)(nil)
	_ connectors.ReadBacker   = (*Client)(nil)
)

// LookupField implements connectors.LookupReader: a lookup of a service
// that binds them is read as _<field>_value.
func (c *Client) LookupField(_, field string) string {
	if !c.bindLookups {
		return field
	}
	return "_" + field + "_value"
}

// LookupTarget implements connectors.LookupReader. It reads the
// lookuplogicalname annotation the record came with, and finds the entity
// set of that entity type in $metadata (Dataverse's logical name is its
// entity type's name: account, whose set is accounts).
func (c *Client) LookupTarget(ctx context.Context, entity, field string, rec connectors.Record) (string, error) {
	logical, _ := rec[c.LookupField(entity, field)+lookupLogicalName].(string)
	if logical == "" || rec[c.LookupField(entity, field)] == nil {
		return "", nil
	}
	sets, err := c.setsOfType(ctx, logical)
	if err != nil {
		return "", fmt.Errorf("which entity set %s records are in: %w", logical, err)
	}
	if len(sets) != 1 {
		return "", fmt.Errorf("lookup %s of %s points to a %s record, and $metadata has %d entity sets of that type", field, entity, logical, len(sets))
	}
	return sets[0], nil
}

// ReadBack implements connectors.ReadBacker. A Reference is read back as
// the lookup's _x_value holding the target's primary key, so that one
// bound by an alternate key (bindsByAlternateKey) cannot be compared. A
// binding written in OData syntax ("x@odata.bind": "/set(id)", by an
// older coupler or a caller of this package) is read back the same way.
func (c *Client) ReadBack(entity, field string, v any) (string, any, bool) {
	set, id := "", ""
	switch ref := v.(type) {
	case connectors.Reference:
		if !c.bindLookups {
			return field, connectors.PlainValue(v), true
		}
		set, id = ref.Entity, ref.Key
	default:
		nav, bound := strings.CutSuffix(field, "@odata.bind")
		if !bound {
			return field, v, true
		}
		field = nav
		if s, ok := v.(string); ok {
			set, id = boundReference(s)
		}
	}
	if alt, declared := c.altKeys[set]; declared && id != "" && bindsByAlternateKey(alt, id) {
		return "", nil, false
	}
	var value any
	if id != "" {
		value = id
	}
	return "_" + field + "_value", value, true
}

// boundReference splits a binding "/set(id)" into the set and the id,
// unquoted.
func boundReference(ref string) (set, id string) {
	open := strings.IndexByte(ref, '(')
	if open < 0 || !strings.HasSuffix(ref, ")") {
		return "", ""
	}
	set = ref[strings.LastIndexByte(ref[:open], '/')+1 : open]
	return set, strings.Trim(ref[open+1:len(ref)-1], "'")
}

// encodeReferences returns fields with each connectors.Reference written
// as the service takes it: bound, as "<nav>@odata.bind": "/set(key)" (null
// to clear), when the service binds lookups; else as the plain key. fields
// is not modified; a copy is returned when something changed.
func (c *Client) encodeReferences(ctx context.Context, e connectors.Entity, fields connectors.Record) (connectors.Record, error) {
	// Most writes hold no reference: their names are not sorted (in name
	// order so that the first failing field is the same every time).
	if !hasReference(fields) {
		return fields, nil
	}
	var out connectors.Record
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		ref, ok := fields[name].(connectors.Reference)
		if !ok {
			continue
		}
		if out == nil {
			out = maps.Clone(fields)
		}
		if !c.bindLookups {
			out[name] = connectors.PlainValue(ref)
			continue
		}
		delete(out, name)
		nav, err := c.navigation(ctx, e.Name, name, ref.Entity)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		var bind any
		if ref.Key != "" {
			path, err := c.referencePath(ref)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", name, err)
			}
			bind = "/" + path
		}
		out[nav+"@odata.bind"] = bind
	}
	if out == nil {
		return fields, nil
	}
	return out, nil
}

// hasReference reports whether fields hold a connectors.Reference.
func hasReference(fields connectors.Record) bool {
	for _, v := range fields {
		if _, ok := v.(connectors.Reference); ok {
			return true
		}
	}
	return false
}

// referencePath addresses the record ref points to: by the alternate key
// declared for its set when ref's key is one of that key's values
// (bindsByAlternateKey), else by the primary key.
func (c *Client) referencePath(ref connectors.Reference) (string, error) {
	if alt, declared := c.altKeys[ref.Entity]; declared && bindsByAlternateKey(alt, ref.Key) {
		return keyer{field: alt.Name(), alt: &alt}.path(ref.Entity, ref.Key)
	}
	return recordPath(ref.Entity, ref.Key), nil
}

// navigation returns the navigation property that binds the lookup field
// of entity to a record of target: the lookup itself, or for a
// multi-table lookup the one of target's table (parentcustomerid_account).
// A target the lookup does not accept is an error. When $metadata cannot
// be had, the lookup itself is bound, and the service says whether it
// takes that.
func (c *Client) navigation(ctx context.Context, entity, field, target string) (string, error) {
	s, err := c.lookupSchema(ctx)
	if err != nil {
		c.log.WarnContext(ctx, "odata: no $metadata to tell multi-table lookups by; binding the lookup as named", "entity", entity, "field", field, "error", err)
		return field, nil
	}
	es := s.Entity(entity)
	if es == nil {
		return field, nil
	}
	targets, poly := es.Polymorphic[field]
	if !poly {
		return field, nil
	}
	nav, ok := targets[target]
	if !ok {
		return "", fmt.Errorf("%s of %s is a multi-table lookup to %s, not to %s", field, entity, strings.Join(slices.Sorted(maps.Keys(targets)), " or "), target)
	}
	return nav, nil
}

// lookupCache remembers a $metadata that could not be had for lookups,
// so that writes do not ask again for a document the service lacks, and
// the entity sets of each entity type's unqualified name.
type lookupCache struct {
	mu     sync.Mutex
	failed error
	sets   map[string][]string // built once from the schema
}

// setsOfType returns the entity sets whose entity type's name, without
// its namespace, is name: what Dataverse calls the table's logical name.
func (c *Client) setsOfType(ctx context.Context, name string) ([]string, error) {
	s, err := c.lookupSchema(ctx)
	if err != nil {
		return nil, err
	}
	c.lookups.mu.Lock()
	defer c.lookups.mu.Unlock()
	if c.lookups.sets == nil {
		c.lookups.sets = map[string][]string{}
		for _, es := range s.Entities {
			local := es.Type[strings.LastIndexByte(es.Type, '.')+1:]
			c.lookups.sets[local] = append(c.lookups.sets[local], es.Name)
		}
	}
	return c.lookups.sets[name], nil
}

// lookupSchema returns the schema Describe parsed, shared (callers must
// not change it). A fetch the service refused (an HTTP error) is not
// repeated; one that did not get an answer is.
func (c *Client) lookupSchema(ctx context.Context) (*connectors.Schema, error) {
	if s := c.schema.cached.Load(); s != nil {
		return s, nil
	}
	c.lookups.mu.Lock()
	defer c.lookups.mu.Unlock()
	if c.lookups.failed != nil {
		return nil, c.lookups.failed
	}
	if _, err := c.Describe(ctx); err != nil {
		var oe *Error
		if errors.As(err, &oe) {
			c.lookups.failed = err
		}
		return nil, err
	}
	return c.schema.cached.Load(), nil
}
