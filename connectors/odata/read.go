package odata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
	ijson "github.com/couplerhq/coupler/internal/jsontext"
)

// Read implements connectors.Connector. It sends
//
//	GET {root}/{entity_path}/{entity}?$select=…&$filter=…&$orderby=…
//
// and follows @odata.nextLink until the last page, handing fn each non-empty
// page as soon as it is decoded. With q.Since set it filters on
// q.Entity.Modified and orders by it ascending. Errors from fn are returned
// unchanged.
func (c *Client) Read(ctx context.Context, q connectors.Query, fn func(connectors.Page) error) error {
	if q.Entity.Name == "" {
		return errors.New("read: entity has no name")
	}
	if ch, ok, err := choiceOf(q.Entity); ok { // choices.go
		return c.readChoiceEntity(ctx, ch, err, q, fn)
	}
	params, err := c.queryParams(q)
	if err != nil {
		return wrap("read", q.Entity.Name, "", err)
	}
	u := c.resourceURL(c.setPath(q.Entity.Name), params...)
	k := c.keyer(q.Entity)
	return c.readPages(ctx, "read", q.Entity.Name, u, func(p connectors.Page) error {
		k.fill(p.Records)
		return fn(p)
	})
}

// queryParams is readParams with the $select a composite alternate key
// needs: its parts, not the key.
func (c *Client) queryParams(q connectors.Query) ([]param, error) {
	params, err := readParams(q)
	if err != nil {
		return nil, err
	}
	sel, err := c.keyer(q.Entity).selectFields(q.Fields, q.Entity)
	if err != nil {
		return nil, err
	}
	params[0].value = sel // $select
	return params, nil
}

// ReadEntries implements connectors.EntryReader: Read, with each page's
// records handed on as their raw JSON (entries), decoded in one pass with
// the buffers of one page reused for the next. An entity of choices, or
// one keyed by a composite alternate key, whose records Read makes up, is
// ErrUnsupported.
func (c *Client) ReadEntries(ctx context.Context, q connectors.Query, fields []string, fn func(connectors.Entries) error) error {
	if q.Entity.Name == "" {
		return errors.New("read: entity has no name")
	}
	if _, ok, _ := choiceOf(q.Entity); ok || c.keyer(q.Entity).composite() {
		return fmt.Errorf("read %s as entries: %w", q.Entity.Name, connectors.ErrUnsupported)
	}
	params, err := c.queryParams(q)
	if err != nil {
		return wrap("read", q.Entity.Name, "", err)
	}
	d := newCollectionDecoder(fields, false)
	var answered time.Time // the first answer's Date: see connectors.Page.Date
	return c.followPages(ctx, "read", q.Entity.Name, c.resourceURL(c.setPath(q.Entity.Name), params...),
		func(n int, date time.Time, body io.Reader, records *int, fnErr *error) (page, error) {
			if n == 1 {
				answered = date // even when this page holds no record
			}
			var p page
			err := d.decode(body, nil, func(es *entries) error {
				if es.Len() == 0 {
					return nil
				}
				*records += es.Len()
				es.date = answered
				*fnErr = fn(es)
				return *fnErr
			}, map[string]*string{"@odata.context": &p.context, "@odata.nextLink": &p.nextLink})
			return p, err
		})
}

// readPages fetches the collection at u and every page after it, passing
// the records of each page to fn as they are decoded (a large page in
// several parts; see streamPage), under the client's ReadLimits.
func (c *Client) readPages(ctx context.Context, op, entity, u string, fn func(connectors.Page) error) error {
	d := newCollectionDecoder(nil, false)
	var answered time.Time // the first answer's Date: see connectors.Page.Date
	return c.followPages(ctx, op, entity, u, func(n int, date time.Time, body io.Reader, records *int, fnErr *error) (page, error) {
		if n == 1 {
			answered = date // even when this page holds no record
		}
		return d.streamPage(body, func(recs []connectors.Record) error {
			*records += len(recs)
			*fnErr = fn(connectors.Page{Records: recs, Date: answered})
			return *fnErr
		})
	})
}

// pageDecoder decodes the body of page n of a read, answered at date,
// counting the records it hands on in *records and keeping the first
// error of the caller's in *fnErr. It returns what the page links to.
type pageDecoder func(n int, date time.Time, body io.Reader, records *int, fnErr *error) (page, error)

