package transport

import "crypto/tls"

// insecureConfig is what a careless caller might pass in a base transport.
func insecureConfig() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // the test checks it is overridden
