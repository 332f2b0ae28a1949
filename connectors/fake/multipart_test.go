package fake

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// answer is one request's answer in a multipart batch response.
type answer struct {
	status    int
	contentID string
	changeSet int // 1-based top-level part of the change set holding it; 0 for none
	body      string
}

// postBatch posts body with Content-Type contentType to /$batch.
func postBatch(t *testing.T, c *testClient, contentType, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.base+"/$batch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// readAnswers parses a multipart batch response.
func readAnswers(t *testing.T, header http.Header, body []byte) []answer {
	t.Helper()
	mt, params, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("response Content-Type %q: %v\n%s", header.Get("Content-Type"), err, body)
	}
	var out []answer
	var walk func(r io.Reader, boundary string, cs int)
	walk = func(r io.Reader, boundary string, cs int) {
		mr := multipart.NewReader(r, boundary)
		for i := 1; ; i++ {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("response part: %v\n%s", err, body)
			}
			pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if pt == "multipart/mixed" {
				walk(p, pp["boundary"], i)
				continue
			}
			if p.Header.Get("Content-Transfer-Encoding") != "binary" {
				t.Errorf("response part without Content-Transfer-Encoding: binary: %v", p.Header)
			}
			resp, err := http.ReadResponse(bufio.NewReader(p), nil)
			if err != nil {
				t.Fatalf("response part: %v\n%s", err, body)
			}
			b, _ := io.ReadAll(resp.Body)
			out = append(out, answer{status: resp.StatusCode, contentID: p.Header.Get("Content-ID"), changeSet: cs, body: string(b)})
		}
	}
	walk(bytes.NewReader(body), params["boundary"], 0)
	return out
}

// httpPart is an application/http body part of a batch request, with
// Content-ID id when not empty; nl is the line ending.
func httpPart(boundary, id, request, nl string) string {
	s := "--" + boundary + nl + "Content-Type: application/http" + nl + "Content-Transfer-Encoding: binary" + nl
	if id != "" {
		s += "Content-ID: " + id + nl
	}
	return s + nl + strings.ReplaceAll(request, "\n", nl) + nl
}