// followPages fetches the collection at u and every page after it,
// decoding each with decode, under the client's ReadLimits.
//
// A nextLink back to a page already read fails the read: a server that
// cycles would otherwise hand the same records over and over, forever.
//
// While a page is decoded, the next one is already asked for when its
// link can be read off the end of the page (tailNextLink): the server
// prepares a page while the caller stages the last, where one waited for
// the other. The link decoded decides: the page fetched ahead is used only
// when it is the page the link decoded points to, and is dropped unseen
// otherwise, or when the read stops before it.
func (c *Client) followPages(ctx context.Context, op, entity, u string, decode pageDecoder) error {
	seen := map[string]bool{}
	budget := c.limits.Budget()
	var ahead *pageAhead
	defer func() { ahead.drop() }()
	// The chunks of the page before the last, decoded, read into again:
	// a page's body is megabytes.
	var spare [][]byte
	for n := 1; u != ""; n++ {
		if seen[u] {
			return wrap(op, entity, "", fmt.Errorf("the server's paging cycles: page %d links back to a page already read", n))
		}
		seen[u] = true
		if err := budget.Page(); err != nil {
			return wrap(op, entity, "", err)
		}
		var got *fetchedPage
		if ahead != nil && ahead.url == u {
			got = ahead.wait()
		} else {
			ahead.drop()
			got = c.fetchPage(ctx, u, spare)
			spare = nil
		}
		ahead = nil
		if got.err == nil && got.whole {
			if next, ok := c.aheadURL(u, got.body); ok && !seen[next] && budget.HasPage() {
				ahead = c.fetchAhead(ctx, next, spare)
				spare = nil
			}
		}
		records := 0
		var fnErr error
		p, err := c.decodePage(got, budget, func(date time.Time, body io.Reader) (page, error) {
			return decode(n, date, body, &records, &fnErr)
		})
		if fnErr != nil {
			return fnErr
		}
		if err != nil {
			return wrap(op, entity, "", err)
		}
		if got.whole { // a larger page's chunks were let go as decoded
			spare = got.body
		}
		c.log.DebugContext(ctx, "odata: page", "entity", entity, "page", n, "records", records)
		if u, err = c.nextURL(u, p.context, p.nextLink); err != nil {
			return wrap(op, entity, "", err)
		}
	}
	return nil
}

// aheadBytes is the most of a page's body read before it is decoded, so
// that its nextLink can be seen and the next page asked for: a larger
// page is decoded as it arrives, and the page after it is asked for
// once it is decoded.
const aheadBytes = 4 << 20

// fetchedPage is a page's answer, its body read ahead of decoding, in
// chunks: body is all of it when whole, else its first aheadBytes, the
// rest still to be read from rest. readErr ended the reading of the
// body, to be seen by the decoder after body; err is the request's.
type fetchedPage struct {
	url     *url.URL // as requested, for errors
	date    time.Time
	body    [][]byte
	whole   bool
	rest    io.ReadCloser
	readErr error
	err     error
	cancel  context.CancelFunc // of a page fetched ahead, once read
}

// fetchPage GETs the page at u and reads its body, as much of it as
// aheadBytes allows, into the chunks of spare first.
func (c *Client) fetchPage(ctx context.Context, u string, spare [][]byte) *fetchedPage {
	f := &fetchedPage{}
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		f.err = err
		return f
	}
	f.url = req.URL
	if pref := c.readPreferences(); pref != "" {
		req.Header.Set("Prefer", pref)
	}
	resp, err := c.do(req)
	if err != nil {
		f.err = err
		return f
	}
	f.date = connectors.ResponseDate(resp.Header)
	body := transport.LimitReader(resp.Body, c.maxBody)
	var n int
	f.body, n, f.readErr = readChunks(spare, body, aheadBytes+1)
	if f.readErr == nil && n <= aheadBytes {
		f.whole = true
		resp.Body.Close()
		return f
	}
	if f.readErr != nil {
		resp.Body.Close()
		return f
	}
	f.rest = struct {
		io.Reader
		io.Closer
	}{body, resp.Body}
	return f
}

// bodyChunkBytes is the size of the chunks a page's body is read into.
const bodyChunkBytes = 256 << 10

// readChunks reads r to its end, or most bytes of it, into chunks, those
// of spare first: read whole into one slice, a page grew by copies that
// made several times its size of garbage. n is the bytes read.
func readChunks(spare [][]byte, r io.Reader, most int) (chunks [][]byte, n int, err error) {
	for n < most {
		var c []byte
		if len(spare) > 0 {
			c, spare = spare[0][:0], spare[1:]
		}
		if cap(c) == 0 {
			c = make([]byte, 0, bodyChunkBytes)
		}
		for len(c) < cap(c) && n < most && err == nil {
			var k int
			k, err = r.Read(c[len(c):min(cap(c), len(c)+most-n)])
			c, n = c[:len(c)+k], n+k
		}
		chunks = append(chunks, c)
		if err == io.EOF {
			return chunks, n, nil
		}
		if err != nil {
			return chunks, n, err
		}
	}
	return chunks, n, nil
}

// close releases what f still holds of its answer.
func (f *fetchedPage) close() {
	if f.rest != nil {
		f.rest.Close()
	}
	if f.cancel != nil {
		f.cancel()
	}
}

