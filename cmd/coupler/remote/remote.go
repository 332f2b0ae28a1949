// Package remote lets the CLI's read commands work while coupler serve
// holds the state database: serve announces where it listens in a file
// beside the state database (Announce), and a command that finds the
// database locked by that serve (Find) asks serve's read API (package
// engine/serve, api.go) through a Client, one method per command, then
// prints the answer with the same printers as from the database.
package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/engine/state"
)

// FileName is the announcement's file, in the state database's directory
// (.coupler/serve.json in a project made by coupler init).
const FileName = "serve.json"

// Info is what a running coupler serve announces.
type Info struct {
	// URL is where its API answers, e.g. http://127.0.0.1:7700.
	URL string `json:"url"`
	// PID is serve's process, the one that holds the state database's
	// lock: an announcement whose pid does not hold it is stale.
	PID int `json:"pid"`
	// TokenForReads says reads need serve's token (--token-for-reads).
	TokenForReads bool `json:"token_for_reads"`
	// State is the state database serve holds.
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// Path is the announcement file of the state database at stateFile.
func Path(stateFile string) string { return filepath.Join(filepath.Dir(stateFile), FileName) }

// URLFor is the URL a command on this machine reaches a listener at addr
// by: a listener on every interface (0.0.0.0, ::) by loopback.
func URLFor(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Announce writes info to the announcement file of info.State, whole or
// not at all (a temporary file renamed into place), and returns a
// function that removes it at exit unless another serve has announced
// itself since.
func Announce(info Info) (remove func(), err error) {
	p := Path(info.State)
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	tmp := filepath.Join(filepath.Dir(p), ".tmp-"+hex.EncodeToString(r[:])+"-"+FileName)
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("announce coupler serve in %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("announce coupler serve in %s: %w", p, err)
	}
	return func() {
		if got, err := read(p); err == nil && got.PID == info.PID {
			_ = os.Remove(p)
		}
	}, nil
}

func read(p string) (Info, error) {
	var info Info
	b, err := os.ReadFile(p)
	if err != nil {
		return info, err
	}
	err = json.Unmarshal(b, &info)
	return info, err
}

// Find returns the serve announced for the state database at stateFile
// when it is the process holderPID that holds the database's lock; an
// announcement left by a serve that is gone, or a lock held by something
// else (an apply), finds none.
func Find(stateFile string, holderPID int) (Info, bool) {
	if holderPID == 0 {
		return Info{}, false
	}
	info, err := read(Path(stateFile))
	if err != nil || info.PID != holderPID || info.URL == "" {
		return Info{}, false
	}
	return info, true
}

// Client reads the state database through a coupler serve's API. Its
// methods are those of the commands, with the engine's signatures where
// the engine has them, so that a command uses either.
type Client struct {
	info  Info
	token string
	http  *http.Client
}

// New returns a client of the serve info describes, sending token (serve's
// --token) when it is not empty.
func New(info Info, token string) (*Client, error) {
	if info.TokenForReads && token == "" {
		return nil, fmt.Errorf("coupler serve (pid %d) holds the state database and wants its token for reads (--token-for-reads): set COUPLER_SERVE_TOKEN or --token", info.PID)
	}
	return &Client{info: info, token: token, http: &http.Client{}}, nil
}

// Info describes the serve the client asks.
func (c *Client) Info() Info { return c.info }

// Close releases nothing: a client holds no connection between requests.
func (c *Client) Close() error { return nil }

// get asks GET path?query and returns the answer's body, or the error the
// answer says, as serve's engine said it.
func (c *Client) get(ctx context.Context, path string, query url.Values) (*http.Response, []byte, error) {
	u := c.info.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("coupler serve (pid %d) holds the state database, and its API at %s did not answer: %w", c.info.PID, c.info.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("coupler serve (pid %d) at %s: %w", c.info.PID, c.info.URL, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, body, nil
	}
	var e serve.APIError
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return nil, nil, errors.New(e.Error)
	}
	msg := string(bytes.TrimSpace(body))
	if resp.StatusCode == http.StatusUnauthorized {
		msg = "a valid token is required: set COUPLER_SERVE_TOKEN or --token to serve's token"
	}
	return nil, nil, fmt.Errorf("coupler serve (pid %d) at %s answered %s: %s", c.info.PID, c.info.URL, resp.Status, msg)
}

func (c *Client) listing(ctx context.Context, path string, query url.Values) (view.Listings, error) {
	var l view.Listings
	_, body, err := c.get(ctx, path, query)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return l, fmt.Errorf("coupler serve (pid %d): %s: %w", c.info.PID, path, err)
	}
	return l, nil
}

func limitQuery(limit int) url.Values { return url.Values{"limit": {strconv.Itoa(limit)}} }

// Runs is coupler runs: the run log, newest first, at most limit.
func (c *Client) Runs(ctx context.Context, limit int) ([]state.Run, error) {
	l, err := c.listing(ctx, "/api/runs", limitQuery(limit))
	out := make([]state.Run, 0, len(l.Runs))
	for _, j := range l.Runs {
		out = append(out, j.Decode())
	}
	return out, err
}

// Plans is coupler plans: the saved plans, newest first, at most limit.
func (c *Client) Plans(ctx context.Context, limit int) ([]state.PlanSummary, error) {
	l, err := c.listing(ctx, "/api/plans", limitQuery(limit))
	out := make([]state.PlanSummary, 0, len(l.Plans))
	for _, j := range l.Plans {
		out = append(out, j.Decode())
	}
	return out, err
}

// Failures is coupler errors: the failed and skipped records of mapping
// (all when empty), at most limit.
func (c *Client) Failures(ctx context.Context, mapping string, limit int) ([]state.Failure, error) {
	q := limitQuery(limit)
	if mapping != "" {
		q.Set("mapping", mapping)
	}
	l, err := c.listing(ctx, "/api/errors", q)
	out := make([]state.Failure, 0, len(l.Failures))
	for _, j := range l.Failures {
		out = append(out, j.Decode())
	}
	return out, err
}

// Intents is coupler state intents: the writes in flight.
func (c *Client) Intents(ctx context.Context) ([]state.Intent, error) {
	l, err := c.listing(ctx, "/api/intents", nil)
	out := make([]state.Intent, 0, len(l.Intents))
	for _, j := range l.Intents {
		out = append(out, j.Decode())
	}
	return out, err
}

// Plan is coupler show: it writes the saved plan req names, rendered by
// serve in req.Format, to w.
func (c *Client) Plan(ctx context.Context, w io.Writer, req serve.PlanRequest) (serve.PlanInfo, error) {
	q := url.Values{"format": {req.Format}, "limit": {strconv.Itoa(req.Limit)}, "mapping": req.Mappings, "op": req.Ops}
	if req.Color {
		q.Set("color", "1")
	}
	if req.File != "" {
		q.Set("file", req.File)
	}
	resp, body, err := c.get(ctx, "/api/plans/"+url.PathEscape(req.Ref), q)
	if err != nil {
		return serve.PlanInfo{}, err
	}
	info := serve.PlanInfo{ID: resp.Header.Get(serve.PlanHeader), Rows: -1}
	if v := resp.Header.Get(serve.RowsHeader); v != "" {
		if info.Rows, err = strconv.ParseInt(v, 10, 64); err != nil {
			return info, fmt.Errorf("coupler serve (pid %d): %s %q: %w", c.info.PID, serve.RowsHeader, v, err)
		}
	}
	_, err = w.Write(body)
	return info, err
}

// Approve is coupler approve: serve approves the saved plan ref (an id,
// a name or latest) as approved by by, and applies it where a mapping's
// run waits on it.
func (c *Client) Approve(ctx context.Context, ref, by string) (serve.ApproveAnswer, error) {
	var a serve.ApproveAnswer
	u := c.info.URL + "/plans/" + url.PathEscape(ref) + "/approve?" + url.Values{"by": {by}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return a, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return a, fmt.Errorf("coupler serve (pid %d) holds the state database, and it did not answer at %s: %w", c.info.PID, c.info.URL, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return a, fmt.Errorf("coupler serve (pid %d) at %s answered %s, not an approval: %w", c.info.PID, c.info.URL, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized {
			a.Message = "a valid token is required: set COUPLER_SERVE_TOKEN or --token to serve's token"
		}
		return a, fmt.Errorf("coupler serve (pid %d) did not approve plan %s: %s", c.info.PID, ref, a.Message)
	}
	return a, nil
}

// Query is coupler query: it runs one read-only statement in serve and
// calls fn with the column names and a nil row, then with each row. A
// row's values print (fmt) and encode (encoding/json) as the values
// scanned in serve do; NULL is nil.
func (c *Client) Query(ctx context.Context, sql string, fn func(cols []string, row []any) error) error {
	_, body, err := c.get(ctx, "/api/query", url.Values{"sql": {sql}})
	if err != nil {
		return err
	}
	var res serve.QueryResult
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("coupler serve (pid %d): query: %w", c.info.PID, err)
	}
	if err := fn(res.Columns, nil); err != nil {
		return err
	}
	for _, cells := range res.Rows {
		row := make([]any, len(cells))
		for i, cell := range cells {
			if cell != nil {
				row[i] = value{cell}
			}
		}
		if err := fn(res.Columns, row); err != nil {
			return err
		}
	}
	return nil
}

// value is a query's value as serve scanned it.
type value struct{ c *serve.QueryCell }

// String is fmt's rendering of the value in serve.
func (v value) String() string { return v.c.Text }

// MarshalJSON is encoding/json's rendering of the value in serve, or its
// error there.
func (v value) MarshalJSON() ([]byte, error) {
	if v.c.JSONError != "" {
		return nil, errors.New(v.c.JSONError)
	}
	return v.c.JSON, nil
}
