package engine

import (
	"context"

	"github.com/couplerhq/coupler/mappings"
)

// Load reads and compiles the project in dir, returning every problem found
// in its files. The program is nil if any of them is an error.
func Load(dir string, opts mappings.LoadOptions) (*Program, mappings.Diagnostics) {
	p, diags := mappings.Load(dir, opts)
	if p == nil {
		return nil, diags
	}
	// Compile even a project with load errors, so that one validate run
	// reports the broken expressions too.
	prog, cdiags := Compile(p)
	diags = append(diags, cdiags...)
	diags.Sort()
	if diags.HasErrors() {
		return nil, diags
	}
	return prog, diags
}

// OpenProject loads the project in dir and opens an engine on it. Warnings
// are returned with a nil error; errors make the error non-nil.
func OpenProject(ctx context.Context, dir string, lopts mappings.LoadOptions, opts Options) (*Engine, mappings.Diagnostics, error) {
	prog, diags := Load(dir, lopts)
	if err := diags.Err(); err != nil {
		return nil, diags, err
	}
	e, err := Open(ctx, prog, opts)
	return e, diags, err
}
