// Command coupler keeps records in two systems in step, as declared in
// version-controlled YAML: validate, plan, apply, runs, and a demo.
package main

import (
	"os"

	_ "github.com/couplerhq/coupler/connectors/odata"
	_ "github.com/couplerhq/coupler/connectors/rest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
