package odata

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

// TestFakeChangeSets writes two batches of three with atomicity: batch. The
// first holds a stale update, so none of its writes may take effect and
// each is reported failed; the second is written whole.
func TestFakeChangeSets(t *testing.T) {
	s := fake.NewCRM()
	keys := putAccounts(t, s, "a", "b", "c", "d")
	c := fakeClientCfg(t, s, func(cfg *connectors.Config) {
		settingsIn(cfg).BatchSize = 3
		settingsIn(cfg).Atomicity = AtomicityBatch
		cfg.MaxConcurrency = 1
	})
	etag := func(k string) string { e, _ := s.ETag("accounts", k); return e }
	stale := etag(keys[1])
	if err := s.Patch("accounts", keys[1], connectors.Record{"name": "b edited"}); err != nil {
		t.Fatal(err)
	}
	s.ResetStats()
	ops := []connectors.WriteOp{
		// change set 1: the stale update fails it
		{Op: connectors.OpUpdate, Key: keys[0], ETag: etag(keys[0]), Fields: connectors.Record{"name": "a2"}},
		{Op: connectors.OpUpdate, Key: keys[1], ETag: stale, Fields: connectors.Record{"name": "b2"}},
		{Op: connectors.OpCreate, Fields: connectors.Record{"name": "new in 1"}},
		// change set 2: all succeed
		{Op: connectors.OpUpdate, Key: keys[2], ETag: etag(keys[2]), Fields: connectors.Record{"name": "c2"}},
		{Op: connectors.OpDelete, Key: keys[3], ETag: etag(keys[3])},
		{Op: connectors.OpCreate, Fields: connectors.Record{"name": "new in 2"}},
	}
	res, err := c.Write(t.Context(), crmAccounts, ops)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[1].Err, connectors.ErrStale) || errors.Is(res[1].Err, ErrRolledBack) {
		t.Errorf("the failed write: %v, want ErrStale", res[1].Err)
	}
	for _, i := range []int{0, 2} {
		if !errors.Is(res[i].Err, ErrRolledBack) || !strings.Contains(res[i].Err.Error(), "record "+keys[1]+" failed") {
			t.Errorf("op %d: %v, want ErrRolledBack naming %s", i, res[i].Err, keys[1])
		}
	}
	for _, i := range []int{3, 4, 5} {
		if res[i].Err != nil {
			t.Errorf("op %d of the good change set: %v", i, res[i].Err)
		}
	}
	if got, _ := s.Get("accounts", keys[0]); got["name"] != "a" {
		t.Errorf("a rolled-back update took effect: %v", got)
	}
	if got, _ := s.Get("accounts", keys[1]); got["name"] != "b edited" {
		t.Errorf("the stale update took effect: %v", got)
	}
	if got, _ := s.Get("accounts", keys[2]); got["name"] != "c2" {
		t.Errorf("update of the good change set: %v", got)
	}
	if n := s.Len("accounts"); n != 4 { // 4 - 1 deleted + 1 created; the rolled-back create is gone
		t.Errorf("accounts = %d, want 4", n)
	}
	if st := s.Stats(); st.Requests != 2 {
		t.Errorf("requests = %d, want 2 $batch requests", st.Requests)
	}
}

// TestChangeSetAnswers covers the shapes in which services report a failed
// change set: CAP's 2xx answers for rolled-back requests, one answer for
// the whole group, and a missing answer.
func TestChangeSetAnswers(t *testing.T) {
	ops := []connectors.WriteOp{
		{Op: connectors.OpUpdate, Key: "k1", Fields: connectors.Record{"name": "a"}},
		{Op: connectors.OpDelete, Key: "k2"},
	}
	ok := func(id string) map[string]any {
		return map[string]any{"id": id, "status": 200, "atomicityGroup": changeSetID, "body": map[string]any{"accountid": id}}
	}
	tests := []struct {
		name    string
		answers func(ids []string) []map[string]any
		want    []string // per op, "" for success
	}{
		{"all succeed", func(ids []string) []map[string]any {
			return []map[string]any{ok(ids[0]), {"id": ids[1], "status": 204}}
		}, []string{"", ""}},
		{"2xx before a failure is rolled back (CAP)", func(ids []string) []map[string]any {
			return []map[string]any{ok(ids[0]), {"id": ids[1], "status": 412, "body": map[string]any{"error": map[string]any{"code": "x", "message": "changed"}}}}
		}, []string{"rolled back with its change set (atomicity: batch): record k2 failed", "412"}},
		{"one answer for the group", func(ids []string) []map[string]any {
			return []map[string]any{{"id": changeSetID, "status": 400, "body": map[string]any{"error": map[string]any{"code": "x", "message": "bad group"}}}}
		}, []string{"the change set failed", "the change set failed"}},
		{"a missing answer", func(ids []string) []map[string]any {
			return []map[string]any{ok(ids[0])}
		}, []string{"has no answer for record k2", "has no answer for record k2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var in struct {
					Requests []batchPart `json:"requests"`
				}
				json.NewDecoder(r.Body).Decode(&in)
				ids := make([]string, len(in.Requests))
				for i, p := range in.Requests {
					ids[i] = p.ID
					if p.AtomicityGroup != changeSetID {
						t.Errorf("request %s: atomicityGroup %q, want %q", p.ID, p.AtomicityGroup, changeSetID)
					}
				}
				writeJSON(w, 200, map[string]any{"responses": tt.answers(ids)})
			}), func(cfg *connectors.Config) {
				settingsIn(cfg).BatchSize = 10
				settingsIn(cfg).Atomicity = AtomicityBatch
			})
			res, err := c.Write(t.Context(), crmAccounts, ops)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				switch {
				case want == "" && res[i].Err != nil:
					t.Errorf("op %d: %v", i, res[i].Err)
				case want != "" && (res[i].Err == nil || !strings.Contains(res[i].Err.Error(), want)):
					t.Errorf("op %d: Err = %v, want it to contain %q", i, res[i].Err, want)
				}
				// With an answer missing and no failure reported, the change
				// set may have been committed: that is no rollback, and the
				// engine must read the records to find out.
				if tt.name == "a missing answer" && errors.Is(res[i].Err, connectors.ErrRolledBack) {
					t.Errorf("op %d: %v reads as rolled back, but the change set may have been committed", i, res[i].Err)
				}
			}
		})
	}
}

