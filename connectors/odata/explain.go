package odata

import (
	"github.com/couplerhq/coupler/connectors"
)

var (
	_ connectors.Explainer        = (*Client)(nil)
	_ connectors.ChangesExplainer = (*Client)(nil)
)

// ExplainRead returns the URL of the first request Read would send for q,
// so that `coupler plan --explain` can show the exact query.
func (c *Client) ExplainRead(q connectors.Query) (string, error) {
	if ch, ok, err := choiceOf(q.Entity); ok { // choices.go
		return c.choiceURL(ch), err
	}
	params, err := c.queryParams(q)
	if err != nil {
		return "", err
	}
	return c.resourceURL(c.setPath(q.Entity.Name), params...), nil
}

// ExplainGet returns the URL of the first request Get would send for ids.
func (c *Client) ExplainGet(e connectors.Entity, fields []string, ids []string) string {
	if ch, ok, _ := choiceOf(e); ok { // choices.go: all options, kept by value
		return c.choiceURL(ch)
	}
	if len(ids) > getChunk {
		ids = ids[:getChunk]
	}
	k := c.keyer(e)
	sel, _ := k.selectFields(fields, e)
	filter, err := k.filter(ids)
	if err != nil {
		filter = "(" + err.Error() + ")"
	}
	return c.resourceURL(c.setPath(e.Name), param{"$select", sel}, param{"$filter", filter})
}

// ExplainChanges returns the URL of the first request Changes would send
// for q: the entity set with its $select, and the Prefer header that asks
// for a delta link, without a token; the delta link with one.
func (c *Client) ExplainChanges(q connectors.ChangesQuery) (string, error) {
	if q.Token != "" {
		return c.tokenURL(q.Token)
	}
	sel, err := c.keyer(q.Entity).selectFields(q.Fields, q.Entity)
	if err != nil {
		return "", err
	}
	return c.resourceURL(c.setPath(q.Entity.Name), param{"$select", sel}) + "  (Prefer: " + preferTrackChanges + ")", nil
}
