package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/location"
	"github.com/couplerhq/coupler/engine/state/pgstate"
	"github.com/couplerhq/coupler/mappings"
)

// OpenStore opens the state at loc: a DuckDB file (state.Open, with opts)
// or a schema of a PostgreSQL database (pgstate.Open, with opts.Redact),
// each made if missing. It is the one place that tells the two apart.
func OpenStore(ctx context.Context, loc location.Location, opts state.Options) (state.Store, error) {
	if loc.Postgres() {
		return pgstate.Open(ctx, loc.URL, pgstate.Options{Schema: loc.Schema, Redact: opts.Redact})
	}
	return state.Open(ctx, loc.Path, opts)
}

// MigrateOptions says what coupler state migrate copies where.
type MigrateOptions struct {
	// From is the state copied; the zero Location is the project's.
	From location.Location
	// To is the state copied into, which must hold nothing unless Force.
	To location.Location
	// Force replaces what To holds.
	Force bool
	// Progress, when set, is told of each table's rows as they are
	// copied (Stage "copy", Mapping the table's name) and read back to
	// verify them (Stage "verify").
	Progress func(Progress)
}

// MigrateResult is what MigrateState copied.
type MigrateResult struct {
	// From and To name the two states, without passwords.
	From, To string
	*state.CopyReport
}

// MigrateState copies every table of a state into another, a DuckDB file
// into PostgreSQL or back (state.Copy): couplings with all their columns,
// watermarks and change tokens, definitions and acknowledgements, saved
// plans with their parts and operations, runs with their records and
// failures. The copy is one transaction of the destination, verified
// before it commits by each table's row count and a checksum of its rows
// computed alike on both sides; any error leaves the destination as it
// was (a DuckDB file it made is removed). It refuses while the source has
// write intents pending, a destination that holds a state unless Force,
// and a destination that is the source. Neither state may be applied to
// meanwhile (each one's LockWrites is held); the caller keeps other
// processes off a DuckDB file, as for every command.
func MigrateState(ctx context.Context, project *mappings.Project, opts MigrateOptions) (*MigrateResult, error) {
	from := opts.From
	if from == (location.Location{}) {
		from = project.StateLocation()
	}
	to := opts.To
	res := &MigrateResult{From: from.String(), To: to.String()}
	if from.Same(to) {
		return nil, fmt.Errorf("migrate %s: the destination is the source state itself", res.From)
	}
	if !from.Postgres() {
		// state.Open would make an empty state there.
		if _, err := os.Stat(from.Path); err != nil {
			return nil, fmt.Errorf("migrate %s: no state there: %w", res.From, err)
		}
	}
	made := false
	if !to.Postgres() {
		_, err := os.Stat(to.Path)
		made = errors.Is(err, fs.ErrNotExist)
	}
	report, err := migrate(ctx, from, to, opts)
	if err != nil {
		if made {
			// Nothing was committed to it, but it would be an empty
			// state that a later migrate would take for a destination.
			_ = os.Remove(to.Path)
			_ = os.Remove(to.Path + ".wal")
		}
		return nil, explainMigrate(res, err)
	}
	res.CopyReport = report
	return res, nil
}

func migrate(ctx context.Context, from, to location.Location, opts MigrateOptions) (*state.CopyReport, error) {
	src, err := OpenStore(ctx, from, state.Options{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	exporter, ok := src.(state.BulkExporter)
	if !ok {
		return nil, fmt.Errorf("the state at %s cannot be copied from", from)
	}
	dst, err := OpenStore(ctx, to, state.Options{})
	if err != nil {
		return nil, err
	}
	importer, ok := dst.(state.BulkImporter)
	if !ok {
		dst.Close()
		return nil, fmt.Errorf("the state at %s cannot be copied into", to)
	}
	copts := state.CopyOptions{Force: opts.Force}
	if opts.Progress != nil {
		copts.Progress = func(p state.CopyProgress) {
			stage := "copy"
			if p.Verifying {
				stage = "verify"
			}
			opts.Progress(Progress{Mapping: p.Table, Stage: stage, Done: p.Done})
		}
	}
	report, err := func() (*state.CopyReport, error) {
		for _, s := range []state.Store{src, dst} {
			unlock, err := s.LockWrites()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Path(), err)
			}
			defer unlock()
		}
		return state.Copy(ctx, exporter, importer, copts)
	}()
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", to, cerr)
	}
	return report, err
}

// explainMigrate says, beside why a migrate failed, that the destination
// was left as it was and what to do about the refusals.
func explainMigrate(res *MigrateResult, err error) error {
	err = fmt.Errorf("migrate %s to %s: %w", res.From, res.To, err)
	switch {
	case errors.Is(err, state.ErrIntentsPending):
		return fmt.Errorf("%w; settle them first: run coupler plan (or apply) on the source state, which finds out whether each write happened and records it (coupler state intents lists them; docs/reliability.md), then migrate again; nothing was copied", err)
	case errors.Is(err, state.ErrNotEmpty):
		return fmt.Errorf("%w; coupler state migrate copies into an empty state only, so that the couplings and run numbers of two states never mix: check that --to names the state you mean, or add --force to replace what it holds; nothing was copied", err)
	}
	return fmt.Errorf("%w; the copy is one transaction of the destination, rolled back: the destination holds what it held before", err)
}
