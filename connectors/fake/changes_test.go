package fake

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// trackAll follows the pages of a change-tracking read from target and
// returns the records, the deleted keys and the delta link.
func (c *testClient) trackAll(target string, headers ...string) (recs []map[string]any, removed []string, delta string) {
	c.t.Helper()
	for target != "" {
		r := c.do("GET", target, "", headers...)
		if r.status != http.StatusOK {
			c.t.Fatalf("GET %s: %d %s", target, r.status, r.body)
		}
		for _, v := range r.values(c.t) {
			if ctx, _ := v["@odata.context"].(string); strings.HasSuffix(ctx, "/$deletedEntity") {
				if v["reason"] != "deleted" {
					c.t.Errorf("deleted entry %v: reason is not deleted", v)
				}
				removed = append(removed, v["id"].(string))
				continue
			}
			recs = append(recs, v)
		}
		body := r.json(c.t)
		target, _ = body["@odata.nextLink"].(string)
		if d, ok := body["@odata.deltaLink"].(string); ok {
			if target != "" {
				c.t.Fatalf("a page has both a next link and a delta link: %s", r.body)
			}
			delta = d
		}
	}
	return recs, removed, delta
}

func TestChangeTracking(t *testing.T) {
	s := NewCRM()
	s.SetClock(stepClock(time.Second))
	var keys []string
	for i := range 5 {
		k, err := s.Put("accounts", map[string]any{"name": "A" + string(rune('0'+i))})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	c := newClient(t, s)

	// The first read: every record, the preference applied, a delta link
	// on the last page (pages of 2).
	first := c.do("GET", "/accounts?$select=name", "", "Prefer", "odata.track-changes,odata.maxpagesize=2")
	if got := first.header.Get("Preference-Applied"); !strings.Contains(got, "odata.track-changes") {
		t.Errorf("Preference-Applied = %q, want odata.track-changes", got)
	}
	recs, removed, delta := c.trackAll("/accounts?$select=name", "Prefer", "odata.track-changes,odata.maxpagesize=2")
	if len(recs) != 5 || len(removed) != 0 || delta == "" {
		t.Fatalf("first read: %d records, %d removed, delta link %q; want 5, 0 and a link", len(recs), len(removed), delta)
	}
	if !strings.Contains(delta, "$deltatoken=") || !strings.Contains(delta, "$select=name") {
		t.Errorf("delta link %q: want the $select and a $deltatoken", delta)
	}

	// Nothing changed: an empty page and a new delta link.
	recs, removed, again := c.trackAll(delta)
	if len(recs)+len(removed) != 0 || again == "" {
		t.Fatalf("no change: %d records, %d removed, link %q", len(recs), len(removed), again)
	}

	// An edit, a create, a delete; and a record created and deleted since,
	// which is reported deleted although the client never had it
	// ("… they'll get the deleted item even if they didn't have the item
	// to begin with").
	if err := s.Patch("accounts", keys[1], map[string]any{"name": "B1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("accounts", map[string]any{"name": "new"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("accounts", keys[3]); err != nil {
		t.Fatal(err)
	}
	ghost, _ := s.Put("accounts", map[string]any{"name": "ghost"})
	if err := s.Delete("accounts", ghost); err != nil {
		t.Fatal(err)
	}
	recs, removed, next := c.trackAll(delta)
	var names []string
	for _, r := range recs {
		names = append(names, r["name"].(string))
	}
	if strings.Join(names, ",") != "B1,new" {
		t.Errorf("changed records %v, want B1 and new", names)
	}
	if strings.Join(removed, ",") != keys[3]+","+ghost {
		t.Errorf("removed %v, want %s and %s", removed, keys[3], ghost)
	}
	if recs, removed, _ := c.trackAll(next); len(recs)+len(removed) != 0 {
		t.Errorf("after the new link: %d records, %d removed; want none", len(recs), len(removed))
	}

	// The old link still works until the tokens expire; then the answer is
	// ExpiredVersionStamp.
	s.ExpireChangeTokens()
	if r := c.do("GET", next, ""); r.status != http.StatusBadRequest || r.errorCode(t) != codeExpiredVersion {
		t.Errorf("expired token: %d %s, want 400 %s", r.status, r.body, codeExpiredVersion)
	}
}

func TestChangeTrackingRefusals(t *testing.T) {
	s := NewCRM()
	c := newClient(t, s)
	// A table without change tracking.
	if r := c.do("GET", "/stringmaps", "", "Prefer", "odata.track-changes"); r.status != http.StatusBadRequest || r.errorCode(t) != codeTrackingNotEnabled {
		t.Errorf("untracked set: %d %s, want 400 %s", r.status, r.body, codeTrackingNotEnabled)
	}
	// Query options Dataverse does not support with change tracking.
	for _, q := range []string{"$filter=name%20eq%20'x'", "$orderby=name", "$top=1"} {
		if r := c.do("GET", "/accounts?"+q, "", "Prefer", "odata.track-changes"); r.status != http.StatusBadRequest ||
			!strings.Contains(string(r.body), "isn't supported when Change Tracking is enabled") {
			t.Errorf("%s: %d %s, want 400", q, r.status, r.body)
		}
	}
	// Without the preference, reads are as before.
	if r := c.do("GET", "/accounts?$top=1", ""); r.status != http.StatusOK {
		t.Errorf("plain read: %d %s", r.status, r.body)
	}
}
