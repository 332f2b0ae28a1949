package mappings

import "slices"

// Dependencies returns the mappings m must run after: those it names in
// depends_on and those its lookups translate through.
func (m *Mapping) Dependencies() []string {
	deps := slices.Clone(m.DependsOn)
	for _, f := range m.Fields {
		if f.Enabled && f.Lookup != "" && f.Lookup != m.Name {
			deps = append(deps, f.Lookup)
		}
	}
	slices.Sort(deps)
	return slices.Compact(deps)
}

// Ordered returns the mappings in dependency order: every mapping after the
// mappings it depends on, otherwise in the order they were loaded. Mappings
// caught in a cycle (see Cycles) come last, in load order.
func (p *Project) Ordered() []*Mapping {
	done := map[string]bool{}
	var out []*Mapping
	for progress := true; progress; {
		progress = false
		for _, m := range p.Mappings {
			if done[m.Name] {
				continue
			}
			ready := true
			for _, d := range m.Dependencies() {
				if !done[d] && p.Mapping(d) != nil {
					ready = false
					break
				}
			}
			if ready {
				done[m.Name] = true
				out = append(out, m)
				progress = true
			}
		}
	}
	for _, m := range p.Mappings {
		if !done[m.Name] {
			out = append(out, m)
		}
	}
	return out
}

// Cycles returns each dependency cycle once, as the names of the mappings in
// it in the order they depend on each other, starting from the one loaded
// first.
func (p *Project) Cycles() [][]string {
	const (
		unvisited = iota
		onStack
		finished
	)
	state := map[string]int{}
	var stack []string
	var cycles [][]string
	var visit func(name string)
	visit = func(name string) {
		state[name] = onStack
		stack = append(stack, name)
		m := p.Mapping(name)
		for _, d := range m.Dependencies() {
			if p.Mapping(d) == nil {
				continue
			}
			switch state[d] {
			case unvisited:
				visit(d)
			case onStack:
				i := slices.Index(stack, d)
				cycles = append(cycles, slices.Clone(stack[i:]))
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = finished
	}
	for _, m := range p.Mappings {
		if state[m.Name] == unvisited {
			visit(m.Name)
		}
	}
	return cycles
}
