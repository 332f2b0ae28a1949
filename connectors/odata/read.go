package odata

import (
	"context"
	"errors"
	"fmt"
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

// readPages fetches the collection at u and every page after it, passing
// each non-empty page to fn.
//
// A nextLink back to a page already read fails the read: a server that
// cycles would otherwise hand the same records over and over, forever.
func (c *Client) readPages(ctx context.Context, op, entity, u string, fn func(connectors.Page) error) error {
	seen := map[string]bool{}
	var answered time.Time // the first answer's Date: see connectors.Page.Date
	for n := 1; u != ""; n++ {
		if seen[u] {
			return wrap(op, entity, "", fmt.Errorf("the server's paging cycles: page %d links back to a page already read", n))
		}
		seen[u] = true
		p, err := c.getPage(ctx, u)
		if err != nil {
			return wrap(op, entity, "", err)
		}
		if n == 1 {
			answered = p.date
		}
		c.log.DebugContext(ctx, "odata: page", "entity", entity, "page", n, "records", len(p.records))
		if len(p.records) > 0 {
			if err := fn(connectors.Page{Records: p.records, Date: answered}); err != nil {
				return err
			}
		}
		if u, err = c.nextURL(u, p.context, p.nextLink); err != nil {
			return wrap(op, entity, "", err)
		}
	}
	return nil
}

// getPage GETs and decodes one page.
func (c *Client) getPage(ctx context.Context, u string) (page, error) {
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
	p, err := decodePage(transport.LimitReader(resp.Body, c.maxBody))
	if err != nil {
		return page{}, fmt.Errorf("decode %s: %w", redact.PathQuery(req.URL), err)
	}
	p.date = connectors.ResponseDate(resp.Header)
	return p, nil
}
