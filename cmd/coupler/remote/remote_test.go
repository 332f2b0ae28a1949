package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/serve"
)

// TestAnnounceAndFind: an announcement is found only for the process that
// holds the lock, and removed at exit unless another serve replaced it.
func TestAnnounceAndFind(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.duckdb")
	remove, err := Announce(Info{URL: "http://127.0.0.1:7700", PID: 42, State: state})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		holder int
		found  bool
	}{
		{"the serve holds the lock", 42, true},
		{"another process holds it (an apply), the announcement is stale", 43, false},
		{"the holder did not say who it is", 0, false},
	} {
		if info, ok := Find(state, tc.holder); ok != tc.found || (ok && info.URL != "http://127.0.0.1:7700") {
			t.Errorf("%s: found %v %+v", tc.name, ok, info)
		}
	}
	if _, ok := Find(filepath.Join(t.TempDir(), "state.duckdb"), 42); ok {
		t.Error("found an announcement where there is none")
	}
	// A later serve announced itself: the first one's exit leaves it.
	if _, err := Announce(Info{URL: "http://127.0.0.1:7701", PID: 44, State: state}); err != nil {
		t.Fatal(err)
	}
	remove()
	if _, ok := Find(state, 44); !ok {
		t.Error("an exiting serve removed another's announcement")
	}
	entries, _ := os.ReadDir(filepath.Dir(state))
	if len(entries) != 1 {
		t.Errorf("announcing left files behind: %v", entries)
	}
}

func TestURLFor(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:7700": "http://127.0.0.1:7700",
		"0.0.0.0:7700":   "http://127.0.0.1:7700",
		"[::]:7700":      "http://[::1]:7700",
		"10.0.0.5:80":    "http://10.0.0.5:80",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := URLFor(a); got != want {
			t.Errorf("URLFor(%s) = %s, want %s", addr, got, want)
		}
	}
}

// TestClientErrors: the client says what serve said, or what is missing.
func TestClientErrors(t *testing.T) {
	if _, err := New(Info{PID: 7, TokenForReads: true}, ""); err == nil || !strings.Contains(err.Error(), "COUPLER_SERVE_TOKEN") {
		t.Errorf("no token for a serve that wants one: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer t":
			http.Error(w, "a valid token is required", http.StatusUnauthorized)
		case r.URL.Path == "/api/plans/nope":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintln(w, `{"error":"no such plan: nope"}`)
		case r.URL.Path == "/api/query":
			fmt.Fprintln(w, `{"columns":["n","s"],"rows":[[{"text":"1","json":1},null],[{"text":"NaN","json_error":"json: unsupported value: NaN"},{"text":"<a>","json":"\u003ca\u003e"}]]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, _ := New(Info{URL: srv.URL, PID: 7}, "t")
	if _, err := c.Plan(t.Context(), &bytes.Buffer{}, planRequest("nope")); err == nil || err.Error() != "no such plan: nope" {
		t.Errorf("a plan serve does not have: %v", err)
	}
	wrong, _ := New(Info{URL: srv.URL, PID: 7}, "wrong")
	if _, err := wrong.Runs(t.Context(), 20); err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "COUPLER_SERVE_TOKEN") {
		t.Errorf("a wrong token: %v", err)
	}
	gone, _ := New(Info{URL: "http://127.0.0.1:1", PID: 7}, "")
	if _, err := gone.Runs(t.Context(), 20); err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("a serve that does not answer: %v", err)
	}
	// Values print and encode as serve's did; NULL is nil.
	var rows [][]any
	if err := c.Query(t.Context(), "select", func(cols []string, row []any) error {
		if row != nil {
			rows = append(rows, row)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows[0][0], rows[0][1] == nil, rows[1][1]); got != "1 true <a>" {
		t.Errorf("printed %q", got)
	}
	if b, err := json.Marshal(map[string]any{"s": rows[1][1]}); err != nil || string(b) != `{"s":"\u003ca\u003e"}` {
		t.Errorf("encoded %s %v", b, err)
	}
	if _, err := json.Marshal(rows[1][0]); err == nil || !strings.Contains(err.Error(), "unsupported value: NaN") {
		t.Errorf("a value without JSON: %v", err)
	}
}

func planRequest(ref string) serve.PlanRequest { return serve.PlanRequest{Ref: ref, Format: "text"} }

// TestApprove: coupler approve posts to serve's approve endpoint with the
// token and who approves, and shows serve's reason when it refuses.
func TestApprove(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer tok" || r.URL.Query().Get("by") != "ana" {
			t.Errorf("request %s %s, Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
		}
		switch r.URL.Path {
		case "/plans/latest/approve":
			_ = json.NewEncoder(w).Encode(serve.ApproveAnswer{Plan: "20261124-083414-6f80fe", ApprovedBy: "ana (coupler serve page from 127.0.0.1)",
				Queued: []string{"CUSTOMER"}, Message: "approved: CUSTOMER runs now and applies it"})
		default:
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(serve.ApproveAnswer{Plan: "x", Message: "plan x needs no approval"})
		}
	}))
	defer srv.Close()
	c, err := New(Info{URL: srv.URL, PID: 42}, "tok")
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Approve(t.Context(), "latest", "ana")
	if err != nil || a.Plan != "20261124-083414-6f80fe" || len(a.Queued) != 1 {
		t.Errorf("approve latest: %+v, %v", a, err)
	}
	if _, err := c.Approve(t.Context(), "x", "ana"); err == nil || !strings.Contains(err.Error(), "did not approve plan x: plan x needs no approval") {
		t.Errorf("refused approval: %v", err)
	}
}
