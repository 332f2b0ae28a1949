package mappings

import "github.com/couplerhq/coupler/connectors/config"

// Getenv looks up an environment variable; LoadOptions takes one so that
// tests and the demo need not touch the process environment.
type Getenv = config.Getenv
