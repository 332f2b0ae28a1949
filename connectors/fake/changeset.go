package fake

import (
	"maps"
	"net/http"
	"slices"
)

// checkGroups refuses a batch whose atomicity groups are not each one run
// of adjacent requests, as the protocol requires, or that holds a read in
// a group.
func checkGroups(reqs []batchRequest) *statusError {
	closed := map[string]bool{}
	for i, br := range reqs {
		g := br.AtomicityGroup
		if i > 0 && reqs[i-1].AtomicityGroup != g && reqs[i-1].AtomicityGroup != "" {
			closed[reqs[i-1].AtomicityGroup] = true
		}
		if g == "" {
			continue
		}
		if closed[g] {
			return badRequest("the requests of atomicityGroup %q are not adjacent", g)
		}
		if br.Method == "" || br.Method == http.MethodGet {
			return badRequest("request %q: atomicityGroup %q may only hold writes", br.ID, g)
		}
	}
	return nil
}

// groupLen is how many requests from the start of reqs share its group.
func groupLen(reqs []batchRequest) int {
	n := 1
	for n < len(reqs) && reqs[n].AtomicityGroup == reqs[0].AtomicityGroup {
		n++
	}
	return n
}

// runGroup runs the requests of one atomicity group (a change set) all or
// nothing. Groups run one at a time, and the group's tables are restored
// to their state before it if any request fails: a write made meanwhile by
// a request outside any group is then lost too, which tests of the fake
// must not rely on.
//
// A failed group answers like SAP CAP does, which is the trap a client must
// handle: the requests that ran before the failure keep their 2xx answers
// although they were rolled back, the failed one has its error, and the
// ones after it answer 424 Failed Dependency. A client must take every
// answer of a group that holds an error as failed.
func (s *Server) runGroup(outer *http.Request, reqs []batchRequest, failed map[string]bool) ([]batchResponse, bool) {
	group := reqs[0].AtomicityGroup
	s.groupMu.Lock()
	defer s.groupMu.Unlock()

	s.mu.RLock()
	saved := make(map[*table]map[string]*entry, len(s.tables))
	for _, t := range s.tables {
		saved[t] = maps.Clone(t.rows)
	}
	s.mu.RUnlock()

	out := make([]batchResponse, 0, len(reqs))
	bad := ""
	for _, br := range reqs {
		var resp batchResponse
		switch {
		case bad != "":
			resp = batchError(br.ID, errorf(http.StatusFailedDependency, "FailedDependency",
				"request %q not run: request %q of atomicityGroup %q failed, and the group was rolled back", br.ID, bad, group))
		case slices.ContainsFunc(br.DependsOn, func(id string) bool { return failed[id] }):
			resp = batchError(br.ID, errorf(http.StatusFailedDependency, "FailedDependency",
				"request %q depends on a request that failed", br.ID))
		default:
			resp = s.runBatched(outer, br)
		}
		resp.AtomicityGroup = group
		if resp.Status >= 400 && bad == "" {
			bad = br.ID
		}
		out = append(out, resp)
	}
	if bad == "" {
		return out, true
	}
	s.mu.Lock()
	for t, rows := range saved {
		t.rows = rows
		t.indexNumbers()
		t.gen++ // sorted views of the rolled-back rows are stale
	}
	s.mu.Unlock()
	for _, br := range reqs {
		failed[br.ID] = true
	}
	return out, false
}
