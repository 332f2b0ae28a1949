package odata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// endlessPages answers every request with a page whose next link leads to
// a new page: records per page (0 for the hostile empty pages of issue 14,
// finding 11), for ever, or up to stopAfter pages so that a read without
// limits ends the test too.
func endlessPages(records, stopAfter int, served *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		var recs []map[string]any
		for i := range records {
			recs = append(recs, map[string]any{"id": fmt.Sprintf("%d-%d", n, i), "name": strings.Repeat("x", 100)})
		}
		next := fmt.Sprintf("%s?$skiptoken=%d", r.URL.Path, n)
		if n >= int64(stopAfter) {
			next = ""
		}
		writeJSON(w, http.StatusOK, collection(recs, next))
	})
}

// TestReadLimits: one read fetches at most max_pages pages and
// max_read_bytes of responses; past either it fails with an error naming
// the read and the setting, instead of following a server's next links
// for ever.
func TestReadLimits(t *testing.T) {
	tests := []struct {
		name     string
		records  int
		limits   connectors.ReadLimits
		want     string
		maxPages int64 // pages the server may have served
	}{
		{"empty pages", 0, connectors.ReadLimits{MaxPages: 50},
			"read accounts: read limit reached: the server still had a next page after 50 pages, the most one read may fetch (setting max_pages)", 50},
		{"bytes", 20, connectors.ReadLimits{MaxBytes: 10_000},
			"read accounts: read limit reached: the responses took more than 10000 bytes, the most one read may take (setting max_read_bytes)", 5},
		{"default pages", 0, connectors.ReadLimits{}, "", connectors.DefaultMaxPages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var served atomic.Int64
			c, _ := newTestClient(t, endlessPages(tt.records, 2000, &served), func(cfg *connectors.Config) {
				settingsIn(cfg).Limits = tt.limits
			})
			err := c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "accounts", Key: "id"}},
				func(connectors.Page) error { return nil })
			if tt.want == "" {
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, connectors.ErrReadLimit) {
				t.Errorf("err = %v,\nwant %s", err, tt.want)
			}
			if served.Load() > tt.maxPages {
				t.Errorf("served %d pages, want at most %d", served.Load(), tt.maxPages)
			}
		})
	}
}

// TestChangesReadLimits: a change-tracking read has the same limits.
func TestChangesReadLimits(t *testing.T) {
	var served atomic.Int64
	c, _ := newTestClient(t, endlessPages(0, 2000, &served), func(cfg *connectors.Config) {
		settingsIn(cfg).Limits = connectors.ReadLimits{MaxPages: 30}
	})
	_, err := c.Changes(context.Background(), connectors.ChangesQuery{Entity: connectors.Entity{Name: "accounts", Key: "id"}},
		func(connectors.ChangePage) error { return nil })
	if !errors.Is(err, connectors.ErrReadLimit) || !strings.Contains(err.Error(), "changes accounts: ") || served.Load() > 30 {
		t.Errorf("err = %v after %d pages, want the page limit after 30", err, served.Load())
	}
}

// largePage writes a page of n records of about 1 KiB each (thirty fields), made as it is
// written, so that the server holds none of it.
func largePage(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"@odata.context":"$metadata#accounts","value":[`)
		for i := range n {
			if i > 0 {
				fmt.Fprint(w, ",")
			}
			// Thirty short fields, as a Dataverse account's mapped columns.
			fmt.Fprintf(w, `{"id":"%08d"`, i)
			for f := range 29 {
				if f%2 == 0 {
					fmt.Fprintf(w, `,"field%02d":"value %04d of %08d"`, f, f, i)
				} else {
					fmt.Fprintf(w, `,"field%02d":%d.5`, f, i*f)
				}
			}
			fmt.Fprint(w, "}")
		}
		fmt.Fprint(w, `]}`)
	})
}

// TestReadStreamsLargePage: the records of a large page are handed on as
// they are decoded, a few megabytes at a time, so that the heap does not
// hold the whole page's records (about four times the page's size as
// maps; 256 MiB pages, the body limit, cost a gigabyte) while the caller
// stages them. The page here is about 13 MiB, whose records took 70 MiB
// when the page was handed on whole.
func TestReadStreamsLargePage(t *testing.T) {
	const records = 16 << 10
	c, _ := newTestClient(t, largePage(records), nil)
	peak, calls, got := readPeak(t, c)
	if got != records {
		t.Fatalf("read %d records, want %d", got, records)
	}
	t.Logf("peak heap growth %d MiB over %d pages handed on", peak>>20, calls)
	if peak > 16<<20 {
		t.Errorf("the heap grew by %d MiB while reading a page of %d records, want less than 16 MiB", peak>>20, records)
	}
}

// readPeak reads accounts through c as the engine does, keeping nothing,
// and returns the largest growth of the live heap seen when a page is
// handed on (when the decoded records are most), the pages and the
// records.
func readPeak(t testing.TB, c *Client) (peak uint64, calls, records int) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	err := c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "accounts", Key: "id"}},
		func(p connectors.Page) error {
			calls++
			records += len(p.Records)
			// What the read holds, not the garbage the collector has yet
			// to take, which varies with its pacing: without this the
			// test read 10 to 16 MiB of the same read.
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base {
				peak = max(peak, ms.HeapAlloc-base)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return peak, calls, records
}

// BenchmarkReadLargePage reads a page of 48K records (38 MiB), reporting the peak growth
// of the live heap (see TestReadStreamsLargePage):
//
//	go test ./connectors/odata -run XXX -bench ReadLargePage -benchtime 3x
func BenchmarkReadLargePage(b *testing.B) {
	srv := httptest.NewServer(largePage(48 << 10))
	defer srv.Close()
	c, err := New(connectors.Config{Name: "bench", BaseURL: srv.URL + "/svc/"})
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	for range b.N {
		p, _, _ := readPeak(b, c)
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak>>20), "peak-heap-MiB")
}
