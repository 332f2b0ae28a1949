package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// TestPagesCarryTheFirstAnswersDate: every page of a read carries the Date
// of the server's first answer, also when that answer's records were all
// left out by the local since filter (an API without a since parameter).
// A watermark capped by a later page's Date would pass an edit made, after
// the first page was read, to a record on it.
//
// Before the fix the page handed over carried its own, later Date.
func TestPagesCarryTheFirstAnswersDate(t *testing.T) {
	first := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		w.Header().Set("Date", first.Add(time.Duration(p-1)*time.Minute).Format(http.TimeFormat))
		switch p {
		case 1: // modified long ago: left out by the since filter
			fmt.Fprint(w, `[{"id":"1","modified":"2020-01-01T00:00:00Z"}]`)
		case 2:
			fmt.Fprint(w, `[{"id":"2","modified":"2026-12-04T09:59:00Z"}]`)
		default:
			fmt.Fprint(w, `[]`)
		}
	}))
	defer srv.Close()
	c, err := New(connectors.Config{Name: "t", BaseURL: srv.URL, Settings: &Settings{Resources: map[string]Resource{
		"items": {Paging: Paging{Style: "page", Param: "page", Start: 1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var dates []time.Time
	q := connectors.Query{Entity: connectors.Entity{Name: "items", Key: "id", Modified: "modified"}, Since: first.Add(-time.Hour)}
	if err := c.Read(context.Background(), q, func(p connectors.Page) error {
		dates = append(dates, p.Date)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(dates) != 1 || !dates[0].Equal(first) {
		t.Errorf("page dates %v; want one page dated %v, the first answer's", dates, first)
	}
}
