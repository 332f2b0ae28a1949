package odata

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

func TestBatchFormatDefault(t *testing.T) {
	tests := []struct {
		base, setting, want string
	}{
		{"https://org.crm.dynamics.com/api/data/v9.2", "", BatchFormatMultipart},
		{"https://org.crm4.dynamics.com/api/data/v9.1/", "", BatchFormatMultipart},
		{"https://crm.contoso.local/org/API/Data/v9.0", "", BatchFormatMultipart}, // on premises
		{"https://api.businesscentral.dynamics.com/v2.0/t/Production/api/v2.0/companies(1)", "", BatchFormatJSON},
		{"http://localhost:4004/odata/v4/crm", "", BatchFormatJSON},
		{"https://org.crm.dynamics.com/api/data/v9.2/accounts", "", BatchFormatJSON}, // not the root
		{"https://org.crm.dynamics.com/api/data/v9.2", BatchFormatJSON, BatchFormatJSON},
		{"http://localhost/svc", BatchFormatMultipart, BatchFormatMultipart},
	}
	for _, tt := range tests {
		c, err := New(connectors.Config{BaseURL: tt.base, Settings: &Settings{BatchFormat: tt.setting, BatchSize: 10}})
		if err != nil {
			t.Fatalf("%s: %v", tt.base, err)
		}
		if c.batchFormat != tt.want {
			t.Errorf("%s (batch_format %q): %q, want %q", tt.base, tt.setting, c.batchFormat, tt.want)
		}
	}
	if _, err := New(connectors.Config{BaseURL: "http://x", Settings: &Settings{BatchFormat: "xml"}}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("batch format xml: %v, want an error naming it", err)
	}
}

// TestDataverseBatchDefault writes through $batch into the fake CRM, which
// takes multipart batches only as Dataverse does, with the settings a
// Dataverse connector has by default: no batch_format.
func TestDataverseBatchDefault(t *testing.T) {
	s := fake.NewCRM()
	keys := putAccounts(t, s, "a", "b")
	c := batchClient(t, s, 10, 1)
	etag, _ := s.ETag("accounts", keys[0])
	res, err := c.Write(t.Context(), crmAccounts, []connectors.WriteOp{
		{Op: connectors.OpCreate, Fields: connectors.Record{"name": "new"}},
		{Op: connectors.OpUpdate, Key: keys[0], ETag: etag, Fields: connectors.Record{"name": "a2"}},
		{Op: connectors.OpDelete, Key: keys[1]},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("op %d: %v", i, r.Err)
		}
	}
	if got, _ := s.Get("accounts", res[0].Key); got["name"] != "new" {
		t.Errorf("created %s = %v", res[0].Key, got)
	}
	if e, _ := s.ETag("accounts", keys[0]); res[1].ETag != e || res[1].Record["name"] != "a2" {
		t.Errorf("update result %+v, server ETag %s", res[1], e)
	}
	if st := s.Stats(); st.Requests != 1 {
		t.Errorf("%d requests, want one $batch", st.Requests)
	}
}

