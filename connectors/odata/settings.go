package odata

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/config"
)

// $batch wire formats of Settings.BatchFormat.
const (
	BatchFormatJSON      = "json"
	BatchFormatMultipart = "multipart"
)

// LookupsBind is Settings.Lookups for a service that binds lookups.
const LookupsBind = "bind"

// Write atomicity of Settings.Atomicity.
const (
	AtomicityRecord = "record"
	AtomicityBatch  = "batch"
)

// AlternateKey is a key other than the primary one that identifies the
// records of an entity set.
type AlternateKey struct {
	// Fields are the key's properties, in the order they are written in
	// URLs. With one field the record's id is that field's value; with
	// several it is the key predicate, e.g. "name='A',region=1", which the
	// connector adds to every record it returns under the mapping's key
	// (the fields joined by commas, e.g. "name,region").
	Fields []string
	// Types gives the EDM type of fields whose literal is not a string,
	// e.g. "Edm.Int32" or "Edm.Guid"; a field not listed is an Edm.String.
	Types map[string]string
	// LookupKey is the key the mappings of this entity set couple its
	// records by, when they all use one: Name() when it is this alternate
	// key, another field (the primary key) otherwise, empty when unknown
	// or mixed. A Reference to a record of the set carries an id of that
	// key, so it decides how the reference is addressed; the id's shape
	// cannot when the key's values are GUIDs.
	LookupKey string
}

// AlternateKeyTypes are the EDM types an alternate key's field may have.
var AlternateKeyTypes = []string{"Edm.String", "Edm.Guid", "Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte",
	"Edm.Decimal", "Edm.Double", "Edm.Single", "Edm.Boolean", "Edm.Date", "Edm.DateTimeOffset"}

// Name is the key as a mapping names it: the fields joined by commas.
func (k AlternateKey) Name() string {
	out := ""
	for i, f := range k.Fields {
		if i > 0 {
			out += ","
		}
		out += f
	}
	return out
}

// LookupsValue is Settings.Lookups for a service that takes a lookup as a
// plain key field, the default.
const LookupsValue = "value"

// Settings are the odata connector's own settings in the project file.
type Settings struct {
	// EntityPath is a path below the service root under which the entity
	// sets live, e.g. Business Central's companies({id}): reads and writes
	// go to {BaseURL}/{EntityPath}/{set}, while $metadata and $batch stay
	// at {BaseURL}. Empty: the sets are at the root, unless BaseURL ends
	// in a Business Central company (see splitServiceRoot).
	EntityPath string
	// BatchSize, when above 1, sends writes in $batch requests of up to
	// that many operations; 0 or 1 sends one request per write.
	BatchSize int
	// BatchFormat is the wire format of those $batch requests:
	// BatchFormatJSON (OData 4.01 JSON batch) or BatchFormatMultipart
	// (multipart/mixed with change sets, OData 4.0). Empty picks from the
	// service (see batchFormat).
	BatchFormat string
	// Atomicity says what a $batch of writes guarantees: AtomicityRecord
	// (the default, "") lets each record succeed or fail on its own;
	// AtomicityBatch sends each batch as one change set, written all or
	// nothing.
	Atomicity string
	// Lookups is how the service takes lookups: LookupsBind for a service
	// that binds them to the target record (Dataverse), so that a
	// connectors.Reference is written as a binding and the lookup is read
	// under the name LookupField gives it; LookupsValue or "" for plain
	// fields.
	Lookups string
	// AlternateKeys declares, by entity set, an alternate key that records
	// are addressed by instead of the primary key, as in Dataverse's
	// accounts(accountnumber='A-1'). It applies when a mapping's key is
	// that alternate key.
	AlternateKeys map[string]AlternateKey
	// Limits bound each read: max_pages, max_read_bytes.
	Limits connectors.ReadLimits
}

//go:embed settings.schema.json
var settingsSchema []byte

// spec is the odata connector type's configuration spec.
var spec = connectors.Spec{
	Summary:     "OData v4: Business Central, Dataverse",
	Schema:      settingsSchema,
	NewSettings: func() connectors.Settings { return &Settings{} },
}

