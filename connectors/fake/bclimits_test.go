package fake

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBusinessCentralBatchPartLimit: the fake ERP takes 100 requests in a
// $batch and refuses 101 with Business Central's message; the fake CRM
// takes up to Dataverse's 1000.
func TestBusinessCentralBatchPartLimit(t *testing.T) {
	jsonBatch := func(n int, url string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"id":"%d","method":"GET","url":%q}`, i, url)
		}
		return `{"requests":[` + strings.Join(parts, ",") + `]}`
	}
	c := newClient(t, NewERP())
	customers := "companies(" + BCCompanyID + ")/customers?$top=1"
	if status, _, body := postBatch(t, c, "application/json", jsonBatch(100, customers)); status != http.StatusOK {
		t.Errorf("100 requests: %d %s; want 200", status, body)
	}
	status, _, body := postBatch(t, c, "application/json", jsonBatch(101, customers))
	if status != http.StatusBadRequest || !strings.Contains(string(body), "A maximum number of '100' query operations and change sets") {
		t.Errorf("101 requests: %d %s; want 400 with Business Central's message", status, body)
	}
	multipart := strings.Repeat(httpPart("b", "", "GET "+customers+" HTTP/1.1\n\n", "\r\n"), 101) + "--b--\r\n"
	if status, _, body := postBatch(t, c, "multipart/mixed; boundary=b", multipart); status != http.StatusBadRequest {
		t.Errorf("101 multipart parts: %d %s; want 400", status, body)
	}
	crm := strings.Repeat(httpPart("b", "", "GET accounts?$top=1 HTTP/1.1\n\n", "\r\n"), 101) + "--b--\r\n"
	if status, _, body := postBatch(t, newClient(t, NewCRM()), "multipart/mixed; boundary=b", crm); status != http.StatusOK {
		t.Errorf("Dataverse, 101 parts: %d %s; want 200", status, body)
	}
}
