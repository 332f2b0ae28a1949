package odata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/couplerhq/coupler/connectors"
)

// GetFolded implements connectors.FoldingGetter with the canonical function
// tolower (OData v4.0 Part 2, URL Conventions, 5.1.1.5.2):
//
//	GET {base}/{entity}?$select=…&$filter=tolower(field) eq 'value' or …
//
// with each value lower-cased, so that a match that ignores case finds its
// candidates on a server whose collation does not. Not every service
// implements tolower: Dataverse documents only contains, endswith and
// startswith among the OData functions ("Filter rows using OData"), and
// Business Central's "Using filter expressions in OData URIs" lists none of
// the case functions. A 400 or 501 answer is taken as that, reported as
// connectors.ErrUnsupported, and remembered, so that the engine reads
// widely and compares itself without asking again.
func (c *Client) GetFolded(ctx context.Context, e connectors.Entity, field string, fields []string, values []string) ([]connectors.Record, error) {
	if e.Name == "" || e.Key == "" || field == "" {
		return nil, errors.New("get: entity needs a name, a key and the field to match")
	}
	if ch, ok, err := parseChoice(e.Name); ok { // choices.go
		if err != nil {
			return nil, wrap("get", e.Name, "", err)
		}
		e.Key = field
		return c.getChoiceEntity(ctx, ch, e, uniqueIDs(values), true)
	}
	if c.noFold.Load() {
		return nil, wrap("get", e.Name, "", fmt.Errorf("tolower in $filter: %w", connectors.ErrUnsupported))
	}
	values = uniqueIDs(values)
	if len(values) == 0 {
		return nil, nil
	}
	k := c.keyer(e)
	sel, err := k.selectFields(fields, e)
	if err != nil {
		return nil, wrap("get", e.Name, "", err)
	}
	recs, err := c.getChunks(ctx, e, k, sel, values, func(chunk []string) (string, error) {
		var b strings.Builder
		for i, v := range chunk {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString("tolower(" + field + ") eq ")
			b.WriteString("'" + strings.ReplaceAll(strings.ToLower(v), "'", "''") + "'")
		}
		return b.String(), nil
	})
	var herr *Error
	if errors.As(err, &herr) && (herr.StatusCode == http.StatusBadRequest || herr.StatusCode == http.StatusNotImplemented) {
		c.noFold.Store(true)
		c.log.DebugContext(ctx, "odata: the service refuses tolower; matches that ignore case read widely", "entity", e.Name, "status", herr.StatusCode)
		return nil, fmt.Errorf("%w: %w", connectors.ErrUnsupported, err)
	}
	return recs, err
}

var _ connectors.FoldingGetter = (*Client)(nil)
