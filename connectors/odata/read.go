package odata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
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
func (c *Client) followPages(ctx context.Context, op, entity, u string, decode pageDecoder) error {
	seen := map[string]bool{}
	budget := c.limits.Budget()
	for n := 1; u != ""; n++ {
		if seen[u] {
			return wrap(op, entity, "", fmt.Errorf("the server's paging cycles: page %d links back to a page already read", n))
		}
		seen[u] = true
		if err := budget.Page(); err != nil {
			return wrap(op, entity, "", err)
		}
		records := 0
		var fnErr error
		p, err := c.getPage(ctx, u, budget, func(date time.Time, body io.Reader) (page, error) {
			return decode(n, date, body, &records, &fnErr)
		})
		if fnErr != nil {
			return fnErr
		}
		if err != nil {
			return wrap(op, entity, "", err)
		}
		c.log.DebugContext(ctx, "odata: page", "entity", entity, "page", n, "records", records)
		if u, err = c.nextURL(u, p.context, p.nextLink); err != nil {
			return wrap(op, entity, "", err)
		}
	}
	return nil
}

// getPage GETs one page, counted against budget, and decodes its body
// with the answer's Date.
func (c *Client) getPage(ctx context.Context, u string, budget *connectors.ReadBudget, decode func(time.Time, io.Reader) (page, error)) (page, error) {
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return page{}, err
	}
	if pref := c.readPreferences(); pref != "" {
		req.Header.Set("Prefer", pref)
	}
	resp, err := c.do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	date := connectors.ResponseDate(resp.Header)
	p, err := decode(date, budget.Reader(transport.LimitReader(resp.Body, c.maxBody)))
	if err := budget.Err(); err != nil {
		return page{}, err
	}
	if err != nil {
		return page{}, fmt.Errorf("decode %s: %w", redact.PathQuery(req.URL), err)
	}
	p.date = date
	return p, nil
}