func TestMultipartBatch(t *testing.T) {
	const missing = "00000000-0000-0000-0000-0000000000ff"
	tests := []struct {
		name       string
		nl         string
		prefer     string
		build      func(a, b, base string) string // the body, boundary "batch_x"
		wantStatus int
		want       []answer // bodies: a substring
		wantNames  [2]string
		wantLen    int
	}{
		{
			name: "requests outside change sets, continue on error", nl: "\r\n", prefer: "odata.continue-on-error",
			build: func(a, b, base string) string {
				return httpPart("batch_x", "", "POST "+base+"/accounts HTTP/1.1\nContent-Type: application/json; type=entry\nPrefer: return=representation\n\n{\"name\":\"new\"}", "\r\n") +
					httpPart("batch_x", "", "PATCH "+base+"/accounts("+a+") HTTP/1.1\nIf-Match: W/\"999\"\nContent-Type: application/json\n\n{\"name\":\"lost\"}", "\r\n") +
					httpPart("batch_x", "", "DELETE /accounts("+missing+") HTTP/1.1\n\n", "\r\n") +
					httpPart("batch_x", "", "PATCH accounts("+b+") HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"b2\"}", "\r\n") +
					"--batch_x--\r\n"
			},
			wantStatus: 200,
			want:       []answer{{status: 201, body: `"name":"new"`}, {status: 412}, {status: 404}, {status: 204}},
			wantNames:  [2]string{"a", "b2"}, wantLen: 3,
		},
		{
			name: "stops at the first failure, answered with its status", nl: "\r\n",
			build: func(a, b, base string) string {
				return httpPart("batch_x", "", "PATCH "+base+"/accounts("+a+") HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"a2\"}", "\r\n") +
					httpPart("batch_x", "", "DELETE "+base+"/accounts("+missing+") HTTP/1.1\n\n", "\r\n") +
					httpPart("batch_x", "", "PATCH "+base+"/accounts("+b+") HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"b2\"}", "\r\n") +
					"--batch_x--\r\n"
			},
			wantStatus: 404,
			want:       []answer{{status: 204}, {status: 404, body: "does not exist"}},
			wantNames:  [2]string{"a2", "b"}, wantLen: 2,
		},
		{
			name: "a change set, LF line endings and lower-case headers", nl: "\n", prefer: "odata.continue-on-error",
			build: func(a, b, base string) string {
				return "--batch_x\ncontent-type: multipart/mixed; boundary=changeset_y\n\n" +
					strings.ReplaceAll(httpPart("changeset_y", "1", "PATCH "+base+"/accounts("+a+") HTTP/1.1\ncontent-type: application/json\n\n{\"name\":\"a2\"}", "\n"), "Content-ID", "content-id") +
					httpPart("changeset_y", "2", "POST "+base+"/accounts HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"new\"}", "\n") +
					"--changeset_y--\n" +
					httpPart("batch_x", "", "DELETE "+base+"/accounts("+b+") HTTP/1.1\n\n", "\n") +
					"--batch_x--\n"
			},
			wantStatus: 200,
			want:       []answer{{status: 204, contentID: "1", changeSet: 1}, {status: 204, contentID: "2", changeSet: 1}, {status: 204}},
			wantNames:  [2]string{"a2", ""}, wantLen: 2,
		},
		{
			name: "a failed change set is rolled back and answered by its error alone", nl: "\r\n", prefer: "odata.continue-on-error",
			build: func(a, b, base string) string {
				return "--batch_x\r\nContent-Type: multipart/mixed; boundary=changeset_y\r\n\r\n" +
					httpPart("changeset_y", "1", "PATCH "+base+"/accounts("+a+") HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"a2\"}", "\r\n") +
					httpPart("changeset_y", "2", "POST "+base+"/accounts HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"rolled back\"}", "\r\n") +
					httpPart("changeset_y", "3", "PATCH "+base+"/accounts("+b+") HTTP/1.1\nIf-Match: W/\"999\"\nContent-Type: application/json\n\n{\"name\":\"b2\"}", "\r\n") +
					"--changeset_y--\r\n" +
					httpPart("batch_x", "", "PATCH "+base+"/accounts("+b+") HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"b3\"}", "\r\n") +
					"--batch_x--\r\n"
			},
			wantStatus: 200,
			want:       []answer{{status: 412, contentID: "3", changeSet: 1, body: "If-Match"}, {status: 204}},
			wantNames:  [2]string{"a", "b3"}, wantLen: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := crmClient(t)
			a, _ := s.Put("accounts", connectors.Record{"name": "a"})
			b, _ := s.Put("accounts", connectors.Record{"name": "b"})
			s.ResetStats()
			var hdr []string
			if tt.prefer != "" {
				hdr = []string{"Prefer", tt.prefer}
			}
			status, h, body := postBatch(t, c, "multipart/mixed; boundary=batch_x", tt.build(a, b, c.base), hdr...)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d\n%s", status, tt.wantStatus, body)
			}
			got := readAnswers(t, h, body)
			if len(got) != len(tt.want) {
				t.Fatalf("answers %+v, want %+v\n%s", got, tt.want, body)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.status != w.status || g.contentID != w.contentID || g.changeSet != w.changeSet || !strings.Contains(g.body, w.body) {
					t.Errorf("answer %d = %+v, want %+v", i, g, w)
				}
			}
			for i, k := range []string{a, b} {
				rec, ok := s.Get("accounts", k)
				if want := tt.wantNames[i]; (want == "") == ok || ok && rec["name"] != want {
					t.Errorf("record %d = %v (exists %v), want name %q", i, rec, ok, want)
				}
			}
			if n := s.Len("accounts"); n != tt.wantLen {
				t.Errorf("%d accounts, want %d", n, tt.wantLen)
			}
			if st := s.Stats(); st.Requests != 1 {
				t.Errorf("a batch counted as %d requests", st.Requests)
			}
		})
	}
}

