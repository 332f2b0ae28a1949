package odata

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/couplerhq/coupler/connectors"
)

// Get implements connectors.Connector. It asks for the ids in chunks of 50,
// each as one filtered query
//
//	GET {root}/{entity_path}/{entity}?$select=…&$filter=key eq X or key eq Y …
//
// with up to MaxConcurrency chunks in flight. Records come back in no
// particular order; ids with no record are simply absent. Duplicate and
// empty ids are ignored.
func (c *Client) Get(ctx context.Context, e connectors.Entity, fields []string, ids []string) ([]connectors.Record, error) {
	if e.Name == "" || e.Key == "" {
		return nil, errors.New("get: entity needs a name and a key field")
	}
	ids = uniqueIDs(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	if ch, ok, err := parseChoice(e.Name); ok { // choices.go
		if err != nil {
			return nil, wrap("get", e.Name, "", err)
		}
		return c.getChoiceEntity(ctx, ch, e, ids, false)
	}
	k := c.keyer(e)
	sel, err := k.selectFields(fields, e)
	if err != nil {
		return nil, wrap("get", e.Name, "", err)
	}
	return c.getChunks(ctx, e, k, sel, ids, k.filter)
}

// getChunks reads the records of e that filter selects, for ids in chunks
// of getChunk, each one filtered query, up to MaxConcurrency at a time.
func (c *Client) getChunks(ctx context.Context, e connectors.Entity, k keyer, sel string, ids []string, filter func([]string) (string, error)) ([]connectors.Record, error) {
	var (
		mu  sync.Mutex
		out = make([]connectors.Record, 0, len(ids))
	)
	collect := func(p connectors.Page) error {
		mu.Lock()
		defer mu.Unlock()
		k.fill(p.Records)
		out = append(out, p.Records...)
		return nil
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency)
	for start := 0; start < len(ids) && gctx.Err() == nil; start += getChunk {
		chunk := ids[start:min(start+getChunk, len(ids))]
		f, err := filter(chunk)
		if err != nil {
			return nil, wrap("get", e.Name, "", err)
		}
		u := c.resourceURL(c.setPath(e.Name), param{"$select", sel}, param{"$filter", f})
		g.Go(func() error {
			// A chunk may span pages when the server's page size is small.
			return c.readPages(gctx, "get", e.Name, u, collect)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, wrap("get", e.Name, "", err)
	}
	return out, nil
}

// uniqueIDs drops empty and repeated ids, keeping the first occurrence.
func uniqueIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
