package fake

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

type batchResult struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

// jsonCRMClient is crmClient for a server that takes JSON batches only,
// the format these tests are about (NewCRM takes multipart only, as
// Dataverse).
func jsonCRMClient(t *testing.T) (*Server, *testClient) {
	t.Helper()
	s, c := crmClient(t)
	s.SetBatchFormats(BatchJSON)
	return s, c
}

func TestBatch(t *testing.T) {
	const key = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	batch := `{"requests":[
		{"id":"1","method":"POST","url":"accounts","headers":{"content-type":"application/json","prefer":"return=representation"},"body":{"accountid":"` + key + `","name":"a"}},
		{"id":"2","method":"PATCH","url":"/accounts(` + key + `)","headers":{"if-match":"W/\"999\""},"body":{"name":"b"}},
		{"id":"3","method":"PATCH","url":"accounts(` + key + `)","dependsOn":["2"],"body":{"name":"c"}},
		{"id":"4","method":"PATCH","url":"SERVICE/accounts(` + key + `)","body":{"name":"d"}},
		{"id":"5","method":"GET","url":"accounts?$select=name&$filter=name eq 'd'"}
	]}`
	tests := []struct {
		name   string
		prefer string
		want   []int
	}{
		{"stops at the first failure", "", []int{201, 412}},
		{"continue on error", "odata.continue-on-error", []int{201, 412, 424, 204, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := jsonCRMClient(t)
			s.ResetStats()
			hdr := []string{}
			if tt.prefer != "" {
				hdr = append(hdr, "Prefer", tt.prefer)
			}
			r := c.do("POST", "/$batch", strings.ReplaceAll(batch, "SERVICE", c.base), hdr...)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var res batchResult
			if err := json.Unmarshal(r.body, &res); err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, resp := range res.Responses {
				got = append(got, resp.Status)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("statuses %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("statuses %v, want %v", got, tt.want)
				}
			}
			created := res.Responses[0]
			if created.Headers["etag"] == "" || !strings.HasPrefix(created.Headers["odata-entityid"], c.base+"/accounts(") {
				t.Errorf("create headers = %v", created.Headers)
			}
			if !strings.Contains(string(created.Body), `"name":"a"`) {
				t.Errorf("create body = %s", created.Body)
			}
			if len(got) == 5 && !strings.Contains(string(res.Responses[4].Body), `"name":"d"`) {
				t.Errorf("GET in batch = %s", res.Responses[4].Body)
			}
			if st := s.Stats(); st.Requests != 1 {
				t.Errorf("a batch counted as %d requests", st.Requests)
			}
		})
	}
}

func TestBatchRefusals(t *testing.T) {
	_, c := jsonCRMClient(t)
	tests := []struct {
		name, contentType, body string
		status                  int
	}{
		{"multipart", "multipart/mixed; boundary=b", "--b--", http.StatusUnsupportedMediaType},
		{"malformed", "application/json", `{"requests":`, http.StatusBadRequest},
		{"atomicity group", "application/json", `{"requests":[{"id":"1","method":"GET","url":"accounts","atomicityGroup":"g"}]}`, http.StatusBadRequest},
		{"too many", "application/json", `{"requests":[` + strings.Repeat(`{"id":"1","method":"GET","url":"accounts"},`, 1000) + `{"id":"1","method":"GET","url":"accounts"}]}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", c.base+"/$batch", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := c.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}