func TestMultipartBatchRefusals(t *testing.T) {
	patch := "PATCH accounts(00000000-0000-0000-0000-000000000001) HTTP/1.1\nContent-Type: application/json\n\n{}"
	changeSet := func(parts ...string) string {
		return "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n" + strings.Join(parts, "") + "--cs--\r\n--b--\r\n"
	}
	tests := []struct {
		name, contentType, body, has string
	}{
		{"no boundary", "multipart/mixed", "--b--\r\n", "boundary"},
		{"no closing delimiter", "multipart/mixed; boundary=b", httpPart("b", "", patch, "\r\n"), "malformed"},
		{"not a part", "multipart/mixed; boundary=b", "--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--\r\n", "application/json"},
		{"no Content-Transfer-Encoding", "multipart/mixed; boundary=b", "--b\r\nContent-Type: application/http\r\n\r\n" + patch + "\r\n--b--\r\n", "Content-Transfer-Encoding"},
		{"bad request line", "multipart/mixed; boundary=b", httpPart("b", "", "PATCH\n\n{}", "\r\n") + "--b--\r\n", "request"},
		{"HTTP/1.0", "multipart/mixed; boundary=b", httpPart("b", "", "DELETE accounts(1) HTTP/1.0\n\n", "\r\n") + "--b--\r\n", "HTTP/1.1"},
		{"no empty line after the headers", "multipart/mixed; boundary=b", httpPart("b", "", "DELETE accounts(1) HTTP/1.1\nIf-Match: *", "\r\n") + "--b--\r\n", "empty line"},
		{"no Content-ID in a change set", "multipart/mixed; boundary=b", changeSet(httpPart("cs", "", patch, "\r\n")), "Content-ID"},
		{"Content-ID twice", "multipart/mixed; boundary=b", changeSet(httpPart("cs", "1", patch, "\r\n"), httpPart("cs", "1", patch, "\r\n")), "not unique"},
		{"GET in a change set", "multipart/mixed; boundary=b", changeSet(httpPart("cs", "1", "GET accounts HTTP/1.1\n\n", "\r\n")), "GET"},
		{"change set in a change set", "multipart/mixed; boundary=b", changeSet("--cs\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n"), "requests (application/http) only"},
		{"empty change set", "multipart/mixed; boundary=b", changeSet(), "no request"},
		{"too many", "multipart/mixed; boundary=b", strings.Repeat(httpPart("b", "", "GET accounts HTTP/1.1\n\n", "\r\n"), maxBatch+1) + "--b--\r\n", "at most 1000"},
		{"JSON to Dataverse", "application/json", `{"requests":[]}`, `"code":"0x80048d19","message":"The batch request must have Content-Type multipart/mixed."`},
		{"text to Dataverse", "text/plain", `x`, `0x80048d19`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := crmClient(t)
			s.ResetStats()
			status, _, body := postBatch(t, c, tt.contentType, tt.body, "Prefer", "odata.continue-on-error")
			if status != http.StatusBadRequest || !strings.Contains(string(body), tt.has) {
				t.Errorf("status %d %s, want 400 with %q", status, body, tt.has)
			}
		})
	}
	// A batch within a batch is answered, as a failed request, not refused.
	_, c := crmClient(t)
	status, h, body := postBatch(t, c, "multipart/mixed; boundary=b",
		httpPart("b", "", "POST $batch HTTP/1.1\nContent-Type: multipart/mixed; boundary=c\n\n--c--", "\r\n")+"--b--\r\n", "Prefer", "odata.continue-on-error")
	if got := readAnswers(t, h, body); status != 200 || len(got) != 1 || got[0].status != 400 {
		t.Errorf("batch in a batch: %d %+v", status, got)
	}
}

// TestBatchFormats checks which formats each fake takes: Dataverse's
// multipart only, Business Central's and New's both.
func TestBatchFormats(t *testing.T) {
	jsonBatch := `{"requests":[{"id":"1","method":"GET","url":"SET?$top=1"}]}`
	multipartBatch := httpPart("b", "", "GET SET?$top=1 HTTP/1.1\n\n", "\r\n") + "--b--\r\n"
	for _, tt := range []struct {
		name      string
		s         *Server
		set       string
		json, mpt int
	}{
		{"CRM", NewCRM(), "accounts", 400, 200},
		{"ERP", NewERP(), "companies(" + BCCompanyID + ")/customers", 200, 200},
		{"New", New(EntitySet{Name: "x", Key: "id"}), "x", 200, 200},
	} {
		c := newClient(t, tt.s)
		if got, _, body := postBatch(t, c, "application/json", strings.ReplaceAll(jsonBatch, "SET", tt.set)); got != tt.json {
			t.Errorf("%s: JSON batch: %d %s, want %d", tt.name, got, body, tt.json)
		}
		if got, _, body := postBatch(t, c, "multipart/mixed; boundary=b", strings.ReplaceAll(multipartBatch, "SET", tt.set)); got != tt.mpt {
			t.Errorf("%s: multipart batch: %d %s, want %d", tt.name, got, body, tt.mpt)
		}
	}
	s := New(EntitySet{Name: "x", Key: "id"})
	s.SetBatchFormats(BatchJSON)
	if got, _, _ := postBatch(t, newClient(t, s), "multipart/mixed; boundary=b", multipartBatch); got != http.StatusUnsupportedMediaType {
		t.Errorf("multipart to a JSON-only server: %d, want 415", got)
	}
}
