package odata

// Change tracking: reads through OData delta links (connectors.ChangeTracker).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
)

var _ connectors.ChangeTracker = (*Client)(nil)

// Dataverse's error codes for change tracking ("Web service error codes",
// Microsoft Dataverse): ChangeTrackingNotEnabledForEntity, "Entity {0} isn't
// enabled for change tracking.", and ExpiredVersionStamp, "Version stamp
// associated with the client has expired. Please perform a full sync."
const (
	codeTrackingNotEnabled = "0x80072491"
	codeExpiredVersion     = "0x80044352"
)

// preferTrackChanges asks for a delta link with a read. "Use change
// tracking to synchronize data with external systems" (Dataverse Web API):
// a GET with Prefer: odata.track-changes returns the records and, on its
// last page, an @odata.deltaLink whose later GET returns what changed.
const preferTrackChanges = "odata.track-changes"

// Changes implements connectors.ChangeTracker with OData change tracking.
// With no token it sends
//
//	GET {base}/{entity}?$select=…   Prefer: odata.track-changes
//
// and follows @odata.nextLink to the last page, whose @odata.deltaLink is
// the token it returns. With a token it GETs the delta link, whose pages
// hold the changed records and the deleted ones, and returns the new delta
// link. No $filter or $orderby is sent: Dataverse refuses them with change
// tracking ("Query options not supported in Change Tracking Web API
// request": $filter, $orderby, $expand and $top).
//
// The token is the delta link as an absolute URL; it must be on the
// service's origin, as next links must, since the request carries the
// credentials.
func (c *Client) Changes(ctx context.Context, q connectors.ChangesQuery, fn func(connectors.ChangePage) error) (string, error) {
	name := q.Entity.Name
	if name == "" {
		return "", errors.New("changes: entity has no name")
	}
	k := c.keyer(q.Entity)
	if k.alt != nil {
		// A deleted entry names the record by its primary key only.
		return "", wrap("changes", name, "", fmt.Errorf("%w: change tracking names deleted records by their primary key, and the mapping keys %s by the alternate key %s", connectors.ErrUnsupported, name, q.Entity.Key))
	}
	var u string
	if q.Token == "" {
		sel, err := k.selectFields(q.Fields, q.Entity)
		if err != nil {
			return "", wrap("changes", name, "", err)
		}
		u = c.resourceURL(c.setPath(name), param{"$select", sel})
	} else {
		t, err := c.tokenURL(q.Token)
		if err != nil {
			return "", wrap("changes", name, "", err)
		}
		u = t
	}
	seen := map[string]bool{}
	budget := c.limits.Budget()
	var answered time.Time
	for n := 1; ; n++ {
		if seen[u] {
			return "", wrap("changes", name, "", fmt.Errorf("the server's paging cycles: page %d links back to a page already read", n))
		}
		seen[u] = true
		if err := budget.Page(); err != nil {
			return "", wrap("changes", name, "", err)
		}
		records := 0
		var fnErr error
		p, err := c.getChangesPage(ctx, u, q.Token == "", budget, func(date time.Time, recs []connectors.Record) error {
			if n == 1 {
				answered = date // see connectors.Page.Date
			}
			records += len(recs)
			fnErr = fn(connectors.ChangePage{Records: recs, Date: answered})
			return fnErr
		})
		if fnErr != nil {
			return "", fnErr
		}
		if err != nil {
			return "", wrap("changes", name, "", err)
		}
		if n == 1 {
			answered = p.date
		}
		c.log.DebugContext(ctx, "odata: changes page", "entity", name, "page", n, "records", records, "removed", len(p.removed))
		if len(p.removed) > 0 {
			if err := fn(connectors.ChangePage{Removed: p.removed, Date: answered}); err != nil {
				return "", err
			}
		}
		if p.nextLink != "" {
			if u, err = c.payloadLink(u, p.context, p.nextLink, "nextLink"); err != nil {
				return "", wrap("changes", name, "", err)
			}
			continue
		}
		if p.deltaLink == "" {
			return "", wrap("changes", name, "", fmt.Errorf("%w: the last page has no @odata.deltaLink: the service does not track changes of %s", connectors.ErrUnsupported, name))
		}
		next, err := c.payloadLink(u, p.context, p.deltaLink, "deltaLink")
		if err != nil {
			return "", wrap("changes", name, "", err)
		}
		return next, nil
	}
}

// tokenURL checks a stored delta link before it is sent. One that is not
// on the service's origin (the base URL changed since it was stored) is
// useless: it is reported as expired, so that the caller reads afresh.
func (c *Client) tokenURL(token string) (string, error) {
	u, err := url.Parse(token)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("%w: the stored delta link is not an absolute URL", connectors.ErrTokenExpired)
	}
	if !transport.SameOrigin(u, c.base) || u.User != nil {
		return "", fmt.Errorf("%w: the stored delta link is not on the service origin %s (was base_url changed?)", connectors.ErrTokenExpired, transport.Origin(c.base))
	}
	return u.String(), nil
}

// payloadLink resolves a next or delta link found in a page read from
// current. The OData JSON Format ("Relative URLs") makes a relative URL in
// a payload relative to the payload's context URL, itself relative to the
// request URL. The absolute link then passes nextURL's checks (the
// service's origin, no credentials); nextURL is given no current page,
// since a delta link may rightly name the page just read (nothing changed
// since), and the read loop catches a next link that cycles.
func (c *Client) payloadLink(current, context, link, what string) (string, error) {
	abs, err := payloadURL(current, context, link)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	next, err := c.nextURL("", "", abs.String())
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return next, nil
}

