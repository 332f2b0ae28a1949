package connectors

import (
	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors/config"
)

// Spec is what a connector type declares about its configuration, next to
// its Factory (Register): the settings it adds to a connector's common ones,
// how they are decoded (with file:line:col, through config.Decoder) and
// their JSON Schema. The mapping loader knows only the common keys and asks
// the type's Spec for the rest, so that a new setting of one type is a
// change to that type's folder alone.
type Spec struct {
	// Summary says in a few words what the type talks to, for the list of
	// types in errors and in the project file's schema.
	Summary string
	// Schema is a JSON object with the JSON Schema of the type's keys:
	// "connector" holds the properties it adds to a connector, "entity"
	// the properties it adds to an entity declaration (entities: <name>:),
	// and "$defs" the definitions they refer to. The project file's schema
	// (schemas/coupler.schema.json) is made of the common keys and every
	// registered type's (see SchemaOf).
	Schema []byte
	// NewSettings returns empty settings of the type for the loader to
	// decode into.
	NewSettings func() Settings
}

// Settings are a connector type's own settings, decoded from the project
// file by the type itself and handed back to its Factory in
// Config.Settings.
type Settings interface {
	// Keys returns the decoders of the keys the type adds to a connector,
	// which fill in the settings. what names the connector in messages
	// ("connector bc").
	Keys(d *config.Decoder, what string) map[string]config.KeyFunc
	// EntityKeys returns the decoders of the keys the type adds to the
	// declaration of one entity under entities.
	EntityKeys(d *config.Decoder, what, entity string) map[string]config.KeyFunc
	// Check reports, at their keys in n (the connector's node), settings
	// that do not go together, once all of c is decoded.
	Check(d *config.Decoder, n *yaml.Node, what string, c *Config)
}

// Side is a mapping side that reads or writes through a connector, as the
// loader shows it to the connector's SideChecker.
type Side struct {
	// Mapping is the mapping's name.
	Mapping string
	// Entity, Key and Modified are the side's entity, key and modified
	// field as the mapping writes them.
	Entity, Key, Modified string
	// Tracks is true when the side reads changes by change tracking
	// (changes: track) rather than by its modified field.
	Tracks bool
}

// SideCheck is what a SideChecker says of one Side.
type SideCheck struct {
	// Fields, when not nil, are the fields the side's entity has, known
	// without asking the service (the options of a Dataverse choice), so
	// that the loader checks the mapping's field names against them.
	Fields []string
	// Problems are the side's mistakes.
	Problems []SideProblem
}

// SideProblem is one mistake in a mapping side.
type SideProblem struct {
	// Setting is the side's setting at fault, where the loader reports
	// it: "entity", "key", "modified" or "changes".
	Setting string
	Err     error
}

// SideChecker is implemented by Settings of a type with rules about the
// mapping sides on its connectors: entity names of a special form, change
// tracking it can or cannot do. The loader calls CheckSides once, with
// every side on the connector, after the whole project is loaded; a type
// may also remember what the sides tell (e.g. which key lookups carry).
type SideChecker interface {
	CheckSides(sides []Side) []SideCheck
}

// AlternateKeyed is implemented by Settings of a type that addresses the
// records of some entities by a declared alternate key rather than the
// primary one (OData's accounts(accountnumber='A-1')).
type AlternateKeyed interface {
	// AlternateKey returns the fields of the alternate key declared for
	// entity when key names it (its field, or its fields joined by
	// commas), nil otherwise.
	AlternateKey(entity, key string) []string
}

// LookupBinder is implemented by Settings of a type that can take lookups
// as references to the target record (Dataverse's x@odata.bind).
type LookupBinder interface {
	// BindsLookups reports whether apply writes lookups to this connector
	// as Reference values.
	BindsLookups() bool
}

// SettingsOf returns the optional capability T of c's settings, and
// whether they have it.
func SettingsOf[T any](c *Config) (T, bool) {
	var zero T
	if c == nil || c.Settings == nil {
		return zero, false
	}
	t, ok := c.Settings.(T)
	return t, ok
}
