package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Reader answers serve's read API (GET /api/...) from the state database
// while runs go on: coupler serve holds the database, so the CLI's read
// commands ask serve instead of opening it. Each method reads through the
// engine and writes what the matching command prints with --format json
// (docs/cli-json.md), so that a client can print it as the command does.
// An error that wraps ErrNotFound is answered 404, ErrBadRequest 400.
type Reader interface {
	// Runs writes the run log, newest first, at most limit runs:
	// {"runs": [...]} as coupler runs --format json prints it.
	Runs(ctx context.Context, w io.Writer, limit int) error
	// Plans writes the saved plans, newest first, at most limit:
	// {"plans": [...]} as coupler plans --format json prints it.
	Plans(ctx context.Context, w io.Writer, limit int) error
	// Failures writes the failed and skipped records of mapping (all when
	// empty), at most limit: {"failures": [...]}, as coupler errors
	// --format json prints it.
	Failures(ctx context.Context, w io.Writer, mapping string, limit int) error
	// Intents writes the writes in flight: {"intents": [...]}, as coupler
	// state intents --format json prints it.
	Intents(ctx context.Context, w io.Writer) error
	// Plan writes a saved plan as coupler show prints it in req.Format,
	// and returns its id and, for the exports (jsonl, parquet), how many
	// rows it wrote.
	Plan(ctx context.Context, w io.Writer, req PlanRequest) (PlanInfo, error)
	// Query runs one read-only SQL statement as coupler query does,
	// calling fn with the column names and a nil row, then each row.
	Query(ctx context.Context, sql string, fn func(cols []string, row []any) error) error
}

// PlanRequest is a saved plan as GET /api/plans/{ref} asks for it: the
// flags of coupler show.
type PlanRequest struct {
	// Ref is the plan's id or name, or "latest".
	Ref string
	// Format is text, json, markdown, html, or jsonl or parquet (the
	// operations, one row per changed field).
	Format string
	// Color renders text in colour, for a terminal.
	Color bool
	// Limit is how many operations per mapping text and Markdown list;
	// 0 lists all.
	Limit int
	// Mappings and Ops keep only these mappings and kinds of operation;
	// none keeps all.
	Mappings, Ops []string
	// File is the name of the file an export is for (show -o FILE), whose
	// extension DuckDB's COPY goes by (ops.jsonl.gz is compressed).
	File string
}

// PlanInfo is what Reader.Plan says of the plan it wrote.
type PlanInfo struct {
	ID string
	// Rows counts the rows of an export (jsonl, parquet); -1 otherwise.
	Rows int64
}

// Errors a Reader's error may wrap, for the status of the answer.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadRequest = errors.New("bad request")
)

// Headers of GET /api/plans/{ref}'s answer.
const (
	// PlanHeader carries the id of the plan written, whatever the
	// reference named.
	PlanHeader = "Coupler-Plan"
	// RowsHeader carries the number of rows of an export.
	RowsHeader = "Coupler-Rows"
)

// planTypes are the content types of the plan formats.
var planTypes = map[string]string{
	"text":     "text/plain; charset=utf-8",
	"json":     "application/json",
	"markdown": "text/markdown; charset=utf-8",
	"html":     "text/html; charset=utf-8",
	"jsonl":    "application/jsonl",
	"parquet":  "application/vnd.apache.parquet",
}

// QueryResult is GET /api/query's answer: the columns, then each row's
// cells, null for SQL NULL.
type QueryResult struct {
	Columns []string       `json:"columns"`
	Rows    [][]*QueryCell `json:"rows"`
}

// QueryCell is one value of a query's row, as coupler query prints it:
// Text in a table or CSV, JSON with --format json. JSONError says why a
// value has no JSON (NaN, say), which --format json then reports.
type QueryCell struct {
	Text      string          `json:"text"`
	JSON      json.RawMessage `json:"json,omitempty"`
	JSONError string          `json:"json_error,omitempty"`
}

// NewQueryCell is the cell of value v as scanned from the state database;
// nil for SQL NULL.
func NewQueryCell(v any) *QueryCell {
	if v == nil {
		return nil
	}
	c := &QueryCell{Text: fmt.Sprint(v)}
	b, err := json.Marshal(v)
	if err != nil {
		c.JSONError = err.Error()
	} else {
		c.JSON = b
	}
	return c
}

