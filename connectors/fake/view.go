package fake

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/couplerhq/coupler/internal/jsontext"
)

// sortTerm is a resolved $orderby item.
type sortTerm struct {
	col  int // -1: no such field, sorts as null
	desc bool
}

// orderSpec is a cache key for a list of sort terms.
func orderSpec(terms []sortTerm) string {
	var b strings.Builder
	for _, t := range terms {
		b.WriteString(strconv.Itoa(t.col))
		if t.desc {
			b.WriteByte('-')
		}
		b.WriteByte(',')
	}
	return b.String()
}

// viewCache keeps a table's rows sorted in the orders recently asked for,
// so that paging through a set sorts it once rather than once per page. A
// view is valid for the table generation it was built from; any write makes
// it stale and the next read rebuilds it.
type viewCache struct {
	mu    sync.Mutex
	views map[string]*view
}

type view struct {
	gen  uint64
	rows []*entry
}

// maxViews bounds the cached orders per table (each costs 8 bytes a row).
const maxViews = 4

// sorted returns every row of t ordered by terms, then by key. The caller
// holds the server's read lock, which keeps t.rows and t.gen still.
func (t *table) sorted(terms []sortTerm) []*entry {
	spec := orderSpec(terms)
	t.views.mu.Lock()
	defer t.views.mu.Unlock()
	if v, ok := t.views.views[spec]; ok && v.gen == t.gen {
		return v.rows
	}
	rows := make([]*entry, 0, len(t.rows))
	for _, e := range t.rows {
		rows = append(rows, e)
	}
	t.sortRows(rows, terms)
	if t.views.views == nil || len(t.views.views) >= maxViews {
		// Dropping every view is crude but bounded, and orders are few.
		t.views.views = map[string]*view{}
	}
	t.views.views[spec] = &view{gen: t.gen, rows: rows}
	return rows
}

// sortRows sorts rows by terms, then by key. Sort keys are extracted once
// per row rather than once per comparison.
func (t *table) sortRows(rows []*entry, terms []sortTerm) {
	if len(terms) == 0 {
		slices.SortFunc(rows, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
		return
	}
	type keyed struct {
		e    *entry
		vals []value
	}
	m := len(terms)
	vals := make([]value, len(rows)*m)
	ks := make([]keyed, len(rows))
	for i, e := range rows {
		vs := vals[i*m : (i+1)*m : (i+1)*m]
		for j, term := range terms {
			vs[j] = t.field(e, term.col)
		}
		ks[i] = keyed{e, vs}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return compareTuples(terms, a.vals, a.e.key, b.vals, b.e.key)
	})
	for i := range ks {
		rows[i] = ks[i].e
	}
}

// compareTuples orders two rows given their sort values and keys.
func compareTuples(terms []sortTerm, av []value, ak string, bv []value, bk string) int {
	for j, term := range terms {
		if c := sortCompare(av[j], bv[j]); c != 0 {
			if term.desc {
				return -c
			}
			return c
		}
	}
	return strings.Compare(ak, bk)
}

// sortValues extracts e's sort values.
func (t *table) sortValues(e *entry, terms []sortTerm) []value {
	vs := make([]value, len(terms))
	for j, term := range terms {
		vs[j] = t.field(e, term.col)
	}
	return vs
}

// cursor is a position in a sorted set: the sort values and key of the last
// row returned. Paging from a cursor rather than an offset means records
// written between pages neither shift the rest nor get skipped, as with the
// real servers' key-based skip tokens.
type cursor struct {
	vals []value
	key  string
}

// after returns the index of the first row in rows that sorts after c.
func (t *table) after(rows []*entry, terms []sortTerm, c cursor) int {
	return sort.Search(len(rows), func(i int) bool {
		return compareTuples(terms, t.sortValues(rows[i], terms), rows[i].key, c.vals, c.key) > 0
	})
}

// encodeToken renders a cursor as an opaque $skiptoken:
// base64url(JSON [[kind, text], ..., key]).
func encodeToken(c cursor) string {
	items := make([]any, 0, len(c.vals)+1)
	for _, v := range c.vals {
		var text string
		switch v.k {
		case kindBool:
			text = strconv.FormatBool(v.b)
		case kindTime:
			text = v.t.Format(time.RFC3339Nano)
		default:
			text = v.s
		}
		items = append(items, []any{int(v.k), text})
	}
	items = append(items, c.key)
	b, _ := json.Marshal(items) // strings and ints always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadToken = errors.New("malformed token")

// decodeToken parses a $skiptoken made by encodeToken for n sort terms.
func decodeToken(tok string, n int) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return cursor{}, errBadToken
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) != n+1 {
		return cursor{}, errBadToken
	}
	c := cursor{vals: make([]value, n)}
	if err := json.Unmarshal(items[n], &c.key); err != nil {
		return cursor{}, errBadToken
	}
	for i := range n {
		var pair struct {
			K    kind
			Text string
		}
		var arr []json.RawMessage
		if json.Unmarshal(items[i], &arr) != nil || len(arr) != 2 ||
			json.Unmarshal(arr[0], &pair.K) != nil || json.Unmarshal(arr[1], &pair.Text) != nil {
			return cursor{}, errBadToken
		}
		v, err := tokenValue(pair.K, pair.Text)
		if err != nil {
			return cursor{}, err
		}
		c.vals[i] = v
	}
	return c, nil
}

func tokenValue(k kind, text string) (value, error) {
	switch k {
	case kindNull:
		return nullValue, nil
	case kindBool:
		return boolValue(text == "true"), nil
	case kindNumber:
		if !jsontext.IsNumber(text) {
			return value{}, errBadToken
		}
		return numberValue(text), nil
	case kindTime:
		t, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			return value{}, errBadToken
		}
		return value{k: kindTime, t: t.UTC()}, nil
	case kindString, kindGUID, kindRaw:
		return value{k: k, s: text}, nil
	}
	return value{}, fmt.Errorf("%w: unknown kind %d", errBadToken, k)
}
