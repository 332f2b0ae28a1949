// Package conformance is the test suite every coupler connector must pass,
// whatever protocol it speaks and whoever wrote the server behind it. A
// connector's tests call Run with a Target that says how to build the
// connector and what a record of the test entity looks like; the suite
// then checks, through the connectors.Connector interface only:
//
//   - create: new records come back with their keys;
//   - read: every record arrives across several pages, none twice;
//   - get: records by key, a missing key simply absent;
//   - since: an incremental read returns exactly the records modified after
//     the time asked for (equal stamps may go either way);
//   - update and delete, and a 404 reported as connectors.ErrNotFound;
//   - stale: an update with an outdated ETag fails with connectors.ErrStale
//     (skipped, with the target's reason, where the server has no ETags);
//   - throttle: a 429 with Retry-After is waited out and the read succeeds;
//   - malformed: a truncated, non-JSON or wrongly shaped body fails the
//     read with an error, never a panic or a silent empty result;
//   - write_many: one Write of creates, updates and a delete of a missing
//     record gives one result per op, in op order, each about its own op;
//   - post_not_retried_after_500: a create answered 500 is not sent again
//     (the record may exist; a repeat could duplicate it);
//   - paging_cycle: a read whose third page leads back to the second fails
//     (skipped where the target says its paging cannot tell);
//   - foreign_next_link: a next link to another origin fails the read and
//     that origin gets no request (skipped when the server names its next
//     page without an absolute URL, e.g. by a cursor).
//
// The suite puts a proxy of its own between connector and server to inject
// the 429s and the malformed bodies, so that it can run against real
// third-party servers as well as against the fakes.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// Target is one connector against one server.
type Target struct {
	// BaseURL is the server's base URL, as a project file would give it.
	BaseURL string
	// New builds the connector under test for baseURL, which points at the
	// suite's proxy with BaseURL's path. It should keep retries on
	// (max_retries at least 1) and may set a page size.
	New func(baseURL string) (connectors.Connector, error)
	// Entity is the entity the suite writes to: name, key and modified
	// field. The suite only touches the records it creates.
	Entity connectors.Entity
	// PageSize is how many records a page holds at most when reading this
	// target (the connector's page_size or the server's own limit). The
	// suite creates 2*PageSize+1 records, so keep it small.
	PageSize int
	// Record returns the fields of new record i. Text fields should differ
	// per i; a target whose server does not stamp the modified field itself
	// sets it here.
	Record func(i int) connectors.Record
	// Field is a text field the suite changes in updates.
	Field string
	// Touch, when set, returns fields every update also sends, e.g. a
	// modified stamp the server does not set itself.
	Touch func() connectors.Record
	// MissingKey is a well-formed key of no record, e.g. a fresh GUID.
	MissingKey string
	// NoETags, when not empty, says why the server cannot fail an update on
	// a stale ETag; the stale test is then skipped with this reason.
	NoETags string
	// NoCycleCheck, when not empty, says why the connector cannot tell a
	// paging cycle (the third page leading back to the second); the
	// paging_cycle test is then skipped with this reason. Page and offset
	// paging cannot: their requests name no page the server chose.
	NoCycleCheck string
}

// Run runs the suite against target. Subtests depend on the records the
// first one creates, so they run in order and stop at the first failure of
// create or read.
func Run(t *testing.T, target Target) {
	t.Helper()
	base, err := url.Parse(target.BaseURL)
	if err != nil {
		t.Fatalf("target base url: %v", err)
	}
	if target.PageSize < 1 || target.Record == nil || target.New == nil || target.Field == "" ||
		target.Entity.Name == "" || target.Entity.Key == "" || target.MissingKey == "" {
		t.Fatal("target needs New, Entity with name and key, PageSize, Record, Field and MissingKey")
	}
	proxy := newFaultProxy(base)
	t.Cleanup(proxy.Close)
	conn, err := target.New(proxy.URL(base))
	if err != nil {
		t.Fatalf("build connector: %v", err)
	}
	s := &suite{t: target, c: conn, proxy: proxy, tag: fmt.Sprintf("cf%d", time.Now().UnixNano()%1e9)}
	ctx := t.Context()

	for _, step := range []struct {
		name  string
		fatal bool
		fn    func(context.Context, *testing.T)
	}{
		{"create", true, s.create},
		{"read_pages", true, s.readPages},
		{"get", false, s.get},
		{"since", false, s.since},
		{"update", false, s.update},
		{"stale_etag", false, s.stale},
		{"delete_and_404", false, s.delete},
		{"write_many", false, s.writeMany},
		{"post_not_retried_after_500", false, s.postNotRetried},
		{"throttle_429", false, s.throttle},
		{"malformed", false, s.malformed},
		{"paging_cycle", false, s.pagingCycle},
		{"foreign_next_link", false, s.foreignNextLink},
	} {
		if !t.Run(step.name, func(t *testing.T) { step.fn(ctx, t) }) && step.fatal {
			t.Fatalf("%s failed; the later steps need it", step.name)
		}
	}
}

