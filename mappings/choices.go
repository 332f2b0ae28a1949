package mappings

import (
	"github.com/couplerhq/coupler/connectors/odata"
)

// checkChoiceSides checks the sides of m that name the options of a
// Dataverse choice column on an odata connector, choices(table.column):
// the form of the name, key: value and no modified field. The odata
// connector decides what the form is (odata.CheckChoiceEntity); this points
// at the line.
func (l *loader) checkChoiceSides(m *Mapping) {
	for _, s := range []Side{m.Table, m.Integration} {
		c := l.project.Connector(s.Connector)
		if c == nil || c.Type != "odata" {
			continue
		}
		_, err := odata.CheckChoiceEntity(s.Entity, s.Key, s.Modified)
		if err == nil {
			continue
		}
		pos := s.EntityPos
		if pos.Line == 0 {
			pos = s.Pos
		}
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, err := range errs {
			l.diags.Errorf(pos, "mapping %s: %v", m.Name, err)
		}
	}
}

// choiceFields returns the fields of the options of a choice column named
// by s (value, label, description), or nil when s names none. A modified
// field given is let through: checkChoiceSides reports it.
func (l *loader) choiceFields(s Side) map[string]bool {
	c := l.project.Connector(s.Connector)
	if c == nil || c.Type != "odata" {
		return nil
	}
	fields, _ := odata.CheckChoiceEntity(s.Entity, s.Key, s.Modified)
	if fields == nil {
		return nil
	}
	set := map[string]bool{s.Modified: true}
	for _, f := range fields {
		set[f] = true
	}
	return set
}