// TestJSONBatchRefusedHint sends a JSON batch to the fake CRM: every op
// fails with Dataverse's refusal and a hint at batch_format.
func TestJSONBatchRefusedHint(t *testing.T) {
	s := fake.NewCRM()
	mux := http.NewServeMux()
	mux.Handle("/api/data/v9.2/", http.StripPrefix("/api/data/v9.2", s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(connectors.Config{BaseURL: srv.URL + "/api/data/v9.2", MaxRetries: 0, Settings: &Settings{BatchSize: 10, BatchFormat: BatchFormatJSON}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Write(t.Context(), crmAccounts, []connectors.WriteOp{{Op: connectors.OpCreate, Fields: connectors.Record{"name": "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"400 Bad Request", "0x80048d19", "batch_format: multipart"} {
		if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), want) {
			t.Errorf("error %v, want it to contain %q", res[0].Err, want)
		}
	}
}

// sentPart is one request of a multipart batch as the server received it.
type sentPart struct {
	header    map[string]string // of the body part
	changeSet bool
	line      string // the request line
	reqHeader http.Header
	body      string
}

// readSent parses a multipart batch request.
func readSent(t *testing.T, r *http.Request) []sentPart {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || !strings.HasPrefix(params["boundary"], "batch_") {
		t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	var out []sentPart
	var walk func(rd io.Reader, boundary string, cs bool)
	walk = func(rd io.Reader, boundary string, cs bool) {
		mr := multipart.NewReader(rd, boundary)
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pt == "multipart/mixed" {
				if !strings.HasPrefix(pp["boundary"], "changeset_") {
					t.Errorf("change set boundary %q", pp["boundary"])
				}
				walk(p, pp["boundary"], true)
				continue
			}
			h := map[string]string{}
			for k := range p.Header {
				h[k] = p.Header.Get(k)
			}
			tp := textproto.NewReader(bufio.NewReader(p))
			line, err := tp.ReadLine()
			if err != nil {
				t.Fatal(err)
			}
			mh, err := tp.ReadMIMEHeader()
			if err != nil {
				t.Fatalf("request %q: headers: %v", line, err)
			}
			hdr := http.Header(mh)
			body, _ := io.ReadAll(tp.R) // no Content-Length: the rest of the part
			out = append(out, sentPart{header: h, changeSet: cs, line: strings.TrimSpace(line), reqHeader: hdr, body: string(body)})
		}
	}
	walk(r.Body, params["boundary"], false)
	return out
}

// TestMultipartBatchRequest checks the wire: parts, Content-IDs only in
// change sets, URLs relative to the service root (absolute paths for
// Dataverse), and the same headers a single request has.
func TestMultipartBatchRequest(t *testing.T) {
	for _, tt := range []struct {
		root, prefix string // service root; how parts address a resource
		atomic       bool
	}{
		{"/svc", "", false},
		{"/svc", "", true},
		{"/org/api/data/v9.2", "/org/api/data/v9.2/", false},
		{"/org/api/data/v9.2", "/org/api/data/v9.2/", true},
	} {
		var got []sentPart
		var outer http.Header
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			outer = r.Header.Clone()
			got = readSent(t, r)
			w.WriteHeader(500)
		}), func(cfg *connectors.Config) {
			cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/svc/") + tt.root
			settingsIn(cfg).BatchSize, settingsIn(cfg).BatchFormat, cfg.MaxRetries = 10, BatchFormatMultipart, 0
			if tt.atomic {
				settingsIn(cfg).Atomicity = AtomicityBatch
			}
		})
		_, err := c.Write(t.Context(), crmAccounts, []connectors.WriteOp{
			{Op: connectors.OpCreate, Fields: connectors.Record{"name": "n"}},
			{Op: connectors.OpUpdate, Key: "k 1", ETag: `W/"7"`, Fields: connectors.Record{"name": "u"}},
			{Op: connectors.OpDelete, Key: "k2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if outer.Get("Accept") != "multipart/mixed" || outer.Get("Prefer") != "odata.continue-on-error" ||
			outer.Get("Authorization") != "Bearer "+testToken || (outer.Get("Isolation") == "snapshot") != tt.atomic {
			t.Errorf("%+v: batch headers %v", tt, outer)
		}
		want := []struct{ line, ifMatch, prefer, ctype, body string }{
			{"POST " + tt.prefix + "accounts HTTP/1.1", "", "return=representation", "application/json", `{"name":"n"}`},
			{"PATCH " + tt.prefix + "accounts('k%201') HTTP/1.1", `W/"7"`, "return=representation", "application/json", `{"name":"u"}`},
			{"DELETE " + tt.prefix + "accounts('k2') HTTP/1.1", "*", "", "", ""},
		}
		if len(got) != len(want) {
			t.Fatalf("%+v: %d parts, want %d", tt, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.line != w.line || g.reqHeader.Get("If-Match") != w.ifMatch || g.reqHeader.Get("Prefer") != w.prefer ||
				g.reqHeader.Get("Content-Type") != w.ctype || g.body != w.body || g.reqHeader.Get("Authorization") != "" {
				t.Errorf("%+v: part %d = %+v, want %+v", tt, i, g, w)
			}
			if g.header["Content-Type"] != "application/http" || g.header["Content-Transfer-Encoding"] != "binary" {
				t.Errorf("%+v: part %d header %v", tt, i, g.header)
			}
			if id := g.header["Content-Id"]; g.changeSet != tt.atomic || (id != "") != tt.atomic {
				t.Errorf("%+v: part %d in a change set %v with Content-ID %q", tt, i, g.changeSet, id)
			}
		}
	}
}

// multipartAnswer is a canned answer to the batch of batchOps3: its
// Content-Type and body, with \n for line ends (sent as CRLF unless lf).
type multipartAnswer struct {
	name, contentType, body string
	lf                      bool
}

const (
	key1 = "00000000-0000-0000-0000-000000000001"
	key9 = "00000000-0000-0000-0000-000000000009"
)

// batchOps3 are the writes the canned answers answer: a create, an update
// of k1 and a delete of k2, request ids 1, 2 and 3.
var batchOps3 = []connectors.WriteOp{
	{Op: connectors.OpCreate, Fields: connectors.Record{"name": "n"}},
	{Op: connectors.OpUpdate, Key: "k1", Fields: connectors.Record{"name": "u"}},
	{Op: connectors.OpDelete, Key: "k2"},
}

func part(status, headers, body string) string {
	return "Content-Type: application/http\nContent-Transfer-Encoding: binary\n\nHTTP/1.1 " + status + "\n" + headers + "\n" + body + "\n"
}

var (
	created   = part("204 No Content", "OData-Version: 4.0\nLocation: https://h/api/data/v9.2/accounts("+key9+")\nOData-EntityId: https://h/api/data/v9.2/accounts("+key9+")\n", "")
	updated   = part("200 OK", "Content-Type: application/json; odata.metadata=minimal\nETag: W/\"8\"\n", `{"@odata.etag":"W/\"8\"","accountid":"`+key1+`","name":"u"}`)
	deleted   = part("204 No Content", "", "")
	stale     = part("412 Precondition Failed", "Content-Type: application/json\n", `{"error":{"code":"0x80060882","message":"The version of the existing record doesn't match"}}`)
	notFound  = part("404 Not Found", "Content-Type: application/json\nREQ_ID: 5ecd1cb3\n", `{"error":{"code":"0x80040217","message":"account With Id = k2 Does Not Exist"}}`)
	withID    = func(id, p string) string { return "Content-ID: " + id + "\n" + p }
	changeSet = func(parts ...string) string {
		return "Content-Type: multipart/mixed; boundary=changesetresponse_c\n\n--changesetresponse_c\n" + strings.Join(parts, "--changesetresponse_c\n") + "--changesetresponse_c--\n"
	}
	answer = func(parts ...string) string {
		return "--batchresponse_b\n" + strings.Join(parts, "--batchresponse_b\n") + "--batchresponse_b--\n"
	}
	mixed = "multipart/mixed; boundary=batchresponse_b"
)

// multipartAnswers are canned $batch answers, shaped as the Dataverse
// documentation and Microsoft's Dataverse client show them, as OData 4.0
// specifies, and as they go wrong. They seed FuzzMultipartBatchResponse.
var multipartAnswers = []multipartAnswer{
	{name: "records", contentType: mixed, body: answer(created, updated, notFound)},
	{name: "records, LF line ends", contentType: mixed, body: answer(created, updated, notFound), lf: true},
	{name: "records, lower-case headers", contentType: `Multipart/Mixed; Boundary="batchresponse_b"`,
		body: strings.ReplaceAll(strings.ReplaceAll(answer(created, updated, notFound), "Content-Type", "content-type"), "OData-EntityId", "odata-entityid")},
	{name: "records, one missing", contentType: mixed, body: answer(created, updated)},
	{name: "records, one too many", contentType: mixed, body: answer(created, updated, deleted, deleted)},
	{name: "change set", contentType: mixed, body: answer(changeSet(withID("3", deleted), withID("1", created), withID("2", updated)))},
	{name: "change set, Content-IDs in angle brackets", contentType: mixed, body: answer(changeSet(withID("<1>", created), withID("<2>", updated), withID("<3>", deleted)))},
	{name: "change set, no Content-IDs", contentType: mixed, body: answer(changeSet(created, updated, deleted))},
	{name: "failed change set, its error alone with its Content-ID", contentType: mixed, body: answer(changeSet(withID("2", stale)))},
	{name: "failed change set, one response in its place", contentType: mixed, body: answer(stale)},
	{name: "failed change set, one response in its place naming its request (SAP CAP)", contentType: "multipart/mixed;boundary=b",
		body: "--b\ncontent-type: application/http\ncontent-transfer-encoding: binary\ncontent-id: 2\n\nHTTP/1.1 428 Precondition Required\ncontent-type: application/json; charset=utf-8\n\n" +
			`{"error":{"message":"Precondition Required","code":"428","@Core.ContentID":"2"}}` + "\n--b--\n"},
	{name: "failed change set, 2xx before the failure", contentType: mixed, body: answer(changeSet(withID("1", created), withID("2", stale)))},
	{name: "change set, one missing", contentType: mixed, body: answer(changeSet(withID("1", created), withID("2", updated)))},
	{name: "answered in JSON", contentType: "application/json", body: `{"responses":[{"id":"1","status":201,"body":{"accountid":"` + key9 + `"}},{"id":"2","status":204},{"id":"3","status":404}]}`},
	{name: "no closing delimiter", contentType: mixed, body: "--batchresponse_b\n" + created},
	{name: "no boundary", contentType: "multipart/mixed", body: answer(created)},
	{name: "not a response", contentType: mixed, body: answer("Content-Type: application/http\n\nHTTP/1.1 banana\n\n")},
	{name: "a part of another type", contentType: mixed, body: answer("Content-Type: text/plain\n\nhello\n")},
	{name: "Content-Length past the end", contentType: mixed, body: answer(part("200 OK", "Content-Length: 999\n", "{}"))},
	{name: "plain text", contentType: "text/plain", body: "hello"},
}

func TestMultipartBatchAnswers(t *testing.T) {
	type want struct {
		errIs  error  // nil: success unless errHas
		errHas string // substring of the error
	}
	ok := want{}
	rolled := want{errIs: ErrRolledBack, errHas: "record k1 failed"}
	groupFailed := want{errIs: ErrRolledBack, errHas: "the change set failed: 412 Precondition Failed: 0x80060882: The version"}
	undecided := want{errHas: "may or may not have taken effect"}
	malformed := want{errHas: "$batch: decode batch response"}
	tests := map[string]struct {
		atomic bool
		want   [3]want
	}{
		"records":                                   {false, [3]want{ok, ok, {errIs: connectors.ErrNotFound, errHas: "0x80040217: account With Id = k2 Does Not Exist"}}},
		"records, LF line ends":                     {false, [3]want{ok, ok, {errIs: connectors.ErrNotFound}}},
		"records, lower-case headers":               {false, [3]want{ok, ok, {errIs: connectors.ErrNotFound}}},
		"records, one missing":                      {false, [3]want{ok, ok, {errHas: `has no answer for request "3"`}}},
		"records, one too many":                     {false, [3]want{ok, ok, ok}},
		"change set":                                {true, [3]want{ok, ok, ok}},
		"change set, Content-IDs in angle brackets": {true, [3]want{ok, ok, ok}},
		"change set, no Content-IDs":                {true, [3]want{ok, ok, ok}},
		"failed change set, its error alone with its Content-ID":                    {true, [3]want{{errIs: ErrRolledBack, errHas: "record k1 failed"}, {errIs: connectors.ErrStale}, {errIs: ErrRolledBack, errHas: "record k1 failed"}}},
		"failed change set, one response in its place":                              {true, [3]want{groupFailed, groupFailed, groupFailed}},
		"failed change set, 2xx before the failure":                                 {true, [3]want{rolled, {errIs: connectors.ErrStale}, rolled}},
		"failed change set, one response in its place naming its request (SAP CAP)": {true, [3]want{rolled, {errHas: "428 Precondition Required: 428: Precondition Required"}, rolled}},
		"change set, one missing":                                                   {true, [3]want{undecided, undecided, undecided}},
		"answered in JSON":                                                          {false, [3]want{ok, ok, {errIs: connectors.ErrNotFound}}},
		"no closing delimiter":                                                      {false, [3]want{malformed, malformed, malformed}},
		"no boundary":                                                               {false, [3]want{malformed, malformed, malformed}},
		"not a response":                                                            {false, [3]want{malformed, malformed, malformed}},
		"a part of another type":                                                    {false, [3]want{malformed, malformed, malformed}},
		"Content-Length past the end":                                               {false, [3]want{malformed, malformed, malformed}},
		"plain text":                                                                {false, [3]want{{errHas: `of type "text/plain"`}, {errHas: "text/plain"}, {errHas: "text/plain"}}},
	}
	for _, a := range multipartAnswers {
		tt, found := tests[a.name]
		if !found {
			t.Errorf("no expectation for %q", a.name)
			continue
		}
		t.Run(a.name, func(t *testing.T) {
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", a.contentType)
				w.Write([]byte(wire(a)))
			}), func(cfg *connectors.Config) {
				settingsIn(cfg).BatchSize, settingsIn(cfg).BatchFormat = 10, BatchFormatMultipart
				if tt.atomic {
					settingsIn(cfg).Atomicity = AtomicityBatch
				}
			})
			res, err := c.Write(t.Context(), crmAccounts, batchOps3)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				r := res[i]
				switch {
				case w.errIs == nil && w.errHas == "":
					if r.Err != nil {
						t.Errorf("op %d: %v", i, r.Err)
					}
				case w.errIs != nil && !errors.Is(r.Err, w.errIs):
					t.Errorf("op %d: %v, want %v", i, r.Err, w.errIs)
				case r.Err == nil || !strings.Contains(r.Err.Error(), w.errHas):
					t.Errorf("op %d: %v, want it to contain %q", i, r.Err, w.errHas)
				}
				if errors.Is(r.Err, ErrRolledBack) && (errors.Is(r.Err, connectors.ErrStale) || errors.Is(r.Err, connectors.ErrNotFound)) {
					t.Errorf("op %d: rolled back, but reads as the failed write's error: %v", i, r.Err)
				}
			}
			if res[0].Err == nil && res[0].Key != key9 {
				t.Errorf("create: key %q, want %s", res[0].Key, key9)
			}
			if res[1].Err == nil && a.name != "answered in JSON" && (res[1].ETag != `W/"8"` || res[1].Record["name"] != "u") {
				t.Errorf("update: %+v", res[1])
			}
		})
	}
}

// wire is a's body with its line ends.
func wire(a multipartAnswer) string {
	if a.lf {
		return a.body
	}
	return strings.ReplaceAll(a.body, "\n", "\r\n")
}

// FuzzMultipartBatchResponse feeds arbitrary multipart answers to a batch
// of three writes, with and without a change set: no panic, one answer per
// request at most, and every request that fails says why.
func FuzzMultipartBatchResponse(f *testing.F) {
	for _, a := range multipartAnswers {
		f.Add(a.contentType, []byte(wire(a)), false)
		f.Add(a.contentType, []byte(wire(a)), true)
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, atomic bool) {
		if len(body) > 1<<16 {
			return
		}
		ops := []batchOp{{id: "1"}, {id: "2"}, {id: "3"}}
		if atomic {
			for i := range ops {
				ops[i].group = changeSetID
			}
		}
		// sendBatch reads the next answer into the same buffer: nothing
		// decoded may point into it.
		buf := bytes.Clone(body)
		answers, err := decodeMultipartBatch(contentType, buf, ops)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		for i := range buf {
			buf[i] = 'x'
		}
		if again, _ := decodeMultipartBatch(contentType, body, ops); !reflect.DeepEqual(answers, again) {
			t.Fatalf("answers changed with the buffer they were decoded from:\n%+v\nwant\n%+v", answers, again)
		}
		for _, a := range answers {
			if a.ID != "" && a.ID != "1" && a.ID != "2" && a.ID != "3" && !atomic {
				t.Fatalf("answer for request %q, which was not sent outside a change set", a.ID)
			}
			if a.Group != "" && !atomic {
				t.Fatalf("answer in group %q, but no change set was sent", a.Group)
			}
		}
		if !atomic && len(answers) > len(ops) {
			t.Fatalf("%d answers to %d requests outside change sets", len(answers), len(ops))
		}
	})
}

// TestJSONBatchAnswersOutliveTheirBuffer: sendBatch reads the next answer
// into the buffer a JSON $batch answer was decoded from; nothing decoded
// may point into it.
func TestJSONBatchAnswersOutliveTheirBuffer(t *testing.T) {
	body := []byte(`{"responses": [
		{"id": "1", "status": 201, "headers": {"ETag": "W/\"1\""}, "body": {"id": "7", "name": "Contoso"}},
		{"id": "2", "atomicityGroup": "g1", "status": 400, "body": {"error": {"code": "BadRequest", "message": "no"}}},
		{"id": "3", "status": 500, "body": "text, not JSON"}]}`)
	buf := bytes.Clone(body)
	answers, err := decodeJSONBatch(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	again, err := decodeJSONBatch(body)
	if err != nil || !reflect.DeepEqual(answers, again) || len(answers) != 3 {
		t.Fatalf("answers changed with the buffer they were decoded from:\n%+v\nwant\n%+v", answers, again)
	}
}

// FuzzMultipartFastMatches holds decodeMultipartFast to the general
// decoder: whatever answer it takes, it decodes as decodeMultipartParts
// does, and it takes the answers the fake and Dataverse send.
func FuzzMultipartFastMatches(f *testing.F) {
	for _, a := range multipartAnswers {
		f.Add(a.contentType, []byte(wire(a)), uint8(3))
	}
	for _, e := range fastEdges() {
		f.Add("multipart/mixed; boundary=b", []byte(e.body), uint8(0))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, n uint8) {
		if len(body) > 1<<16 {
			return
		}
		boundary, err := multipartBoundary(contentType)
		if err != nil {
			return
		}
		ops := make([]batchOp, 1+int(n)%4)
		for i := range ops {
			ops[i].id = strconv.Itoa(i + 1)
		}
		items := batchItems(ops)
		fast, ok := decodeMultipartFast(boundary, body, items)
		if !ok {
			return
		}
		slow, err := decodeMultipartParts(boundary, body, items)
		if err != nil {
			t.Fatalf("the fast decoder took an answer the general one refuses (%v): %q", err, body)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decoded\n%+v\nwant\n%+v\nfrom %q", fast, slow, body)
		}
	})
}

// TestMultipartFastTakesTheCommonAnswers: the answers of requests without
// change sets, as the fake and Dataverse send them, go the fast way.
func TestMultipartFastTakesTheCommonAnswers(t *testing.T) {
	for _, a := range multipartAnswers {
		switch a.name {
		case "records", "records, LF line ends", "records, lower-case headers", "records, one missing", "records, one too many":
		default:
			continue
		}
		boundary, err := multipartBoundary(a.contentType)
		if err != nil {
			t.Fatal(err)
		}
		items := batchItems([]batchOp{{id: "1"}, {id: "2"}, {id: "3"}})
		if _, ok := decodeMultipartFast(boundary, []byte(wire(a)), items); !ok {
			t.Errorf("%s: left to the general decoder", a.name)
		}
	}
}