func TestChangeSetConfig(t *testing.T) {
	if _, err := New(connectors.Config{BaseURL: "http://x", Settings: &Settings{Atomicity: AtomicityBatch}}); err == nil {
		t.Error("atomicity batch without batch_size: want an error")
	}
	if _, err := New(connectors.Config{BaseURL: "http://x", Settings: &Settings{Atomicity: "all"}}); err == nil {
		t.Error("unknown atomicity: want an error")
	}
	// An op that cannot be encoded keeps its whole change set from being sent.
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
	}), func(cfg *connectors.Config) {
		settingsIn(cfg).BatchSize = 10
		settingsIn(cfg).Atomicity = AtomicityBatch
	})
	res, err := c.Write(t.Context(), crmAccounts, []connectors.WriteOp{
		{Op: connectors.OpCreate, Fields: connectors.Record{"name": "fine"}},
		{Op: connectors.OpUpdate, Fields: connectors.Record{"name": "no key"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, connectors.ErrNotSent) || res[1].Err == nil || errors.Is(res[1].Err, connectors.ErrNotSent) {
		t.Errorf("results = %v, %v", res[0].Err, res[1].Err)
	}
}

// TestRolledBackDoesNotInheritTheCause fails a change set with a delete of
// a missing record: the writes rolled back with it must read as rolled
// back only, not as the failed write's "not found" or its HTTP status, or
// the engine would take an innocent delete for "gone already" and uncouple
// a record that still exists.
func TestRolledBackDoesNotInheritTheCause(t *testing.T) {
	s := fake.NewCRM()
	keys := putAccounts(t, s, "a", "b")
	c := fakeClientCfg(t, s, func(cfg *connectors.Config) {
		settingsIn(cfg).BatchSize = 3
		settingsIn(cfg).Atomicity = AtomicityBatch
		cfg.MaxConcurrency = 1
	})
	missing := "00000000-0000-0000-0000-00000000abcd"
	res, err := c.Write(t.Context(), crmAccounts, []connectors.WriteOp{
		{Op: connectors.OpDelete, Key: missing},
		{Op: connectors.OpDelete, Key: keys[0]},
		{Op: connectors.OpUpdate, Key: keys[1], Fields: connectors.Record{"name": "b2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("accounts", keys[0]); !ok {
		t.Fatalf("record a was deleted although its change set failed")
	}
	if !errors.Is(res[0].Err, connectors.ErrNotFound) || errors.Is(res[0].Err, connectors.ErrRolledBack) {
		t.Errorf("the failed delete: %v, want ErrNotFound", res[0].Err)
	}
	for i := 1; i < 3; i++ {
		var st interface{ HTTPStatus() int }
		if !errors.Is(res[i].Err, connectors.ErrRolledBack) || !errors.Is(res[i].Err, ErrRolledBack) {
			t.Errorf("op %d: %v, want ErrRolledBack", i, res[i].Err)
		}
		if errors.Is(res[i].Err, connectors.ErrNotFound) || errors.As(res[i].Err, &st) {
			t.Errorf("op %d was rolled back but its error reads as the failed write's: %v", i, res[i].Err)
		}
		if !strings.Contains(res[i].Err.Error(), "record "+missing+" failed") {
			t.Errorf("op %d: %v, want the failed record named", i, res[i].Err)
		}
	}
}

// TestChangeSetHeaders checks that atomicity: batch asks for a
// transaction both ways services understand: atomicity groups in the body
// (OData 4.01, Dataverse, SAP CAP) and Isolation: snapshot (Business
// Central), and that the default sends neither.
func TestChangeSetHeaders(t *testing.T) {
	for _, atomic := range []bool{false, true} {
		var isolation, group string
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var in struct {
				Requests []batchPart `json:"requests"`
			}
			json.NewDecoder(r.Body).Decode(&in)
			isolation, group = r.Header.Get("Isolation"), in.Requests[0].AtomicityGroup
			var out []map[string]any
			for _, p := range in.Requests {
				out = append(out, map[string]any{"id": p.ID, "status": 204})
			}
			writeJSON(w, 200, map[string]any{"responses": out})
		}), func(cfg *connectors.Config) {
			settingsIn(cfg).BatchSize = 10
			if atomic {
				settingsIn(cfg).Atomicity = AtomicityBatch
			}
		})
		res, err := c.Write(t.Context(), crmAccounts, []connectors.WriteOp{
			{Op: connectors.OpDelete, Key: "k1"}, {Op: connectors.OpDelete, Key: "k2"},
		})
		if err != nil || res[0].Err != nil {
			t.Fatalf("atomic %v: %v %+v", atomic, err, res)
		}
		if want := map[bool]string{true: "snapshot"}[atomic]; isolation != want {
			t.Errorf("atomic %v: Isolation %q, want %q", atomic, isolation, want)
		}
		if want := map[bool]string{true: changeSetID}[atomic]; group != want {
			t.Errorf("atomic %v: atomicityGroup %q, want %q", atomic, group, want)
		}
	}
}
