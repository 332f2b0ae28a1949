package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/couplerhq/coupler/connectors"
)

// Get implements connectors.Connector. When e.Key is the entity's key field
// it sends the get request once per id, up to MaxConcurrency at a time, a
// 404 meaning the record is absent. For any other field (match candidates
// are looked up by, say, an account number) a REST API has no general way
// to ask, so Get lists the entity and keeps the records whose field holds
// one of ids.
func (c *Client) Get(ctx context.Context, e connectors.Entity, fields []string, ids []string) ([]connectors.Record, error) {
	if e.Name == "" || e.Key == "" {
		return nil, errors.New("get: entity needs a name and a key field")
	}
	res, err := c.resource(e.Name)
	if err != nil {
		return nil, wrap("get", e.Name, "", err)
	}
	want := map[string]bool{}
	var uniq []string
	for _, id := range ids {
		if id != "" && !want[id] {
			want[id] = true
			uniq = append(uniq, id)
		}
	}
	if len(uniq) == 0 {
		return nil, nil
	}
	var (
		mu  sync.Mutex
		out []connectors.Record
	)
	if e.Key != res.keyField() {
		err := c.readPages(ctx, e, &res, res.query, func(r connectors.Record) bool {
			return want[keyString(r[e.Key])]
		}, func(p connectors.Page) error {
			out = append(out, p.Records...)
			return nil
		})
		return out, err
	}
	top := res.topWins(e)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency)
	for _, id := range uniq {
		g.Go(func() error {
			if err := checkID(id); err != nil {
				return wrap("get", e.Name, id, err)
			}
			resp, err := c.send(gctx, res.get.method, c.url(res.get.path, id, res.getQuery...), nil, nil)
			var re *Error
			if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.StatusCode == http.StatusGone) {
				return nil
			}
			if err != nil {
				return wrap("get", e.Name, id, err)
			}
			rec, err := decodeItem(resp.body, &res, top)
			if err != nil {
				return wrap("get", e.Name, id, fmt.Errorf("decode %s: %w", resp.url, err))
			}
			res.modified.normalize(rec, e.Modified)
			if _, ok := rec[connectors.ETagField]; !ok && res.etag != "" {
				if tag := resp.header.Get("ETag"); tag != "" {
					rec[connectors.ETagField] = tag
				}
			}
			mu.Lock()
			out = append(out, rec)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// keyField is the field that {id} stands for.
func (res *resource) keyField() string {
	if res.key == "" {
		return "id"
	}
	return res.key
}
