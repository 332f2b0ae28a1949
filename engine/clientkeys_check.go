package engine

import (
	"strings"

	"github.com/couplerhq/coupler/mappings"
)

// checkClientKeys warns of a mapping side that client_keys: true cannot
// give a key to: one keyed by several fields ("name,region") that are not
// a declared alternate key. Such a key is neither the entity set's primary
// key nor an alternate key the connector addresses records by, so coupler
// can neither choose it (there is no one field to write a GUID to) nor read
// a created record back by it; its creates are settled by their values.
func checkClientKeys(p *mappings.Project, diags *mappings.Diagnostics) {
	for _, m := range p.Mappings {
		for _, s := range []mappings.Side{m.Table, m.Integration} {
			c := p.Connector(s.Connector)
			if c == nil || !c.ClientKeys || !strings.Contains(s.Key, ",") {
				continue
			}
			if p.AlternateKey(s) != nil {
				continue
			}
			diags.Warnf(s.Pos, "mapping %s: key %q of %s is neither a primary key nor a declared alternate key, so client_keys: true on connector %s gives its creates no key; declare it under the connector's entities: { %s: { alternate_key: [%s] } }",
				m.Name, s.Key, s.Entity, c.Name, s.Entity, strings.ReplaceAll(s.Key, ",", ", "))
		}
	}
}