// Keys returns the decoders of the odata connector's keys.
func (s *Settings) Keys(d *config.Decoder, what string) map[string]config.KeyFunc {
	keys := map[string]config.KeyFunc{
		// entity_path rather than a Business Central "company:": the
		// connector is for any OData service, and the same setting serves
		// BC's API (companies(<id>)), its OData web services
		// (Company('<name>')) and any other service whose sets live below
		// a path; BC's documented URL needs no setting at all.
		"entity_path": func(_, v *yaml.Node) { s.EntityPath, _ = d.Expanded(v, what+": entity_path") },
		"batch_size":  func(_, v *yaml.Node) { s.BatchSize, _ = d.Int(v, what+": batch_size", 1, 1000) },
		"atomicity": func(_, v *yaml.Node) {
			s.Atomicity, _ = d.OneOf(v, what+": atomicity",
				[2]string{AtomicityRecord, "each record succeeds or fails on its own"},
				[2]string{AtomicityBatch, "each $batch request is one change set, written all or nothing"})
		},
		"batch_format": func(_, v *yaml.Node) {
			s.BatchFormat, _ = d.OneOf(v, what+": batch_format",
				[2]string{BatchFormatJSON, "OData 4.01 JSON batches, as Business Central documents"},
				[2]string{BatchFormatMultipart, "multipart/mixed with change sets, as Dataverse documents"})
		},
		"lookups": func(_, v *yaml.Node) {
			s.Lookups, _ = d.OneOf(v, what+": lookups", [2]string{LookupsValue, ""}, [2]string{LookupsBind, ""})
		},
	}
	maps.Copy(keys, s.Limits.Keys(d, what))
	return keys
}

// EntityKeys returns the decoders of an entity's alternate key.
func (s *Settings) EntityKeys(d *config.Decoder, what, entity string) map[string]config.KeyFunc {
	key := func() *AlternateKey {
		if s.AlternateKeys == nil {
			s.AlternateKeys = map[string]AlternateKey{}
		}
		k := s.AlternateKeys[entity]
		return &k
	}
	set := func(k *AlternateKey) { s.AlternateKeys[entity] = *k }
	return map[string]config.KeyFunc{
		"alternate_key": func(_, v *yaml.Node) {
			fields, ok := d.Strings(v, what+": alternate_key")
			if !ok {
				return
			}
			seen := map[string]bool{}
			for _, f := range fields {
				if f == "" || strings.ContainsAny(f, ",()='/ ") || seen[f] {
					d.Errorf(v, "%s: alternate_key: %q is not a field name, or is given twice; write the key's fields, e.g. [accountnumber] or [name, region]", what, f)
					return
				}
				seen[f] = true
			}
			k := key()
			k.Fields = fields
			set(k)
		},
		"key_types": func(_, v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				d.Errorf(v, "%s: key_types must be a mapping of alternate key field to EDM type, e.g. { region: Edm.Int32 }, not %s", what, config.KindName(v))
				return
			}
			k := key()
			k.Types = map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				f, tv := v.Content[i], config.Resolve(v.Content[i+1])
				t, ok := d.NonEmpty(tv, what+": key_types "+f.Value)
				if !ok {
					continue
				}
				if !slices.Contains(AlternateKeyTypes, t) {
					d.Errorf(tv, "%s: key_types %s: %q is not one of %s", what, f.Value, t, strings.Join(AlternateKeyTypes, ", "))
					continue
				}
				k.Types[f.Value] = t
			}
			set(k)
		},
	}
}

