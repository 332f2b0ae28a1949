package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/couplerhq/coupler/engine/plan"
)

// inputs is the fingerprint of what a plan of passes is computed from and
// what its apply takes from the project again: per pass its definition
// (sides, filters, field flows), match and conflict settings, and the
// settings of the connectors it reads and writes that shape requests and
// writes (type, base URL, client keys and the type's own settings, such as
// entity paths, alternate keys and how lookups are written). Transport
// settings (auth, timeouts, retries, page size, rate limit) are left out:
// they change no operation. It is the plan's Fingerprint.
func (e *Engine) inputs(passes []*Mapping) string {
	h := sha256.New()
	line := func(parts ...any) {
		for _, p := range parts {
			b, err := json.Marshal(p)
			if err != nil {
				b = []byte(err.Error())
			}
			h.Write(b)
			io.WriteString(h, "\x00")
		}
		io.WriteString(h, "\n")
	}
	line("coupler inputs 1")
	var used []string
	for _, m := range passes {
		line(m.Name, m.Direction, m.definition())
		d := m.Def
		var match any
		if d.Match != nil {
			match = []any{m.Match, m.MatchGroups, d.Match.CreateIfNoMatch, d.Match.SyncAfter}
		}
		line(match, d.Conflicts.Update, d.Conflicts.Delete, d.PropagateDeletes)
		for _, c := range []string{m.Source.Connector, m.Dest.Connector} {
			if !slices.Contains(used, c) {
				used = append(used, c)
			}
		}
	}
	slices.Sort(used)
	for _, name := range used {
		line(name, e.connectorInputs(name))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// connectorInputs is what of connector name's settings inputs covers.
func (e *Engine) connectorInputs(name string) any {
	c := e.prog.Project.Connector(name)
	if c == nil {
		return nil
	}
	return []any{c.Type, c.BaseURL, c.ClientKeys, c.Settings}
}

// checkInputs refuses a plan made from other inputs than the project's
// now (see inputs): its operations were computed from mappings or
// connector settings that are no longer there, and apply would execute
// them with today's. The error names what changed where it can tell.
func (e *Engine) checkInputs(p *plan.Plan) error {
	var passes []*Mapping
	var edited []string
	connectors := map[string]bool{}
	for _, mp := range p.Mappings {
		i := slices.IndexFunc(e.prog.Mappings, func(m *Mapping) bool {
			return m.Name == mp.Name && string(m.Direction) == mp.Direction
		})
		if i < 0 {
			return fmt.Errorf("%w: plan %s was made with mapping %s (%s), which the project no longer has; run coupler plan again",
				ErrStalePlan, p.ID, mp.Name, mp.Direction)
		}
		m := e.prog.Mappings[i]
		passes = append(passes, m)
		if mp.Definition != "" && mp.Definition != m.definition() {
			edited = append(edited, m.Name)
		}
		connectors[mp.Source.Connector], connectors[mp.Dest.Connector] = true, true
	}
	if e.inputs(passes) == p.Fingerprint {
		return nil
	}
	var what string
	if len(edited) > 0 {
		slices.Sort(edited)
		what = "mapping " + strings.Join(slices.Compact(edited), ", ") + " was edited (its sides, filters or fields)"
	} else {
		names := make([]string, 0, len(connectors))
		for n := range connectors {
			names = append(names, n)
		}
		slices.Sort(names)
		what = fmt.Sprintf("the settings of connector %s, or the match or conflict settings of its mappings, changed",
			strings.Join(names, " or "))
	}
	return fmt.Errorf("%w: plan %s was made from other project files: %s since; run coupler plan again", ErrStalePlan, p.ID, what)
}
