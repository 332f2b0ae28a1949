package odata

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

// changesAll reads q through c and returns the records' keys, the removed
// keys and the next token.
func changesAll(t *testing.T, c *Client, q connectors.ChangesQuery) (keys, removed []string, next string, err error) {
	t.Helper()
	next, err = c.Changes(t.Context(), q, func(p connectors.ChangePage) error {
		for _, r := range p.Records {
			keys = append(keys, r[q.Entity.Key].(string))
		}
		removed = append(removed, p.Removed...)
		return nil
	})
	return keys, removed, next, err
}

func TestChangesAgainstFakeCRM(t *testing.T) {
	s := fake.NewCRM()
	s.SetClock(steppingClock(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Second))
	var ids []string
	for i := range 7 {
		id, err := s.Put("accounts", map[string]any{"name": "A" + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	c := fakeClient(t, s, 3)
	q := connectors.ChangesQuery{Entity: crmAccounts, Fields: []string{"name"}}

	keys, removed, token, err := changesAll(t, c, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 7 || len(removed) != 0 || token == "" {
		t.Fatalf("first read: %d records, %d removed, token %q", len(keys), len(removed), token)
	}

	if err := s.Delete("accounts", ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Patch("accounts", ids[4], map[string]any{"name": "changed"}); err != nil {
		t.Fatal(err)
	}
	q.Token = token
	keys, removed, token2, err := changesAll(t, c, q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{ids[4]}) || !slices.Equal(removed, []string{ids[2]}) {
		t.Errorf("delta: records %v removed %v; want [%s] and [%s]", keys, removed, ids[4], ids[2])
	}
	if token2 == "" || token2 == token {
		t.Errorf("delta token %q: want a new one", token2)
	}

	// An expired token is ErrTokenExpired, so that the caller reads afresh.
	s.ExpireChangeTokens()
	q.Token = token2
	if _, _, _, err := changesAll(t, c, q); !errors.Is(err, connectors.ErrTokenExpired) {
		t.Errorf("expired token: %v, want ErrTokenExpired", err)
	}

	// A table without change tracking is ErrUnsupported, saying what to do.
	sm := connectors.ChangesQuery{Entity: connectors.Entity{Name: "stringmaps", Key: "stringmapid"}}
	if _, _, _, err := changesAll(t, c, sm); !errors.Is(err, connectors.ErrUnsupported) || !strings.Contains(err.Error(), "Track changes") {
		t.Errorf("untracked table: %v, want ErrUnsupported naming Track changes", err)
	}
}

// TestChangesRequests checks the wire: the preference on the first read
// and not on the delta link, no $filter or $orderby, a relative delta link
// resolved against the context URL, 410 Gone as expiry, another origin
// refused, and a service that ignores the preference.
func TestChangesRequests(t *testing.T) {
	var prefer []string
	var queries []string
	mode := ""
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefer = append(prefer, r.Header.Get("Prefer"))
		queries = append(queries, r.URL.RawQuery)
		switch {
		case mode == "gone":
			writeJSON(w, http.StatusGone, map[string]any{"error": map[string]any{"code": "Gone", "message": "delta link expired"}})
		case mode == "ignore":
			writeJSON(w, http.StatusOK, collection([]map[string]any{{"id": "1"}}, ""))
		case r.URL.Query().Get("$deltatoken") == "":
			body := collection([]map[string]any{{"id": "1", "name": "a"}}, "")
			// A relative delta link: relative to the context URL, the
			// service root's $metadata, not to the request URL.
			body["@odata.context"] = "$metadata#things(name)"
			body["@odata.deltaLink"] = "things?$select=name&$deltatoken=7"
			w.Header().Set("Preference-Applied", "odata.track-changes")
			writeJSON(w, http.StatusOK, body)
		default:
			body := collection([]map[string]any{
				{"id": "2", "name": "b"},
				{"@odata.context": "$metadata#things/$deletedEntity", "id": "1", "reason": "deleted"},
				{"@removed": map[string]any{"reason": "deleted"}, "@id": "things('it''s')"},
			}, "")
			body["@odata.deltaLink"] = "https://elsewhere.example/svc/things?$deltatoken=8"
			writeJSON(w, http.StatusOK, body)
		}
	})
	c, srv := newTestClient(t, h, func(cfg *connectors.Config) { cfg.PageSize = 100 })
	q := connectors.ChangesQuery{Entity: connectors.Entity{Name: "things", Key: "id", Modified: "modified"}, Fields: []string{"name"}}
	keys, _, token, err := changesAll(t, c, q)
	if err != nil {
		t.Fatal(err)
	}
	if want := srv.URL + "/svc/things?$select=name&$deltatoken=7"; token != want || !slices.Equal(keys, []string{"1"}) {
		t.Errorf("token %q keys %v; want %q and [1]", token, keys, want)
	}
	if prefer[0] != "odata.track-changes,odata.maxpagesize=100" || strings.Contains(queries[0], "$filter") || strings.Contains(queries[0], "$orderby") {
		t.Errorf("first request: Prefer %q, query %q", prefer[0], queries[0])
	}

	q.Token = token
	keys, removed, _, err := changesAll(t, c, q)
	if err == nil || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Errorf("delta link to another origin: %v, want it refused", err)
	}
	if !slices.Equal(keys, []string{"2"}) || !slices.Equal(removed, []string{"1", "it's"}) {
		t.Errorf("delta: records %v removed %v", keys, removed)
	}
	if strings.Contains(prefer[1], "track-changes") {
		t.Errorf("delta link sent with Prefer %q: the token carries the tracking", prefer[1])
	}

	mode = "gone"
	if _, _, _, err := changesAll(t, c, q); !errors.Is(err, connectors.ErrTokenExpired) {
		t.Errorf("410 Gone: %v, want ErrTokenExpired", err)
	}
	q.Token = "https://elsewhere.example/svc/things?$deltatoken=1"
	if _, _, _, err := changesAll(t, c, q); !errors.Is(err, connectors.ErrTokenExpired) {
		t.Errorf("token on another origin: %v, want ErrTokenExpired (read afresh)", err)
	}
	mode, q.Token = "ignore", ""
	if _, _, _, err := changesAll(t, c, q); !errors.Is(err, connectors.ErrUnsupported) {
		t.Errorf("no delta link: %v, want ErrUnsupported", err)
	}

	// A mapping keyed by an alternate key cannot use change tracking:
	// deleted entries carry the primary key.
	c.altKeys = map[string]AlternateKey{"things": {Fields: []string{"code"}}}
	q.Entity.Key = "code"
	if _, _, _, err := changesAll(t, c, q); !errors.Is(err, connectors.ErrUnsupported) {
		t.Errorf("alternate key: %v, want ErrUnsupported", err)
	}
}

// TestChangesBelowEntityPathAskForLookupTargets: a change-tracking read
// goes to the entity set below the entity path, as every other read does,
// and asks for the lookups' target tables when the connector binds
// lookups, so that a multi-table lookup read through a delta is checked
// like one read in full.
//
// Before the fix the first read went to {root}/things, outside the
// company, and sent no include-annotations preference.
func TestChangesBelowEntityPathAskForLookupTargets(t *testing.T) {
	var path, prefer string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, prefer = r.URL.Path, r.Header.Get("Prefer")
		body := collection([]map[string]any{{"id": "1"}}, "")
		body["@odata.deltaLink"] = "http://" + r.Host + r.URL.Path + "?$deltatoken=1"
		writeJSON(w, http.StatusOK, body)
	})
	c, _ := newTestClient(t, h, func(cfg *connectors.Config) {
		cfg.BaseURL += "companies(1)"
		settingsIn(cfg).Lookups = LookupsBind
	})
	if _, _, _, err := changesAll(t, c, connectors.ChangesQuery{Entity: connectors.Entity{Name: "things", Key: "id"}}); err != nil {
		t.Fatal(err)
	}
	if path != "/svc/companies(1)/things" {
		t.Errorf("change-tracking read of %s; want /svc/companies(1)/things", path)
	}
	if !strings.Contains(prefer, "odata.track-changes") || !strings.Contains(prefer, "lookuplogicalname") {
		t.Errorf("Prefer %q; want track-changes and the lookups' logical names", prefer)
	}
}
