package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/couplerhq/coupler/connectors/config"
)

// Couple couples table record tableID to integration record integrationID
// in mapping, as the product's "Couple" does, and returns the two ids as
// stored. Ids are normalised as everywhere else in the engine (GUIDs lower
// case), so that an id typed in another case names the record the servers
// return and the next plan finds the coupling.
func (e *Engine) Couple(ctx context.Context, mapping, tableID, integrationID string) (table, integration string, err error) {
	if err := e.CheckMapping(mapping); err != nil {
		return "", "", err
	}
	table, integration = normalizeID(tableID), normalizeID(integrationID)
	if err := e.store.CoupleOne(ctx, mapping, table, integration); err != nil {
		return "", "", err
	}
	return table, integration, nil
}

// Uncouple removes the couplings of the records named by ids (on either
// side, normalised as Couple does), or with all every coupling of mapping.
// It returns how many it removed.
func (e *Engine) Uncouple(ctx context.Context, mapping string, ids []string, all bool) (int64, error) {
	if err := e.CheckMapping(mapping); err != nil {
		return 0, err
	}
	norm := make([]string, len(ids))
	for i, id := range ids {
		norm[i] = normalizeID(id)
	}
	return e.store.Uncouple(ctx, mapping, norm, all)
}

// CheckMapping refuses a name that is no mapping of the project, so that a
// typo is an error rather than a silent no-op.
func (e *Engine) CheckMapping(name string) error { return e.prog.CheckMapping(name) }

// CheckMapping refuses a name that is no mapping of the project, proposing
// the closest one.
func (p *Program) CheckMapping(name string) error {
	if p.Project.Mapping(name) == nil {
		return p.unknownMapping(name)
	}
	return nil
}

// unknownMapping is the error for a mapping name the project does not
// declare, proposing the closest one: --mapping CUSTOMERS is most likely
// CUSTOMER.
func (p *Program) unknownMapping(name string) error {
	names := make(map[string]bool, len(p.Project.Mappings))
	for _, m := range p.Project.Mappings {
		// Names are case-sensitive, but a name typed in another case
		// is the one to propose, however far the edit distance says.
		if strings.EqualFold(m.Name, name) {
			return fmt.Errorf("no mapping named %q in the project (did you mean %q?)", name, m.Name)
		}
		names[m.Name] = true
	}
	return fmt.Errorf("no mapping named %q in the project%s", name, config.Suggest(name, names))
}
