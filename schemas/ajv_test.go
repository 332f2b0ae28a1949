package schemas

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors/conformance"
)

// TestSchemasStrictAjv compiles every schema with ajv, the validator most
// JSON tooling and the YAML language server build on, in strict mode
// (testdata/ajv-strict.js says which checks), and validates the golden
// JSON plans against the plan schema with it. ajv is pinned in the npm
// project of conformance.ServersDir; the test fails instead of skipping
// under COUPLER_REQUIRE_REAL_SERVERS=1, as CI runs it.
func TestSchemasStrictAjv(t *testing.T) {
	node, ajv := conformance.NodeModule(t, "ajv")
	_, formats := conformance.NodeModule(t, "ajv-formats")
	args := []string{filepath.Join("testdata", "ajv-strict.js"), ajv, formats}
	for _, s := range All {
		args = append(args, s.File)
	}
	args = append(args, "--",
		PlanFile, filepath.Join("..", "engine", "report", "testdata", "plan.json"),
		PlanFile, filepath.Join("..", "engine", "report", "testdata", "every-kind.json"))
	out, err := exec.Command(node, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ajv: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "compiled "); n != len(All) {
		t.Errorf("ajv compiled %d schemas, want %d:\n%s", n, len(All), out)
	}
}