// handleAPI serves the read API:
//
//	GET /api/runs?limit=N              coupler runs --format json
//	GET /api/plans?limit=N             coupler plans --format json
//	GET /api/plans/{ref}?format=F&...  coupler show REF --format F
//	GET /api/errors?mapping=M&limit=N  coupler errors --format json
//	GET /api/intents                   coupler state intents --format json
//	GET /api/query?sql=SQL             coupler query SQL
//
// guard has checked the Host and, with TokenForReads, the token. A read
// runs while a run is under way; it is stopped when shutdown begins.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, ok := s.apiStart(w, r)
	if !ok {
		return
	}
	defer cancel()
	q := r.URL.Query()
	limit := func(def int) (int, bool) {
		v := q.Get("limit")
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.apiError(w, http.StatusBadRequest, fmt.Errorf("limit %q is not a number of at least 0", v))
			return 0, false
		}
		return n, true
	}
	var buf bytes.Buffer
	var err error
	switch r.PathValue("what") {
	case "runs":
		if n, ok := limit(20); ok {
			err = s.cfg.Reader.Runs(ctx, &buf, n)
		} else {
			return
		}
	case "plans":
		if n, ok := limit(20); ok {
			err = s.cfg.Reader.Plans(ctx, &buf, n)
		} else {
			return
		}
	case "errors":
		if n, ok := limit(100); ok {
			err = s.cfg.Reader.Failures(ctx, &buf, q.Get("mapping"), n)
		} else {
			return
		}
	case "intents":
		err = s.cfg.Reader.Intents(ctx, &buf)
	case "query":
		s.apiQuery(ctx, w, q.Get("sql"))
		return
	default:
		s.apiError(w, http.StatusNotFound, fmt.Errorf("no such API: %s", r.URL.Path))
		return
	}
	if err != nil {
		s.apiError(w, apiStatus(ctx, err), err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// handleAPIPlan serves GET /api/plans/{ref}: a saved plan in one of
// coupler show's formats, whole (it is rendered before the answer starts,
// so that an error is an error status, not half a plan).
func (s *Server) handleAPIPlan(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, ok := s.apiStart(w, r)
	if !ok {
		return
	}
	defer cancel()
	q := r.URL.Query()
	req := PlanRequest{Ref: r.PathValue("ref"), Format: q.Get("format"), Color: q.Get("color") == "1",
		Mappings: q["mapping"], Ops: q["op"], File: q.Get("file")}
	if req.Format == "" {
		req.Format = "text"
	}
	ctype, ok := planTypes[req.Format]
	if !ok {
		s.apiError(w, http.StatusBadRequest, fmt.Errorf("format must be text, json, markdown, html, jsonl or parquet, not %q", req.Format))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.apiError(w, http.StatusBadRequest, fmt.Errorf("limit %q is not a number", v))
			return
		}
		req.Limit = n
	}
	var buf bytes.Buffer
	info, err := s.cfg.Reader.Plan(ctx, &buf, req)
	if err != nil {
		s.apiError(w, apiStatus(ctx, err), err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	if req.Format == "html" || req.Format == "parquet" {
		// The API hands files over; the plan's page is serve's own to show.
		w.Header().Set("Content-Disposition", `attachment; filename="`+info.ID+"."+req.Format+`"`)
	}
	w.Header().Set(PlanHeader, info.ID)
	if info.Rows >= 0 {
		w.Header().Set(RowsHeader, strconv.FormatInt(info.Rows, 10))
	}
	_, _ = w.Write(buf.Bytes())
}

// apiQuery answers GET /api/query with a QueryResult, whole.
func (s *Server) apiQuery(ctx context.Context, w http.ResponseWriter, sql string) {
	if sql == "" {
		s.apiError(w, http.StatusBadRequest, errors.New("give the statement: GET /api/query?sql=SQL"))
		return
	}
	res := QueryResult{Rows: [][]*QueryCell{}}
	err := s.cfg.Reader.Query(ctx, sql, func(cols []string, row []any) error {
		if row == nil {
			res.Columns = cols
			return nil
		}
		cells := make([]*QueryCell, len(row))
		for i, v := range row {
			cells[i] = NewQueryCell(v)
		}
		res.Rows = append(res.Rows, cells)
		return nil
	})
	if err != nil {
		code := apiStatus(ctx, err)
		if code == http.StatusInternalServerError {
			code = http.StatusBadRequest // the statement's own error, mostly
		}
		s.apiError(w, code, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// apiStart begins an API answer: its context ends with the request or
// when shutdown begins, so that a long query does not hold up the exit.
// ok is false when there is nothing to answer with (no Reader).
func (s *Server) apiStart(w http.ResponseWriter, r *http.Request) (ctx context.Context, cancel context.CancelFunc, ok bool) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if s.cfg.Reader == nil {
		s.apiError(w, http.StatusNotFound, errors.New("this coupler serve has no read API"))
		return nil, nil, false
	}
	ctx, cancel = context.WithCancel(r.Context())
	go func() {
		select {
		case <-s.drain:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel, true
}

// APIError is the body of an API answer that is an error.
type APIError struct {
	Error string `json:"error"`
}

// apiError answers with err, scrubbed of the project's secrets: an
// engine's error may quote what a server said.
func (s *Server) apiError(w http.ResponseWriter, code int, err error) {
	msg := s.cfg.Redactor.String(err.Error())
	if code == http.StatusServiceUnavailable {
		msg = "coupler serve is shutting down: " + msg
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(APIError{Error: msg})
}

// apiStatus is the status of an answer that failed with err.
func apiStatus(ctx context.Context, err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case ctx.Err() != nil:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
