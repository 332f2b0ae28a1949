package mappings

import (
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

// checkChanges checks the sides of m that ask for change tracking. Their
// connector's type says whether it can track changes at all
// (connectors.SideChecker); what is left here holds for every type: both
// sides of a bidirectional mapping may not track changes unless it
// propagates deletes. A record deleted on one side is met by the other
// pass's conflicts.delete, which reads the coupled record on the other
// side, and a pass reading through change tracking reads only what
// changed there, so the deletion would go unanswered until a full plan.
func (l *loader) checkChanges(m *Mapping) {
	if m.Direction == Bidirectional && m.Table.Tracks() && m.Integration.Tracks() && !m.PropagateDeletes {
		l.diags.Errorf(m.Integration.ChangesPos, "mapping %s: changes: track on both sides of a bidirectional mapping leaves deletions to plan --full (conflicts.delete needs the other side read in full or by modified); track one side, or set propagate_deletes: true", m.Name)
	}
}
