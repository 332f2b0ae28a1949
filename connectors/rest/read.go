package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
)

// Read implements connectors.Connector. It sends the entity's list request
// with its fixed query, the page size and, for an incremental read, the
// since parameter, then follows the configured paging style to the last
// page, handing fn each non-empty page. When the entity has no since
// parameter an incremental read filters on q.Entity.Modified locally.
//
// The connector implements no connectors.FilterPusher, so q.Filter is
// empty and the engine evaluates every filter itself; q.Fields is not sent
// either, and the records keep all their fields.
func (c *Client) Read(ctx context.Context, q connectors.Query, fn func(connectors.Page) error) error {
	if q.Entity.Name == "" {
		return errors.New("read: entity has no name")
	}
	res, err := c.resource(q.Entity.Name)
	if err != nil {
		return wrap("read", q.Entity.Name, "", err)
	}
	keep := func(connectors.Record) bool { return true }
	base := append([]param(nil), res.query...)
	if !q.Since.IsZero() {
		switch {
		case res.sinceParam != "":
			base = append(base, param{res.sinceParam, res.sinceFormat(q.Since)})
		case q.Entity.Modified != "":
			keep = func(r connectors.Record) bool {
				t, ok := res.modified(r[q.Entity.Modified])
				return !ok || t.After(q.Since) // keep what cannot be judged
			}
		}
	}
	if c.pageSize > 0 && res.paging.SizeParam != "" {
		base = append(base, param{res.paging.SizeParam, strconv.Itoa(c.pageSize)})
	}
	return c.readPages(ctx, q.Entity, &res, base, keep, fn)
}

// readPages walks the pages of a list request.
func (c *Client) readPages(ctx context.Context, e connectors.Entity, res *resource, base []param, keep func(connectors.Record) bool, fn func(connectors.Page) error) error {
	key := res.key
	if key == "" {
		key = e.Key
	}
	top := res.topWins(e)
	pageNo, offset, cursor := res.paging.Start, 0, ""
	build := func() string {
		ps := base
		switch res.paging.Style {
		case PagingPage:
			ps = append(ps[:len(ps):len(ps)], param{res.paging.Param, strconv.Itoa(pageNo)})
		case PagingOffset:
			ps = append(ps[:len(ps):len(ps)], param{res.paging.Param, strconv.Itoa(offset)})
		case PagingCursor:
			ps = append(ps[:len(ps):len(ps)], param{res.paging.Param, cursor})
		}
		return c.url(res.list.path, "", ps...)
	}
	u := build()
	prev := ""
	// seen holds every page URL requested and every cursor received, so
	// that a server whose links or cursors cycle (A -> B -> A) fails the
	// read instead of handing the same records again until max_pages.
	seen := map[string]bool{u: true}
	budget := c.limits.Budget()
	var answered time.Time
	for n := 1; ; n++ {
		if err := budget.Page(); err != nil {
			return wrap("read", e.Name, "", err)
		}
		resp, err := c.send(ctx, res.list.method, u, nil, nil)
		if err != nil {
			return wrap("read", e.Name, "", err)
		}
		if err := budget.Bytes(int64(len(resp.body))); err != nil {
			return wrap("read", e.Name, "", err)
		}
		if n == 1 {
			// Every page carries the first answer's Date: see
			// connectors.Page.Date.
			answered = connectors.ResponseDate(resp.header)
		}
		p, err := decodeList(resp.body, res, top)
		if err != nil {
			return wrap("read", e.Name, "", fmt.Errorf("decode %s: %w", resp.url, err))
		}
		c.log.DebugContext(ctx, "rest: page", "entity", e.Name, "page", n, "records", len(p.records))
		got := len(p.records)
		// A page/offset server that ignores the parameter returns the same
		// page forever; its fingerprint catches that.
		fp := fingerprint(p.records, key)
		if got > 0 && fp == prev && (res.paging.Style == PagingPage || res.paging.Style == PagingOffset) {
			return wrap("read", e.Name, "", fmt.Errorf("page %d repeats the page before it; does the server ignore the %s parameter?", n, res.paging.Param))
		}
		prev = fp
		recs := p.records[:0]
		for _, r := range p.records {
			res.modified.normalize(r, e.Modified)
			if keep(r) {
				recs = append(recs, r)
			}
		}
		if len(recs) > 0 {
			if err := fn(connectors.Page{Records: recs, Date: answered}); err != nil {
				return err
			}
		}

		next := ""
		switch res.paging.Style {
		case PagingNone:
		case PagingNextLink:
			next = p.next
		case PagingLinkHeader:
			next = linkNext(resp.header)
		case PagingPage, PagingOffset:
			// Only an empty page ends the read: a server may cap the page
			// size below the one asked for, so a short page proves nothing.
			if got > 0 {
				pageNo++
				offset += got
				next = build()
			}
		case PagingCursor:
			// A cursor equal to the one just sent ends the read (some APIs
			// repeat the last cursor on the last page); an earlier one is a
			// cycle, caught below as a repeated URL.
			if p.next != "" && p.next != cursor {
				cursor = p.next
				next = build()
			}
		}
		if next == "" {
			return nil
		}
		if u, err = c.nextURL(u, next); err != nil {
			return wrap("read", e.Name, "", err)
		}
		if seen[u] {
			return wrap("read", e.Name, "", fmt.Errorf("page %d leads back to %s, a page already read: the server's %s paging cycles", n+1, redact.PathQueryString(u), res.paging.Style))
		}
		seen[u] = true
	}
}

// fingerprint identifies a page by its records' keys.
func fingerprint(recs []connectors.Record, key string) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(keyString(r[key]))
		b.WriteByte(0)
	}
	return b.String()
}

// nextURL resolves a next link against the current page's URL and checks
// it: it must stay on the base URL's origin, because the request carries our
// credentials, and must not point back at the page itself.
func (c *Client) nextURL(current, link string) (string, error) {
	cur, err := url.Parse(current)
	if err != nil {
		return "", fmt.Errorf("parse page url: %w", err)
	}
	ref, err := url.Parse(link)
	if err != nil {
		return "", errors.New("next link does not parse")
	}
	next := cur.ResolveReference(ref)
	if !transport.SameOrigin(next, c.base) {
		return "", fmt.Errorf("next link to %s refused: it leaves the service origin %s",
			transport.Origin(next), transport.Origin(c.base))
	}
	if next.User != nil {
		return "", errors.New("next link refused: it carries credentials")
	}
	s := next.String()
	if s == current {
		return "", fmt.Errorf("next link %s points at the page itself", redact.PathQuery(next))
	}
	return s, nil
}

// linkNext returns the target of the rel="next" link of an RFC 8288 Link
// header, or "".
func linkNext(h http.Header) string {
	for _, v := range h.Values("Link") {
		for len(v) > 0 {
			v = strings.TrimLeft(v, " ,")
			if !strings.HasPrefix(v, "<") {
				break
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			v = v[end+1:]
			// Parameters run to the next comma outside quotes.
			i, quoted := 0, false
			for ; i < len(v); i++ {
				if v[i] == '"' {
					quoted = !quoted
				} else if v[i] == ',' && !quoted {
					break
				}
			}
			params := v[:i]
			v = v[i:]
			for _, p := range strings.Split(params, ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}