// decodePage decodes a fetched page's body, counted against budget, with
// the answer's Date: the decoder reads the same bytes, and the same error
// after them, as it did reading the answer's body as it arrived.
func (c *Client) decodePage(f *fetchedPage, budget *connectors.ReadBudget, decode func(time.Time, io.Reader) (page, error)) (page, error) {
	defer f.close()
	if f.err != nil {
		return page{}, f.err
	}
	// The chunks of a page larger than aheadBytes are let go as they
	// are decoded, not held until the page's end.
	var body io.Reader = &chunkReader{chunks: f.body, drop: !f.whole}
	switch {
	case f.rest != nil:
		body = io.MultiReader(body, f.rest)
	case f.readErr != nil:
		body = io.MultiReader(body, errorReader{f.readErr})
	}
	p, err := decode(f.date, budget.Reader(body))
	if err := budget.Err(); err != nil {
		return page{}, err
	}
	if err != nil {
		return page{}, fmt.Errorf("decode %s: %w", redact.PathQuery(f.url), err)
	}
	p.date = f.date
	return p, nil
}

// chunkReader reads chunks one after the other, dropping each once read
// when drop is set.
type chunkReader struct {
	chunks [][]byte
	at     int // in chunks[0]
	drop   bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.chunks) > 0 && r.at == len(r.chunks[0]) {
		if r.drop {
			r.chunks[0] = nil
		}
		r.chunks, r.at = r.chunks[1:], 0
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0][r.at:])
	r.at += n
	return n, nil
}

type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) { return 0, r.err }

// pageAhead is a page fetched while the one before it is decoded.
type pageAhead struct {
	url    string
	cancel context.CancelFunc
	done   chan *fetchedPage
}

// fetchAhead starts fetching the page at u, into spare (fetchPage).
func (c *Client) fetchAhead(ctx context.Context, u string, spare [][]byte) *pageAhead {
	ctx, cancel := context.WithCancel(ctx)
	a := &pageAhead{url: u, cancel: cancel, done: make(chan *fetchedPage, 1)}
	go func() { a.done <- c.fetchPage(ctx, u, spare) }()
	return a
}

// wait returns the page fetched, which cancels its request once closed:
// its body may still be being read (fetchPage).
func (a *pageAhead) wait() *fetchedPage {
	f := <-a.done
	f.cancel, a.cancel = a.cancel, nil
	return f
}

// drop abandons the page, if any, and what its answer holds.
func (a *pageAhead) drop() {
	if a == nil || a.cancel == nil {
		return
	}
	a.cancel()
	(<-a.done).close()
	a.cancel = nil
}

// aheadURL is the URL of the page the nextLink at the end of body points
// to, as nextURL resolves it, when it can be told without decoding the
// page (tailNextLink); the context URL is taken from the start of the
// page, where OData services write it.
func (c *Client) aheadURL(current string, body [][]byte) (string, bool) {
	if len(body) == 0 {
		return "", false
	}
	// The link is in the last chunk, or in the end of the one before
	// and the last, short; one longer than linkBytes is not guessed.
	const linkBytes = 16 << 10
	tail := body[len(body)-1]
	if len(tail) < linkBytes && len(body) > 1 {
		before := body[len(body)-2]
		tail = append(slices.Clip(before[max(0, len(before)-linkBytes):]), tail...)
	}
	link, ok := tailNextLink(tail)
	if !ok {
		return "", false
	}
	context, _ := headContext(body[0])
	next, err := c.nextURL(current, context, link)
	return next, err == nil && next != ""
}

// tailNextLink reads the nextLink off the end of a page, where OData
// services write it: ..."@odata.nextLink":"<link>"} and white space. It
// is a guess, which the page's decoding confirms or not.
func tailNextLink(b []byte) (string, bool) {
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) < 2 || b[len(b)-1] != '}' {
		return "", false
	}
	b = bytes.TrimRight(b[:len(b)-1], " \t\r\n")
	if len(b) == 0 || b[len(b)-1] != '"' {
		return "", false
	}
	// The string's opening quote is the last one not escaped: one after
	// an even run of backslashes.
	open := -1
	for i := len(b) - 2; i >= 0 && open < 0; i-- {
		if b[i] != '"' {
			continue
		}
		slashes := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			slashes++
		}
		if slashes%2 == 0 {
			open = i
		}
	}
	if open < 0 {
		return "", false
	}
	name := bytes.TrimRight(b[:open], " \t\r\n")
	if len(name) == 0 || name[len(name)-1] != ':' {
		return "", false
	}
	if !bytes.HasSuffix(bytes.TrimRight(name[:len(name)-1], " \t\r\n"), []byte(`"@odata.nextLink"`)) {
		return "", false
	}
	v, err := ijson.Decode(b[open:])
	link, isString := v.(string)
	return link, err == nil && isString
}

// headContext reads the context URL off the start of a page, where OData
// services write it: {"@odata.context":"<url>", as tailNextLink guesses.
func headContext(b []byte) (string, bool) {
	b = bytes.TrimLeft(b, " \t\r\n")
	rest, ok := bytes.CutPrefix(b, []byte(`{"@odata.context":"`))
	if !ok {
		return "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}
