package odata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

func TestTailNextLink(t *testing.T) {
	for _, tc := range []struct {
		body, link string
		ok         bool
	}{
		{body: `{"value":[],"@odata.nextLink":"http://h/svc/a?$skiptoken=1"}`, link: "http://h/svc/a?$skiptoken=1", ok: true},
		{body: "{\"value\":[] , \"@odata.nextLink\" : \"a?x=\\\"1\\\"\\\\\" }\n\n", link: `a?x="1"\`, ok: true},
		{body: `{"value":[],"@odata.nextLink":"a\u0026b"}`, link: "a&b", ok: true},
		{body: `{"value":[],"@odata.deltaLink":"a"}`},
		{body: `{"value":[],"@odata.nextLink":"a","x":1}`},
		{body: `{"value":[],"@odata.nextLink":null}`},
		{body: `{"value":[],"@odata.nextLink":"a"`},
		{body: `"@odata.nextLink":"a"}`, link: "a", ok: true}, // a guess: decoding the page decides
		{body: `"a"}`},
		{body: `}`},
		{body: ``},
	} {
		link, ok := tailNextLink([]byte(tc.body))
		if link != tc.link || ok != tc.ok {
			t.Errorf("%s: %q, %v; want %q, %v", tc.body, link, ok, tc.link, tc.ok)
		}
	}
	for _, tc := range []struct {
		body, context string
		ok            bool
	}{
		{body: ` {"@odata.context":"http://h/svc/$metadata#a","value":[]}`, context: "http://h/svc/$metadata#a", ok: true},
		{body: `{"@odata.context":"a\"b","value":[]}`},
		{body: `{"value":[],"@odata.context":"a"}`},
		{body: `{"@odata.context":"a`},
	} {
		context, ok := headContext([]byte(tc.body))
		if context != tc.context || ok != tc.ok {
			t.Errorf("%s: %q, %v; want %q, %v", tc.body, context, ok, tc.context, tc.ok)
		}
	}
}

// pagedAccounts serves page i of n (?p=i, the first without) with one
// account each, linking to the next; page tails the body after the
// nextLink, and requested is told of each page asked for.
func pagedAccounts(n int, tail func(p int) string, requested func(p int)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := 1
		fmt.Sscan(r.URL.Query().Get("p"), &p)
		requested(p)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"@odata.context":"$metadata#accounts","value":[{"accountid":"%d"}]`, p)
		if p < n {
			fmt.Fprintf(w, `,"@odata.nextLink":"accounts?p=%d"`, p+1)
		}
		fmt.Fprintf(w, "%s}", tail(p))
	})
}

// TestReadAsksForNextPageAhead: the next page is asked for while the
// records of the one before are handed on, and pages are handed on in
// order, each once.
func TestReadAsksForNextPageAhead(t *testing.T) {
	asked := make(chan int, 10)
	c, _ := newTestClient(t, pagedAccounts(3, func(int) string { return "" }, func(p int) { asked <- p }), nil)
	var got []string
	err := c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "accounts", Key: "accountid"}}, func(p connectors.Page) error {
		for _, r := range p.Records {
			got = append(got, r["accountid"].(string))
		}
		if len(got) < 3 {
			// Page n+1 is asked for before page n's records are handed
			// on; a read that waited would never ask, and fail here.
			select {
			case <-asked: // page n
			case <-time.After(10 * time.Second):
				t.Fatal("page 1 never asked for")
			}
			select {
			case p := <-asked:
				if p != len(got)+1 {
					t.Errorf("page %d asked for while page %d is handed on", p, len(got))
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("page %d not asked for while page %d is handed on", len(got)+1, len(got))
			}
			asked <- len(got) + 1 // counted again as page n on the next call
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("read %v, want [1 2 3]", got)
	}
}

// TestReadAheadGuessWrong: a page fetched ahead that is not the one the
// page's own links point to is not used: here the nextLink guessed is
// resolved against the first context URL, and the page's own against the
// last, which decoding keeps.
func TestReadAheadGuessWrong(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path+"?"+r.URL.Query().Get("p"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("p") == "" {
			fmt.Fprint(w, `{"@odata.context":"$metadata#accounts","value":[{"accountid":"1"}],"@odata.context":"other/$metadata#accounts","@odata.nextLink":"accounts?p=2"}`)
			return
		}
		fmt.Fprintf(w, `{"value":[{"accountid":"%s%s"}]}`, r.URL.Path, r.URL.Query().Get("p"))
	})
	c, _ := newTestClient(t, h, nil)
	var got []string
	err := c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "accounts", Key: "accountid"}}, func(p connectors.Page) error {
		for _, r := range p.Records {
			got = append(got, r["accountid"].(string))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 /svc/other/accounts2]" {
		t.Errorf("read %v, want [1 /svc/other/accounts2]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	// The guess is dropped once the page is decoded, perhaps before its
	// request is sent.
	slices.Sort(asked)
	if s := fmt.Sprint(asked); s != "[/svc/accounts? /svc/other/accounts?2]" && s != "[/svc/accounts? /svc/accounts?2 /svc/other/accounts?2]" {
		t.Errorf("pages asked for: %v, want the first, perhaps the guess, and the page's own", asked)
	}
}

// TestReadAheadStops: when the caller stops the read, the page asked for
// ahead is dropped, its answer closed, and the caller's error returned.
func TestReadAheadStops(t *testing.T) {
	stop := errors.New("stop")
	c, _ := newTestClient(t, pagedAccounts(3, func(int) string { return "" }, func(int) {}), nil)
	calls := 0
	err := c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "accounts", Key: "accountid"}}, func(connectors.Page) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("%d calls, error %v; want 1 and %v", calls, err, stop)
	}
}

// TestReadChunks: a body is read whole or up to most bytes, into the
// spare chunks first, and an error ending it is kept with what was read.
func TestReadChunks(t *testing.T) {
	body := strings.Repeat("x", 2*bodyChunkBytes+10)
	broken := errors.New("broken")
	for _, tc := range []struct {
		name    string
		r       io.Reader
		spare   [][]byte
		most, n int
		err     error
	}{
		{name: "whole", r: strings.NewReader(body), most: len(body) + 1, n: len(body)},
		{name: "most", r: strings.NewReader(body), most: bodyChunkBytes + 1, n: bodyChunkBytes + 1},
		{name: "spare", r: strings.NewReader(body), spare: [][]byte{make([]byte, 5, 7), nil}, most: len(body) + 1, n: len(body)},
		{name: "broken", r: io.MultiReader(strings.NewReader(body[:100]), iotest.ErrReader(broken)), most: len(body), n: 100, err: broken},
		{name: "empty", r: strings.NewReader(""), most: 10},
	} {
		chunks, n, err := readChunks(tc.spare, iotest.HalfReader(tc.r), tc.most)
		if n != tc.n || !errors.Is(err, tc.err) || tc.err == nil && err != nil {
			t.Errorf("%s: %d bytes, %v; want %d, %v", tc.name, n, err, tc.n, tc.err)
		}
		if got := string(bytes.Join(chunks, nil)); got != body[:tc.n] {
			t.Errorf("%s: read %d bytes that are not the body's first", tc.name, len(got))
		}
		if len(tc.spare) > 0 && len(chunks) > 0 && &chunks[0][:1][0] != &tc.spare[0][:1][0] {
			t.Errorf("%s: the spare chunk was not read into", tc.name)
		}
	}
}
