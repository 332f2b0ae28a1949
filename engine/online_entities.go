package engine

import (
	"context"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// describeEntities adds to schemas the entities that mappings name, that
// their connector's schema lacks and that the connector describes on its
// own (connectors.EntityDescriber), such as the options of a choice
// column. A connector that cannot read such an entity's description is an
// error at the mapping side naming it.
func (e *Engine) describeEntities(ctx context.Context, diags *mappings.Diagnostics, schemas map[string]*connectors.Schema) {
	for _, m := range e.prog.Mappings {
		for _, s := range []Side{m.Source, m.Dest} {
			schema := schemas[s.Connector]
			d, ok := e.conns[s.Connector].(connectors.EntityDescriber)
			if schema == nil || !ok || schema.Entity(s.Entity.Name) != nil {
				continue
			}
			es, err := d.DescribeEntity(ctx, s.Entity.Name)
			if err != nil {
				pos := m.Def.Table.Pos
				if s.Name == plan.SideIntegration {
					pos = m.Def.Integration.Pos
				}
				diags.Errorf(pos, "mapping %s: connector %s: %v", m.Name, s.Connector, err)
				continue
			}
			if es != nil {
				schema.Entities = append(schema.Entities, *es)
			}
		}
	}
}