type suite struct {
	t     Target
	c     connectors.Connector
	proxy *faultProxy
	tag   string
	keys  []string // of the records created, in order
}

func (s *suite) n() int { return 2*s.t.PageSize + 1 }

func (s *suite) create(ctx context.Context, t *testing.T) {
	ops := make([]connectors.WriteOp, s.n())
	for i := range ops {
		f := s.t.Record(i)
		f[s.t.Field] = fmt.Sprintf("%s %s %d", s.tag, f[s.t.Field], i)
		ops[i] = connectors.WriteOp{Op: connectors.OpCreate, Fields: f}
	}
	// One op at a time keeps the server's modified stamps in creation order.
	for i, op := range ops {
		res := s.write(ctx, t, op)
		if res.Err != nil {
			t.Fatalf("create %d: %v", i, res.Err)
		}
		if res.Key == "" {
			t.Fatalf("create %d: no key in the result", i)
		}
		if slices.Contains(s.keys, res.Key) {
			t.Fatalf("create %d: key %q handed out twice", i, res.Key)
		}
		s.keys = append(s.keys, res.Key)
	}
}

func (s *suite) write(ctx context.Context, t *testing.T, op connectors.WriteOp) connectors.WriteResult {
	t.Helper()
	res, err := s.c.Write(ctx, s.t.Entity, []connectors.WriteOp{op})
	if err != nil {
		t.Fatalf("%s: %v", op.Op, err)
	}
	if len(res) != 1 {
		t.Fatalf("%s: %d results for 1 op", op.Op, len(res))
	}
	return res[0]
}

