package odata

import (
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestBusinessCentralBatchSizeLimit: a batch_size Business Central would
// refuse on every $batch is lowered to its 100 when the connector is made
// (with a warning); Dataverse takes up to 1000.
func TestBusinessCentralBatchSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		base       string
		size, sent int
	}{
		{bcRoot, 100, 100},
		{bcRoot + "/companies(5e7b2c1a-0000-0000-0000-000000000000)", 250, 100},
		{dataverseURL, 1000, 1000},
	} {
		c, err := New(connectors.Config{Name: "x", Type: "odata", BaseURL: tc.base, Settings: &Settings{BatchSize: tc.size}})
		if err != nil || c.batchSize != tc.sent {
			t.Errorf("%s, batch_size %d: sends %d (err %v); want %d", tc.base, tc.size, c.batchSize, err, tc.sent)
		}
	}
}
