package connectors

// Resource says how a REST connector reaches one entity: the requests for
// each operation, where the records are in a response, how pages follow one
// another and how an incremental read is asked for. Zero fields take the
// defaults the connector documents.
type Resource struct {
	// List, Get, Create, Update and Delete are the requests of each
	// operation. Paths are relative to the base URL and may hold {id}, the
	// record's key, path-escaped.
	List, Get, Create, Update, Delete Endpoint
	// Records is the dot-separated path of the records array in a list
	// response, e.g. "data.items"; empty means the body is the array.
	Records string
	// Record is the path of the record in a single-record response (get,
	// create, update), e.g. "data"; empty means the body is the record.
	Record string
	// Key is the field that identifies a record, used in {id} and to read
	// the key of a created record; empty means the mapping's key.
	Key string
	// ETag is the field that holds a record's version; when set, updates
	// and deletes send it in If-Match, and a 412 reports the record stale.
	ETag string
	// Query holds fixed query parameters added to every list request, e.g.
	// a sort order.
	Query map[string]string
	// Paging says how a list response leads to the next page.
	Paging Paging
	// Since says how to ask for the records modified after a time.
	Since Since
}

// Endpoint is one request: a method and a path template.
type Endpoint struct {
	Method string
	Path   string
}

// Paging styles of a REST list endpoint.
const (
	PagingNone       = "none"        // one response holds every record
	PagingNextLink   = "next_link"   // the body holds the next page's URL
	PagingLinkHeader = "link_header" // a Link header with rel="next"
	PagingPage       = "page"        // a page number parameter
	PagingOffset     = "offset"      // an offset parameter
	PagingCursor     = "cursor"      // the body holds a token sent back as a parameter
)

// Paging says how a list response leads to the next page.
type Paging struct {
	// Style is one of the Paging* constants; empty means none.
	Style string
	// Next is the body path of the next page's URL (next_link) or of the
	// cursor token (cursor).
	Next string
	// Param is the query parameter carrying the page number, offset or
	// cursor.
	Param string
	// SizeParam, when set, carries the page size (Config.PageSize).
	SizeParam string
	// Start is the number of the first page (page style); 0 means 1.
	Start int
}

// Since says how to ask a REST list endpoint for the records modified after
// a time.
type Since struct {
	// Param is the query parameter, e.g. "updated_since" or
	// "modifiedAt_gte"; empty means the endpoint cannot filter, and an
	// incremental read reads everything and filters locally.
	Param string
	// Format renders the time: "rfc3339" (the default), "rfc3339ms" (three
	// fraction digits, Z), "unix" (seconds), "unix_ms", or a Go time layout.
	Format string
}
