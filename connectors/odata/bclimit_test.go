package odata

import (
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestBusinessCentralBatchSizeLimit: a batch_size Business Central would
// refuse on every $batch is refused when the connector is made, naming the
// limit; Dataverse takes up to 1000.
func TestBusinessCentralBatchSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		base string
		size int
		ok   bool
	}{
		{bcRoot, 100, true},
		{bcRoot + "/companies(5e7b2c1a-0000-0000-0000-000000000000)", 101, false},
		{dataverseURL, 1000, true},
	} {
		_, err := New(connectors.Config{Name: "x", Type: "odata", BaseURL: tc.base, BatchSize: tc.size})
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "at most 100")) {
			t.Errorf("%s, batch_size %d: err = %v; want ok %v", tc.base, tc.size, err, tc.ok)
		}
	}
}