// changesPage is what a page of a change-tracking read says besides its
// records, which streamChangesPage hands on as it decodes them.
type changesPage struct {
	removed   []string
	nextLink  string
	deltaLink string
	context   string
	date      time.Time
}

// getChangesPage GETs one page, counted against budget, and streams its
// records to emit with the answer's Date; see streamChangesPage. start
// asks for tracking; a delta link carries it in its token, so its pages
// need not.
func (c *Client) getChangesPage(ctx context.Context, u string, start bool, budget *connectors.ReadBudget,
	emit func(time.Time, []connectors.Record) error) (changesPage, error) {
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return changesPage{}, err
	}
	// The preferences of every read (page size, lookups' target tables),
	// plus tracking on the first.
	prefs := c.readPreferences()
	if start {
		prefs = strings.Trim(preferTrackChanges+","+prefs, ",")
	}
	if prefs != "" {
		req.Header.Set("Prefer", prefs)
	}
	resp, err := c.do(req)
	if err != nil {
		return changesPage{}, trackingError(err, start)
	}
	defer resp.Body.Close()
	date := connectors.ResponseDate(resp.Header)
	p, err := streamChangesPage(budget.Reader(transport.LimitReader(resp.Body, c.maxBody)),
		func(recs []connectors.Record) error { return emit(date, recs) })
	if err := budget.Err(); err != nil {
		return changesPage{}, err
	}
	if err != nil {
		return changesPage{}, fmt.Errorf("decode %s: %w", redact.PathQuery(req.URL), err)
	}
	p.date = date
	return p, nil
}

// trackingError tells the two refusals a caller acts on from other errors:
// a table whose change tracking is off (Dataverse's
// ChangeTrackingNotEnabledForEntity), and a delta link the service no
// longer honours, which OData answers with 410 Gone ("OData Version 4.01
// Part 1: Protocol", Delta Links; Business Central: "Using delta links
// with APIs") and Dataverse with ExpiredVersionStamp (its change tracking
// keeps changes for ExpireChangeTrackingInDays, 7 days by default).
func trackingError(err error, start bool) error {
	var oe *Error
	if !errors.As(err, &oe) {
		return err
	}
	switch {
	case oe.Code == codeTrackingNotEnabled:
		return fmt.Errorf("%w: change tracking is not enabled for this table (in Dataverse, turn on Track changes in the table's properties): %w", connectors.ErrUnsupported, err)
	case !start && (oe.StatusCode == http.StatusGone || oe.Code == codeExpiredVersion):
		return fmt.Errorf("%w: %w", connectors.ErrTokenExpired, err)
	}
	return err
}

// streamChangesPage decodes a page of a change-tracking read: a collection
// response whose value array may hold deleted entries beside records, and
// whose last page carries @odata.deltaLink. Its records go to emit as they
// are decoded (see streamPage); the page returned has the keys of the
// deleted entries and the links.
//
// Dataverse writes a deleted entry in the OData 4.0 JSON form ("Use change
// tracking to synchronize data with external systems"):
//
//	{"@odata.context": "…/$metadata#accounts/$deletedEntity", "id": "<guid>", "reason": "deleted"}
//
// OData 4.01 writes {"@removed": {"reason": "deleted"}, "@id": "…"} (or the
// key properties instead of @id). The id may be a bare key or an entity id,
// accounts(<key>); the key is what is reported.
func streamChangesPage(r io.Reader, emit func([]connectors.Record) error) (changesPage, error) {
	var p changesPage
	keep := func(rec connectors.Record) (bool, error) {
		if !isDeletedEntry(rec) {
			return true, nil
		}
		id, _ := rec["id"].(string)
		if id == "" {
			id, _ = rec["@id"].(string)
		}
		key := removedKey(id)
		if key == "" {
			return false, errors.New("is a deleted entry without an id")
		}
		p.removed = append(p.removed, key)
		return false, nil
	}
	err := newCollectionDecoder(nil, true).streamRecords(r, keep, emit,
		map[string]*string{"@odata.context": &p.context, "@odata.nextLink": &p.nextLink, "@odata.deltaLink": &p.deltaLink})
	return p, err
}

// isDeletedEntry reports whether a value entry stands for a removed record.
func isDeletedEntry(rec connectors.Record) bool {
	if _, ok := rec["@removed"]; ok {
		return true
	}
	ctx, _ := rec["@odata.context"].(string)
	return strings.HasSuffix(ctx, "/$deletedEntity")
}

// removedKey is the key in a deleted entry's id: the id itself when it is a
// bare key, else the key predicate of an entity id such as
// https://h/api/data/v9.2/accounts(2e45…) or Customers('ANTON'), with a
// string literal's quotes removed.
func removedKey(id string) string {
	if !strings.HasSuffix(id, ")") {
		return id
	}
	open := strings.LastIndexByte(id, '(')
	if open < 0 {
		return id
	}
	pred := id[open+1 : len(id)-1]
	if _, v, named := strings.Cut(pred, "="); named && !strings.Contains(pred, ",") {
		pred = v
	}
	if unescaped, err := url.PathUnescape(pred); err == nil {
		pred = unescaped
	}
	if len(pred) >= 2 && pred[0] == '\'' && pred[len(pred)-1] == '\'' {
		pred = strings.ReplaceAll(pred[1:len(pred)-1], "''", "'")
	}
	return pred
}
