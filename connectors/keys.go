package connectors

// KeyFromFields is implemented by connectors some of whose entities give a
// created record the key the create itself carries, in the field Entity.Key,
// rather than one the service makes up: the options of a Dataverse choice
// column are keyed by the value a mapping writes (see package odata,
// choices.go). For such an entity the engine records that key with the
// write's intent, so that a create whose answer was lost is found again by
// reading that key back, whether or not client_keys is set, and it never
// puts a key of its own (client_keys) into the create.
type KeyFromFields interface {
	// KeyFromFields reports whether a create of e that holds the field
	// e.Key makes the record with that key.
	KeyFromFields(e Entity) bool
}

// KeyedByFields reports whether c says that creates of e are keyed by
// their own e.Key field (KeyFromFields).
func KeyedByFields(c Connector, e Entity) bool {
	k, ok := c.(KeyFromFields)
	return ok && k.KeyFromFields(e)
}
