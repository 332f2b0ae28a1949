package fake

import (
	"fmt"
	"slices"
	"strings"

	"github.com/couplerhq/coupler/connectors"
)

// Put inserts or replaces a record the way an outside user would: the
// record becomes exactly rec, its modified field is stamped with the server
// clock (a value in rec is ignored) and its ETag changes. A missing or empty
// key is generated. Lookups may be given as "x@odata.bind" like over HTTP.
// Put returns the record's key.
func (s *Server) Put(set string, rec connectors.Record) (key string, err error) {
	t, err := s.table(set)
	if err != nil {
		return "", err
	}
	w, err := t.goWrite(rec)
	if err != nil {
		return "", fmt.Errorf("fake: put %s: %w", set, err)
	}
	e, err := s.apply(t, kindReplace, w.key, w, "")
	if err != nil {
		return "", fmt.Errorf("fake: put %s: %w", set, err)
	}
	return e.key, nil
}

// Patch edits a record the way an outside user would: fields are merged
// into it, its modified field is stamped and its ETag changes. It returns an
// error wrapping connectors.ErrNotFound when the record does not exist.
func (s *Server) Patch(set, key string, fields connectors.Record) error {
	t, err := s.table(set)
	if err != nil {
		return err
	}
	key = normKey(key)
	w, err := t.goWrite(fields)
	if err != nil {
		return fmt.Errorf("fake: patch %s(%s): %w", set, key, err)
	}
	if w.key != "" && w.key != key {
		return fmt.Errorf("fake: patch %s(%s): the key cannot be changed", set, key)
	}
	if _, err := s.apply(t, kindMerge, key, w, ""); err != nil {
		return fmt.Errorf("fake: patch %s(%s): %w", set, key, err)
	}
	return nil
}

// Delete removes a record. It returns an error wrapping
// connectors.ErrNotFound when the record does not exist.
func (s *Server) Delete(set, key string) error {
	t, err := s.table(set)
	if err != nil {
		return err
	}
	key = normKey(key)
	if _, err := s.apply(t, kindRemove, key, write{}, ""); err != nil {
		return fmt.Errorf("fake: delete %s(%s): %w", set, key, err)
	}
	return nil
}

// Get returns a copy of a record as a client would decode it (numbers as
// json.Number), including its key and its modified field rendered as the
// wire string. It reports false when the set or the record does not exist.
func (s *Server) Get(set, key string) (connectors.Record, bool) {
	t, ok := s.tables[set]
	if !ok {
		return nil, false
	}
	s.mu.RLock()
	e, ok := t.rows[normKey(key)]
	names := t.cols.names
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return t.record(e, names), true
}

// ETag returns the current ETag of a record, as the HTTP API reports it.
func (s *Server) ETag(set, key string) (string, bool) {
	t, ok := s.tables[set]
	if !ok {
		return "", false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := t.rows[normKey(key)]
	if !ok {
		return "", false
	}
	return etag(e.version), true
}

// All returns copies of every record of set, sorted by key.
func (s *Server) All(set string) []connectors.Record {
	t, ok := s.tables[set]
	if !ok {
		return nil
	}
	s.mu.RLock()
	rows := make([]*entry, 0, len(t.rows))
	for _, e := range t.rows {
		rows = append(rows, e)
	}
	names := t.cols.names
	s.mu.RUnlock()
	slices.SortFunc(rows, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
	recs := make([]connectors.Record, len(rows))
	for i, e := range rows {
		recs[i] = t.record(e, names)
	}
	return recs
}

// Len returns the number of records in set; 0 for an unknown set.
func (s *Server) Len(set string) int {
	t, ok := s.tables[set]
	if !ok {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(t.rows)
}

// goWrite converts a Go record into a write.
func (t *table) goWrite(rec connectors.Record) (write, error) {
	ms, err := recordMembers(rec)
	if err != nil {
		return write{}, err
	}
	return t.toWrite(ms)
}

// record decodes e into a fresh Record, without the annotations kept
// beside lookups. names is a snapshot of the column names taken under the
// lock.
func (t *table) record(e *entry, names []string) connectors.Record {
	rec := make(connectors.Record, len(e.ends)+1)
	for i := range e.ends {
		if lit := e.literal(i); lit != "" && !strings.Contains(names[i], "@") {
			// Stored literals are valid JSON by construction.
			v, _ := decodeLiteral(lit)
			rec[names[i]] = v
		}
	}
	if t.modCol >= 0 {
		rec[names[t.modCol]] = t.modifiedString(e)
	}
	return rec
}
