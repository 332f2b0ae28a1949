package report

import (
	"fmt"

	"github.com/couplerhq/coupler/engine/plan"
)

// changesLine says what a mapping read through change tracking read, or ""
// for another read.
func changesLine(m *plan.MappingPlan) string {
	switch m.ChangeTracking {
	case plan.ChangesDelta:
		s := fmt.Sprintf("read %d records of %s changed since the last run, and %d deleted (change tracking)", m.Read, m.Source.Entity, m.Removed)
		if m.NotModified > 0 {
			s += fmt.Sprintf("; %d coupled records not changed", m.NotModified)
		}
		return s
	case plan.ChangesStart:
		return fmt.Sprintf("read all %d records of %s (change tracking starts)", m.Read, m.Source.Entity)
	case plan.ChangesRestart:
		return fmt.Sprintf("read all %d records of %s (change tracking restarts: the last run's point had expired)", m.Read, m.Source.Entity)
	}
	return ""
}