// readMine reads q and returns the records the suite created, by key, and
// the number of pages.
func (s *suite) readMine(ctx context.Context, t *testing.T, q connectors.Query) (map[string]connectors.Record, int) {
	t.Helper()
	mine := map[string]bool{}
	for _, k := range s.keys {
		mine[k] = true
	}
	got := map[string]connectors.Record{}
	pages := 0
	err := s.c.Read(ctx, q, func(p connectors.Page) error {
		pages++
		for _, r := range p.Records {
			k := keyOf(r, s.t.Entity.Key)
			if !mine[k] {
				continue
			}
			if _, dup := got[k]; dup {
				return fmt.Errorf("record %s read twice", k)
			}
			got[k] = r
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return got, pages
}

func (s *suite) readPages(ctx context.Context, t *testing.T) {
	got, pages := s.readMine(ctx, t, connectors.Query{Entity: s.t.Entity})
	if len(got) != len(s.keys) {
		t.Fatalf("read %d of the %d records created", len(got), len(s.keys))
	}
	if pages < 3 {
		t.Errorf("%d records came in %d pages; with pages of %d there must be at least 3", len(s.keys), pages, s.t.PageSize)
	}
	for i, k := range s.keys {
		if !strings.HasPrefix(fmt.Sprint(got[k][s.t.Field]), s.tag) {
			t.Errorf("record %d (%s): %s = %v, want what was written", i, k, s.t.Field, got[k][s.t.Field])
		}
	}
}

func (s *suite) get(ctx context.Context, t *testing.T) {
	want := []string{s.keys[0], s.keys[len(s.keys)-1]}
	recs, err := s.c.Get(ctx, s.t.Entity, nil, []string{want[0], s.t.MissingKey, want[1], want[0]})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, keyOf(r, s.t.Entity.Key))
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("get returned keys %v, want %v (the missing key absent, the repeated one once)", got, want)
	}
	if recs, err := s.c.Get(ctx, s.t.Entity, nil, []string{s.t.MissingKey}); err != nil || len(recs) != 0 {
		t.Fatalf("get of a missing key = %d records, %v; want none and no error", len(recs), err)
	}
}

func (s *suite) since(ctx context.Context, t *testing.T) {
	if s.t.Entity.Modified == "" {
		t.Skip("the target entity has no modified field")
	}
	all, _ := s.readMine(ctx, t, connectors.Query{Entity: s.t.Entity})
	stamps := map[string]time.Time{}
	var times []time.Time
	for k, r := range all {
		ts, err := parseStamp(r[s.t.Entity.Modified])
		if err != nil {
			t.Fatalf("record %s: %s: %v", k, s.t.Entity.Modified, err)
		}
		stamps[k] = ts
		times = append(times, ts)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	since := times[len(times)/2]
	before, after := 0, 0
	for _, ts := range times {
		if ts.Before(since) {
			before++
		} else if ts.After(since) {
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("the server stamped the %d records with too few distinct times (%v .. %v) to test an incremental read", len(times), times[0], times[len(times)-1])
	}
	got, _ := s.readMine(ctx, t, connectors.Query{Entity: s.t.Entity, Since: since})
	for k, ts := range stamps {
		_, in := got[k]
		switch {
		case ts.After(since) && !in:
			t.Errorf("record %s modified %v after %v is missing from the incremental read", k, ts, since)
		case ts.Before(since) && in:
			t.Errorf("record %s modified %v before %v is in the incremental read", k, ts, since)
		}
	}
}

func (s *suite) touch(f connectors.Record) connectors.Record {
	if s.t.Touch != nil {
		for k, v := range s.t.Touch() {
			f[k] = v
		}
	}
	return f
}

func (s *suite) current(ctx context.Context, t *testing.T, key string) connectors.Record {
	t.Helper()
	recs, err := s.c.Get(ctx, s.t.Entity, nil, []string{key})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(recs) != 1 {
		t.Fatalf("get %s: %d records, want 1", key, len(recs))
	}
	return recs[0]
}

func (s *suite) update(ctx context.Context, t *testing.T) {
	key := s.keys[0]
	rec := s.current(ctx, t, key)
	etag, _ := rec[connectors.ETagField].(string)
	value := s.tag + " updated"
	res := s.write(ctx, t, connectors.WriteOp{Op: connectors.OpUpdate, Key: key, ETag: etag,
		Fields: s.touch(connectors.Record{s.t.Field: value})})
	if res.Err != nil {
		t.Fatalf("update with the current ETag %q: %v", etag, res.Err)
	}
	if got := s.current(ctx, t, key)[s.t.Field]; got != value {
		t.Fatalf("after the update %s = %v, want %q", s.t.Field, got, value)
	}
	res = s.write(ctx, t, connectors.WriteOp{Op: connectors.OpUpdate, Key: s.t.MissingKey,
		Fields: s.touch(connectors.Record{s.t.Field: value})})
	if !errors.Is(res.Err, connectors.ErrNotFound) {
		t.Fatalf("update of a missing record: %v, want ErrNotFound", res.Err)
	}
}

func (s *suite) stale(ctx context.Context, t *testing.T) {
	if s.t.NoETags != "" {
		t.Skip(s.t.NoETags)
	}
	key := s.keys[1]
	old, _ := s.current(ctx, t, key)[connectors.ETagField].(string)
	if old == "" {
		t.Fatalf("record %s has no ETag (%s), though the target says the server gives them", key, connectors.ETagField)
	}
	res := s.write(ctx, t, connectors.WriteOp{Op: connectors.OpUpdate, Key: key, ETag: old,
		Fields: s.touch(connectors.Record{s.t.Field: s.tag + " first"})})
	if res.Err != nil {
		t.Fatalf("first update: %v", res.Err)
	}
	res = s.write(ctx, t, connectors.WriteOp{Op: connectors.OpUpdate, Key: key, ETag: old,
		Fields: s.touch(connectors.Record{s.t.Field: s.tag + " second"})})
	if !errors.Is(res.Err, connectors.ErrStale) {
		t.Fatalf("update with the stale ETag %q: %v, want ErrStale", old, res.Err)
	}
	if got := s.current(ctx, t, key)[s.t.Field]; got != s.tag+" first" {
		t.Fatalf("the stale update changed the record: %s = %v", s.t.Field, got)
	}
	res = s.write(ctx, t, connectors.WriteOp{Op: connectors.OpDelete, Key: key, ETag: old})
	if !errors.Is(res.Err, connectors.ErrStale) {
		t.Fatalf("delete with the stale ETag %q: %v, want ErrStale", old, res.Err)
	}
}

func (s *suite) delete(ctx context.Context, t *testing.T) {
	key := s.keys[2]
	etag, _ := s.current(ctx, t, key)[connectors.ETagField].(string)
	if res := s.write(ctx, t, connectors.WriteOp{Op: connectors.OpDelete, Key: key, ETag: etag}); res.Err != nil {
		t.Fatalf("delete: %v", res.Err)
	}
	if recs, err := s.c.Get(ctx, s.t.Entity, nil, []string{key}); err != nil || len(recs) != 0 {
		t.Fatalf("get after delete = %d records, %v; want none", len(recs), err)
	}
	res := s.write(ctx, t, connectors.WriteOp{Op: connectors.OpDelete, Key: key})
	if !errors.Is(res.Err, connectors.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", res.Err)
	}
	s.keys = slices.Delete(s.keys, 2, 3)
}

func (s *suite) throttle(ctx context.Context, t *testing.T) {
	const wait = 1 // second; the default backoff starts at 200 ms
	reqs0, thr0 := s.proxy.Counts()
	s.proxy.Throttle(1, wait)
	start := time.Now()
	got, _ := s.readMine(ctx, t, connectors.Query{Entity: s.t.Entity})
	elapsed := time.Since(start)
	reqs, thr := s.proxy.Counts()
	if thr-thr0 != 1 {
		t.Fatalf("the proxy served %d 429s, want 1", thr-thr0)
	}
	if len(got) != len(s.keys) {
		t.Fatalf("after a 429 the read returned %d of %d records", len(got), len(s.keys))
	}
	if reqs-reqs0 < 2 {
		t.Fatalf("%d requests: the throttled one was not repeated", reqs-reqs0)
	}
	// A lower bound, never flaky: the connector must have waited at least
	// what Retry-After asked before repeating.
	if elapsed < wait*time.Second {
		t.Fatalf("read finished %v after a 429 with Retry-After: %d; it did not wait", elapsed, wait)
	}
}

func (s *suite) malformed(ctx context.Context, t *testing.T) {
	bodies := []struct{ name, body string }{
		{"truncated", `{"value":[{"id":"1","name":"a"},{"id":`},
		{"html", "<html><body>502 Bad Gateway</body></html>"},
		{"empty", ""},
		{"trailing_garbage", `{"value":[],"data":[]} {}`},
		{"wrong_shape", `{"value":"not an array","data":"not an array","items":7}`},
		{"records_not_objects", `{"value":[1,2,3],"data":[1,2,3]}`},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			s.proxy.Corrupt([]byte(b.body))
			pages := 0
			err := s.c.Read(ctx, connectors.Query{Entity: s.t.Entity}, func(connectors.Page) error { pages++; return nil })
			if err == nil {
				t.Fatalf("read of a %s body succeeded with %d pages", b.name, pages)
			}
			if pages != 0 {
				t.Errorf("read handed over %d pages of a malformed body", pages)
			}
			msg := err.Error()
			if !strings.Contains(msg, s.t.Entity.Name) {
				t.Errorf("error %q does not name the entity", msg)
			}
			if strings.HasPrefix(b.name, "truncated") || b.name == "html" || b.name == "trailing_garbage" {
				if !strings.Contains(msg, "byte") {
					t.Errorf("error %q gives no byte offset", msg)
				}
			}
		})
	}
	s.proxy.Corrupt(nil)
}

// writeMany sends creates, updates and a delete of a missing record in one
// Write, and checks that each result belongs to its op: the created
// records hold what their own op sent, updates come back under their keys,
// and only the missing record's delete fails, with ErrNotFound.
func (s *suite) writeMany(ctx context.Context, t *testing.T) {
	upd := []string{s.keys[3], s.keys[4]}
	var ops []connectors.WriteOp
	for i := range 2 {
		f := s.t.Record(s.n() + i)
		f[s.t.Field] = fmt.Sprintf("%s many create %d", s.tag, i)
		ops = append(ops, connectors.WriteOp{Op: connectors.OpCreate, Fields: f})
	}
	for i, k := range upd {
		etag, _ := s.current(ctx, t, k)[connectors.ETagField].(string)
		ops = append(ops, connectors.WriteOp{Op: connectors.OpUpdate, Key: k, ETag: etag,
			Fields: s.touch(connectors.Record{s.t.Field: fmt.Sprintf("%s many update %d", s.tag, i)})})
	}
	ops = append(ops, connectors.WriteOp{Op: connectors.OpDelete, Key: s.t.MissingKey})
	// Interleave, so that a connector that groups ops by kind must still
	// put each result back in its op's place.
	ops = []connectors.WriteOp{ops[2], ops[0], ops[4], ops[3], ops[1]}
	res, err := s.c.Write(ctx, s.t.Entity, ops)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if len(res) != len(ops) {
		t.Fatalf("%d results for %d ops", len(res), len(ops))
	}
	for i, op := range ops {
		r := res[i]
		switch {
		case op.Key == s.t.MissingKey:
			if !errors.Is(r.Err, connectors.ErrNotFound) {
				t.Errorf("result %d (delete of a missing record): %v, want ErrNotFound", i, r.Err)
			}
			continue
		case r.Err != nil:
			t.Errorf("result %d (%s %s): %v", i, op.Op, op.Key, r.Err)
			continue
		case op.Op == connectors.OpUpdate && r.Key != op.Key:
			t.Errorf("result %d is for %q, want the update of %q", i, r.Key, op.Key)
			continue
		case op.Op == connectors.OpCreate:
			if r.Key == "" || slices.Contains(s.keys, r.Key) {
				t.Errorf("result %d (create): key %q, want a new one", i, r.Key)
				continue
			}
			s.keys = append(s.keys, r.Key)
		}
		if got := s.current(ctx, t, r.Key)[s.t.Field]; got != op.Fields[s.t.Field] {
			t.Errorf("result %d names %s, which holds %s = %v; its op wrote %v", i, r.Key, s.t.Field, got, op.Fields[s.t.Field])
		}
	}
}

// postNotRetried answers a create with 500 and checks the connector
// reports it without sending the POST again: a 500 may come after the
// record was written, and a repeat would create it twice.
func (s *suite) postNotRetried(ctx context.Context, t *testing.T) {
	before := s.proxy.Posts()
	s.proxy.FailPosts(1)
	defer s.proxy.FailPosts(0)
	f := s.t.Record(s.n() + 2)
	f[s.t.Field] = s.tag + " after 500"
	res, err := s.c.Write(ctx, s.t.Entity, []connectors.WriteOp{{Op: connectors.OpCreate, Fields: f}})
	if err == nil && (len(res) != 1 || res[0].Err == nil) {
		t.Errorf("a create answered 500 succeeded: %+v", res)
	}
	if n := s.proxy.Posts() - before; n != 1 {
		t.Errorf("%d POSTs for one create answered 500, want 1 (never retried)", n)
	}
}

// pagingCycle makes the third page of a read answer what the first did, so
// that its next page reference leads back to the second page.
func (s *suite) pagingCycle(ctx context.Context, t *testing.T) {
	if s.t.NoCycleCheck != "" {
		t.Skip(s.t.NoCycleCheck)
	}
	s.proxy.ReplayFirstPage(3)
	err := s.c.Read(ctx, connectors.Query{Entity: s.t.Entity}, func(connectors.Page) error { return nil })
	if !s.proxy.EndPageFault() {
		t.Fatalf("the read asked for fewer than 3 pages (err %v)", err)
	}
	if err == nil {
		t.Fatal("a read whose third page leads back to the second succeeded")
	}
}

// foreignNextLink puts another origin in the first page's next link and
// checks the read fails without sending that origin a request.
func (s *suite) foreignNextLink(ctx context.Context, t *testing.T) {
	var hits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer foreign.Close()
	s.proxy.ForeignNextLinks(foreign.URL)
	err := s.c.Read(ctx, connectors.Query{Entity: s.t.Entity}, func(connectors.Page) error { return nil })
	if !s.proxy.EndPageFault() {
		t.Skipf("the first page names its next page by no absolute URL (a cursor or a relative link): nothing to redirect (err %v)", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the foreign origin got %d requests", hits.Load())
	}
	if err == nil {
		t.Error("a read whose next link leaves the service's origin succeeded")
	}
}

func keyOf(r connectors.Record, key string) string {
	switch v := r[key].(type) {
	case string:
		return v
	case fmt.Stringer:
		return v.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// parseStamp reads a modified value as a connector must hand it to the
// engine: RFC 3339 text, whatever the server's own form (a REST API's Unix
// time or custom layout is the connector's to convert), so that the engine
// keeps watermarks in one format.
func parseStamp(v any) (time.Time, error) {
	if x, ok := v.(string); ok {
		return time.Parse(time.RFC3339Nano, x)
	}
	return time.Time{}, fmt.Errorf("modified value %v (%T) is not RFC 3339 text", v, v)
}
