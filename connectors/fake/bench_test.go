package fake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
)

const benchRecords = 100_000

// benchERP is one seeded ERP server shared by the benchmarks: seeding 100k
// customers takes longer than serving them.
var benchERP = sync.OnceValue(func() *Server {
	s := NewERP()
	if err := SeedCustomers(s, benchRecords); err != nil {
		panic(err) // test setup, not client input
	}
	return s
})

// BenchmarkServeFullRead measures reading all 100k customers over HTTP in
// pages of 5000, following @odata.nextLink, the way the engine's full read
// does. Bodies are read but not decoded, so the figure is the server's.
func BenchmarkServeFullRead(b *testing.B) {
	s := benchERP()
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := srv.Client()
	var buf bytes.Buffer
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		next := srv.URL + "/customers"
		pages, size := 0, int64(0)
		for next != "" {
			req, _ := http.NewRequestWithContext(b.Context(), "GET", next, nil)
			req.Header.Set("Prefer", "odata.maxpagesize=5000")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			n, err := io.Copy(&buf, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("page %d: %d %v", pages, resp.StatusCode, err)
			}
			size += n
			pages++
			next = nextLinkOf(buf.Bytes())
		}
		if pages != benchRecords/5000 {
			b.Fatalf("%d pages", pages)
		}
		total = size
	}
	b.SetBytes(total)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
}

// nextLinkOf finds the @odata.nextLink at the end of a page.
func nextLinkOf(body []byte) string {
	const marker = `"@odata.nextLink":`
	i := bytes.LastIndex(body, []byte(marker))
	if i < 0 {
		return ""
	}
	var link string
	_ = json.NewDecoder(bytes.NewReader(body[i+len(marker):])).Decode(&link)
	return link
}

// BenchmarkServeIncrementalRead measures the engine's incremental query:
// a $filter on the modified field with $orderby on it, after a write has
// invalidated the sorted view.
func BenchmarkServeIncrementalRead(b *testing.B) {
	s := benchERP()
	id := Customer(0)["id"].(string)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Patch("customers", id, map[string]any{"city": "Oslo"})
		r := httptest.NewRequest("GET", "/customers?$filter=lastModifiedDateTime%20gt%202000-01-01T00:00:00Z&$orderby=lastModifiedDateTime&$select=id,number", nil)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkServeGetByKeys measures the engine's "fetch these ids" request:
// 100 ids in an in-list, which is answered by key lookups, not a scan.
func BenchmarkServeGetByKeys(b *testing.B) {
	s := benchERP()
	q := "id%20in%20("
	for i := range 100 {
		if i > 0 {
			q += ","
		}
		q += Customer(i * 997)["id"].(string)
	}
	q += ")"
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/customers?$filter="+q, nil)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// TestMemoryFootprint guards the per-record cost that keeps the benchmark
// process (two servers of 100k records and the engine) under 500 MiB.
func TestMemoryFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100k records")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewERP()
	if err := SeedCustomers(s, benchRecords); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perRecord := float64(after.HeapAlloc-before.HeapAlloc) / benchRecords
	t.Logf("%d customers: %.1f MiB live heap, %.0f bytes/record", benchRecords, perRecord*benchRecords/(1<<20), perRecord)
	if perRecord > 800 {
		t.Errorf("%.0f bytes per record; the budget is 800", perRecord)
	}
	runtime.KeepAlive(s)
}
