package fake

import (
	"maps"
	"slices"
)

// Clone returns a server holding what s holds now: its records with their
// keys, ETags and stamps, the ETag version and number series to go on
// from, its change log (a delta link of s is one of the clone's), clock,
// settings and namespace; pending throttling carries over, counters start
// at zero. From then on the two are independent. It lets a test build a
// world once and start many runs from it: the crash tests kill a run at
// every request, each from the same snapshot.
func (s *Server) Clone() *Server {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := &Server{
		tables:           make(map[string]*table, len(s.tables)),
		typeOf:           s.typeOf,
		now:              s.now,
		version:          s.version,
		refusedFunctions: s.refusedFunctions,
		company:          s.company,
		oneFieldOr:       s.oneFieldOr,
		batchParts:       s.batchParts,
	}
	for name, t := range s.tables {
		c.tables[name] = t.clone()
	}
	c.changes.epoch = s.changes.epoch
	if s.changes.tracked != nil {
		c.changes.tracked = maps.Clone(s.changes.tracked)
		c.changes.removed = make(map[string]map[string]uint64, len(s.changes.removed))
		for set, keys := range s.changes.removed {
			c.changes.removed[set] = maps.Clone(keys)
		}
	}
	if s.options != nil {
		s.options.mu.Lock()
		c.options = &optionSets{columns: s.options.columns, desc: make(map[choiceColumn]map[int]string, len(s.options.desc))}
		for col, d := range s.options.desc {
			c.options.desc[col] = maps.Clone(d)
		}
		s.options.mu.Unlock()
	}
	c.ctl.reset()
	s.ctl.mu.Lock()
	c.ctl.throttle, c.ctl.retryAfter = s.ctl.throttle, s.ctl.retryAfter
	s.ctl.mu.Unlock()
	c.batchFormats.Store(s.batchFormats.Load())
	c.relativeLinks.Store(s.relativeLinks.Load())
	if ns, ok := s.namespace(); ok {
		c.SetNamespace(ns)
	}
	return c
}

// clone copies t's rows, which are immutable entries, and its columns.
// Call with the server's lock held.
func (t *table) clone() *table {
	c := &table{
		def:    t.def,
		keyCol: t.keyCol,
		modCol: t.modCol,
		layout: t.layout,
		cols: columns{
			names:  slices.Clone(t.cols.names),
			labels: slices.Clone(t.cols.labels),
			index:  maps.Clone(t.cols.index),
		},
		rows:   maps.Clone(t.rows),
		gen:    t.gen,
		lastNo: t.lastNo,
		typeOf: t.typeOf,
	}
	c.indexNumbers()
	return c
}
