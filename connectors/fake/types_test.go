package fake

// The loader decodes each connector type's settings through the type's
// spec, registered when its package is imported, as coupler's main does.
import (
	_ "github.com/couplerhq/coupler/connectors/odata"
	_ "github.com/couplerhq/coupler/connectors/rest"
)
