package connectors

import "context"

// EntityDescriber is implemented by connectors that serve entities their
// schema (Describer) does not list, such as the options of a Dataverse
// choice column, choices(account.paymenttermscode), which live in a
// column's definition rather than in an entity set. validate --online asks
// it for an entity a mapping names that the schema lacks.
type EntityDescriber interface {
	// DescribeEntity describes the entity named name, reading what it
	// needs from the service; it returns nil and no error when name is
	// not one of its own.
	DescribeEntity(ctx context.Context, name string) (*EntitySchema, error)
}
