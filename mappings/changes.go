package mappings

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// How a mapping side's incremental reads find what changed (Side.Changes).
const (
	// ChangesModified reads the records whose modified field is after the
	// watermark: the default. Deleted records are found only by a full
	// read (propagate_deletes).
	ChangesModified = "modified"
	// ChangesTrack reads through the service's change tracking (OData
	// Prefer: odata.track-changes and delta links, as Dataverse offers for
	// tables with change tracking enabled): only what was created,
	// changed or deleted since the last run, deletions included.
	ChangesTrack = "track"
)

// Tracks reports whether the side is read through change tracking.
func (s Side) Tracks() bool { return s.Changes == ChangesTrack }

func decodeChanges(d *decoder, v *yaml.Node, what string) (string, Pos) {
	s, ok := d.NonEmpty(v, what)
	if !ok {
		return "", d.Pos(v)
	}
	if s != ChangesModified && s != ChangesTrack {
		d.Errorf(v, "%s must be %s or %s, not %q", what, ChangesModified, ChangesTrack, s)
		return "", d.Pos(v)
	}
	return s, d.Pos(v)
}

// checkChanges checks a side that asks for change tracking against its
// connector: only OData services track changes, and a deleted record is
// named by its primary key, so the side must not be keyed by an alternate
// key. Both sides of a bidirectional mapping may not track changes unless
// it propagates deletes: a record deleted on one side is met by the other
// pass's conflicts.delete, which reads the coupled record on the other
// side, and a pass reading through change tracking reads only what
// changed there, so the deletion would go unanswered until a full plan.
func (l *loader) checkChanges(m *Mapping) {
	if m.Direction == Bidirectional && m.Table.Tracks() && m.Integration.Tracks() && !m.PropagateDeletes {
		l.diags.Errorf(m.Integration.ChangesPos, "mapping %s: changes: track on both sides of a bidirectional mapping leaves deletions to plan --full (conflicts.delete needs the other side read in full or by modified); track one side, or set propagate_deletes: true", m.Name)
	}
	for _, side := range []struct {
		name string
		s    *Side
	}{{"table", &m.Table}, {"integration", &m.Integration}} {
		s := side.s
		if !s.Tracks() {
			continue
		}
		c := l.project.Connector(s.Connector)
		if c == nil {
			continue // reported as an unknown connector
		}
		if c.Type != "odata" {
			l.diags.Errorf(s.ChangesPos, "mapping %s: %s: changes: track needs an odata connector (OData change tracking), and %s is %s", m.Name, side.name, c.Name, c.Type)
			continue
		}
		if e := c.Entities[s.Entity]; e != nil && len(e.AlternateKey) > 0 && s.Key == strings.Join(e.AlternateKey, ",") {
			l.diags.Errorf(s.ChangesPos, "mapping %s: %s: changes: track needs the side keyed by the primary key: change tracking names deleted records by it, not by the alternate key %s", m.Name, side.name, s.Key)
		}
	}
}