// Check reports what New would refuse, at the setting: an entity path that
// does not go with the base URL, change sets without $batch, key_types for
// fields outside the alternate key.
func (s *Settings) Check(d *config.Decoder, n *yaml.Node, what string, c *connectors.Config) {
	if err := CheckEntityPath(c.BaseURL, s.EntityPath); err != nil {
		d.Errorf(config.ValueNode(n, "entity_path"), "%s: entity_path: %v", what, err)
	}
	if k := config.KeyNode(n, "atomicity"); k != nil && s.Atomicity == AtomicityBatch && s.BatchSize <= 1 {
		d.Errorf(k, "%s: atomicity: batch needs batch_size above 1: change sets travel in $batch requests; add e.g. batch_size: 100", what)
	}
	if k := config.KeyNode(n, "batch_format"); k != nil && s.BatchSize <= 1 {
		d.Errorf(k, "%s: batch_format is the format of $batch requests, which only batch_size above 1 sends; add e.g. batch_size: 100", what)
	}
	entities := config.ValueNode(n, "entities")
	for _, name := range slices.Sorted(maps.Keys(s.AlternateKeys)) {
		k := s.AlternateKeys[name]
		decl := config.ValueNode(entities, name)
		if decl == nil {
			continue
		}
		if k.Fields == nil && config.KeyNode(decl, "alternate_key") != nil {
			continue // alternate_key itself is wrong, and reported
		}
		types := config.ValueNode(decl, "key_types")
		ewhat := what + ": entity " + name
		for _, f := range slices.Sorted(maps.Keys(k.Types)) {
			if slices.Contains(k.Fields, f) {
				continue
			}
			at := config.KeyNode(types, f)
			if at == nil {
				at = decl
			}
			if k.Fields == nil {
				d.Errorf(at, "%s: key_types names %s, but the entity declares no alternate_key", ewhat, f)
				continue
			}
			d.Errorf(at, "%s: key_types names %s, which is not a field of alternate_key %v", ewhat, f, k.Fields)
		}
	}
}

// CheckSides checks the entity names of the form choices(table.column)
// (CheckChoiceEntity) and change tracking on an alternate key, and
// records, for each entity set with an alternate key, the key its
// mappings couple records by when they all use the same one: a lookup
// bound to the set carries an id of that key, and the connector addresses
// the binding by it (AlternateKey.LookupKey).
func (s *Settings) CheckSides(sides []connectors.Side) []connectors.SideCheck {
	out := make([]connectors.SideCheck, len(sides))
	keys := map[string]map[string]bool{}
	for i, side := range sides {
		fields, err := CheckChoiceEntity(side.Entity, side.Key, side.Modified)
		out[i].Fields = fields
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, err := range errs {
				out[i].Problems = append(out[i].Problems, connectors.SideProblem{Setting: "entity", Err: err})
			}
		}
		alt := s.AlternateKey(side.Entity, side.Key)
		if side.Tracks && alt != nil {
			out[i].Problems = append(out[i].Problems, connectors.SideProblem{Setting: "changes",
				Err: fmt.Errorf("changes: track needs the side keyed by the primary key: change tracking names deleted records by it, not by the alternate key %s", side.Key)})
		}
		if k, ok := s.AlternateKeys[side.Entity]; ok && len(k.Fields) > 0 && side.Key != "" {
			if keys[side.Entity] == nil {
				keys[side.Entity] = map[string]bool{}
			}
			keys[side.Entity][side.Key] = true
		}
	}
	for entity, ks := range keys {
		if len(ks) != 1 {
			continue
		}
		k := s.AlternateKeys[entity]
		for key := range ks {
			k.LookupKey = key
		}
		s.AlternateKeys[entity] = k
	}
	return out
}

// AlternateKey returns the fields of the alternate key declared for entity
// when key names it, nil otherwise.
func (s *Settings) AlternateKey(entity, key string) []string {
	if k, ok := s.AlternateKeys[entity]; ok && len(k.Fields) > 0 && k.Name() == key {
		return k.Fields
	}
	return nil
}

// BindsLookups reports whether lookups are written as bindings (lookups:
// bind).
func (s *Settings) BindsLookups() bool { return s.Lookups == LookupsBind }

// settingsOf returns cfg's odata settings, empty ones when it has none.
func settingsOf(cfg connectors.Config) (*Settings, error) {
	if cfg.Settings == nil {
		return &Settings{}, nil
	}
	s, ok := cfg.Settings.(*Settings)
	if !ok {
		return nil, fmt.Errorf("odata: settings are %T, not the odata connector's", cfg.Settings)
	}
	return s, nil
}

var _ interface {
	connectors.SideChecker
	connectors.AlternateKeyed
	connectors.LookupBinder
} = (*Settings)(nil)
