package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// watch polls the project's files and their directories until ctx is
// done, and reloads the project when any of them changed. Polling the
// modification times is enough for files people edit and deploy, and
// works on every file system, network mounts included.
func (s *Server) watch(ctx context.Context) {
	if s.cfg.WatchInterval < 0 {
		return
	}
	seen := s.fingerprint()
	t := time.NewTicker(s.cfg.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.fingerprint()
		if now == seen {
			continue
		}
		seen = now
		s.reload()
	}
}

// fingerprint sums up the size and modification time of the project's
// files, and of the directories they are in, so that a file added to or
// removed from a mappings directory counts as a change too.
func (s *Server) fingerprint() string {
	s.mu.Lock()
	files := append([]string(nil), s.project.Files...)
	s.mu.Unlock()
	paths := map[string]bool{}
	for _, f := range files {
		paths[f] = true
		paths[filepath.Dir(f)] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, p := range sorted {
		fi, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(&b, "%s:missing\n", p)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d\n", p, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}
