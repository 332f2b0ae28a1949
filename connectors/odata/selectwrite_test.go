package odata

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

// TestWritesSelectWhatTheCallerReads: a Dataverse create or update the
// caller reads the answer of (WriteOp.Return) asks for the record's key,
// modified field and those fields alone ($select, "Create with data
// returned"), singly and in $batch parts, and gets them; a caller that
// reads all, or a service that does not document it, asks for no
// $select.
func TestWritesSelectWhatTheCallerReads(t *testing.T) {
	accounts := fake.EntitySet{Name: "accounts", Key: "accountid", Modified: "modifiedon", Fields: []string{"name", "accountnumber", "telephone1"}}
	e := connectors.Entity{Name: "accounts", Key: "accountid", Modified: "modifiedon"}
	for _, tc := range []struct {
		name       string
		root       string // where the service is served
		batch      int
		returned   []string
		wantSelect string // of every write request, in the URL or a part's request line
		wantFields []string
	}{
		{"single, Dataverse", "/api/data/v9.2", 1, []string{"accountnumber"}, "accountid,modifiedon,accountnumber", []string{"@odata.etag", "accountid", "accountnumber", "modifiedon"}},
		{"batched, Dataverse", "/api/data/v9.2", 10, []string{"accountnumber"}, "accountid,modifiedon,accountnumber", []string{"@odata.etag", "accountid", "accountnumber", "modifiedon"}},
		{"none returned but the key and modified", "/api/data/v9.2", 1, []string{}, "accountid,modifiedon", []string{"@odata.etag", "accountid", "modifiedon"}},
		{"the caller reads all", "/api/data/v9.2", 1, nil, "", []string{"@odata.etag", "accountid", "accountnumber", "modifiedon", "name", "telephone1"}},
		{"another service", "/odata", 1, []string{"accountnumber"}, "", []string{"@odata.etag", "accountid", "accountnumber", "modifiedon", "name", "telephone1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fake.New(accounts)
			var mu sync.Mutex
			var selects []string
			mux := http.NewServeMux()
			mux.Handle(tc.root+"/", http.StripPrefix(tc.root, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet {
					mu.Lock()
					selects = append(selects, r.URL.Query().Get("$select"))
					mu.Unlock()
				}
				s.ServeHTTP(w, r)
			})))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			settings := &Settings{BatchSize: tc.batch}
			if tc.batch > 1 {
				settings.BatchFormat = BatchFormatJSON
				if tc.root == "/api/data/v9.2" {
					settings.BatchFormat = BatchFormatMultipart
				}
			}
			c, err := New(connectors.Config{BaseURL: srv.URL + tc.root, MaxRetries: 0, Settings: settings})
			if err != nil {
				t.Fatal(err)
			}
			fields := connectors.Record{"name": "Contoso", "accountnumber": "A1", "telephone1": "555"}
			res, err := c.Write(t.Context(), e, []connectors.WriteOp{{Op: connectors.OpCreate, Fields: fields, Return: tc.returned}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("create: %v %+v", err, res)
			}
			res, err = c.Write(t.Context(), e, []connectors.WriteOp{{Op: connectors.OpUpdate, Key: res[0].Key, Fields: connectors.Record{"name": "Fabrikam"}, Return: tc.returned}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("update: %v %+v", err, res)
			}
			if got := slices.Sorted(func(yield func(string) bool) {
				for k := range res[0].Record {
					if !yield(k) {
						return
					}
				}
			}); !slices.Equal(got, tc.wantFields) {
				t.Errorf("the updated record holds %v, want %v", got, tc.wantFields)
			}
			if res[0].ETag == "" {
				t.Error("the update's answer has no ETag")
			}
			if tc.batch > 1 {
				// The $batch request itself selects nothing; its parts do,
				// which the fake answers each as it would alone.
				return
			}
			for i, got := range selects {
				if got != tc.wantSelect {
					t.Errorf("write %d: $select %q, want %q", i+1, got, tc.wantSelect)
				}
			}
		})
	}
}
