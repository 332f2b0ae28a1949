package runner_test

import (
	"os"
	"testing"

	"github.com/couplerhq/coupler/engine/state/statetest"
)

func TestMain(m *testing.M) {
	statetest.OneThread()
	os.Exit(m.Run())
}
