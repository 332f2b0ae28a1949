package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/location"
	"github.com/couplerhq/coupler/mappings"
)

// What the commands that look at or tidy the state database ask of the
// engine: listings of runs, plans, failures and writes in flight, saved
// plans by id, name or "latest", and the few edits a person makes by hand.
// They go through the engine, not the state database, so that its rules
// (mapping names checked, ids normalised, "latest" resolved) hold
// whichever command asks.

// LatestPlan names the newest saved plan wherever a plan id or name is
// taken: coupler show latest, coupler apply latest.
const LatestPlan = "latest"

// PlanRef is the plan a person's reference names for Apply and SavedPlan:
// "" for the latest plan (LatestPlan or nothing), otherwise the id or
// name as given.
func PlanRef(ref string) string {
	if ref == LatestPlan {
		return ""
	}
	return ref
}

// CheckPlanName refuses a name for a saved plan (PlanOptions.Name) that
// would mislead: one with a path separator, which reads as a file the plan
// is written to while it names a plan in the state database, and
// LatestPlan, which always means the newest plan.
func CheckPlanName(name string) error {
	if name == "" {
		return nil // no name: the plan has its id only
	}
	if strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("plan name %q has a path separator: the name is a saved plan's in the state database, not a file; to write a plan to a file, use coupler show PLAN --format FORMAT -o FILE", name)
	}
	if name == LatestPlan {
		return fmt.Errorf("plan name %q always means the newest plan; choose another", name)
	}
	return nil
}

// Runs lists the runs of the run log, newest first, at most limit.
func (e *Engine) Runs(ctx context.Context, limit int) ([]state.Run, error) {
	return e.store.Runs(ctx, limit)
}

// Plans lists the saved plans, newest first, at most limit.
func (e *Engine) Plans(ctx context.Context, limit int) ([]state.PlanSummary, error) {
	return e.store.Plans(ctx, limit)
}

// LatestPlanID returns the id of the newest saved plan, or an error
// wrapping state.ErrNoPlan when there is none.
func (e *Engine) LatestPlanID(ctx context.Context) (string, error) {
	id, _, err := e.store.LatestPlan(ctx)
	return id, err
}

// SavedPlan loads a saved plan by id or name, or the latest one when ref
// is empty or LatestPlan. It lists at most limit operations per mapping
// (negative: all) of the given kinds (none: writes, conflicts, failures
// and skipped records).
func (e *Engine) SavedPlan(ctx context.Context, ref string, limit int, kinds ...plan.Kind) (*plan.Plan, error) {
	id := PlanRef(ref)
	if id == "" {
		var err error
		if id, err = e.LatestPlanID(ctx); err != nil {
			return nil, err
		}
	}
	return e.store.LoadPlan(ctx, id, limit, kinds...)
}

// ExportPlan writes the operations of the saved plan ref (as SavedPlan
// takes it), one row per changed field, to file in format "parquet" or
// "jsonl"; empty mappings and kinds mean all. It returns the plan's id and
// how many rows it wrote.
func (e *Engine) ExportPlan(ctx context.Context, ref, format, file string, mappings []string, kinds []plan.Kind) (id string, rows int64, err error) {
	for _, m := range mappings {
		if err := e.CheckMapping(m); err != nil {
			return "", 0, err
		}
	}
	// A name resolves to the id first: the export selects by id.
	p, err := e.SavedPlan(ctx, ref, 0)
	if err != nil {
		return "", 0, err
	}
	n, err := e.store.ExportOperations(ctx, p.ID, format, file, mappings, kinds)
	return p.ID, n, err
}

// PrunePlans removes the saved plans made before olderThan but the newest
// keep and those an apply may still resume (state.DB.PrunePlans).
func (e *Engine) PrunePlans(ctx context.Context, olderThan time.Time, keep int) (state.PruneResult, error) {
	return e.store.PrunePlans(ctx, olderThan, keep)
}

// Failures lists the records that failed in the latest run of each mapping
// and direction, and those skipped, newest first, at most limit: of one
// mapping, or of all when mapping is empty.
func (e *Engine) Failures(ctx context.Context, mapping string, limit int) ([]state.Failure, error) {
	if mapping != "" {
		if err := e.CheckMapping(mapping); err != nil {
			return nil, err
		}
	}
	return e.store.Failures(ctx, mapping, limit)
}

// Intents lists the writes in flight that a stopped coupler left, oldest
// first (see docs/reliability.md).
func (e *Engine) Intents(ctx context.Context) ([]state.Intent, error) {
	return e.store.PendingIntents(ctx)
}

// ForgetIntents forgets the writes in flight of run with the given seqs,
// which a person found did not happen, so that the next plan or apply
// tries them again; with dryRun it forgets nothing. Either way it returns
// those intents, to say what was (or would be) forgotten. A seq the run
// has no write in flight for is an error, and then nothing is forgotten.
func (e *Engine) ForgetIntents(ctx context.Context, run int64, seqs []int64, dryRun bool) ([]state.Intent, error) {
	if len(seqs) == 0 {
		return nil, errors.New("no write in flight named: give the SEQ numbers of the run's writes (see coupler state intents)")
	}
	pending, err := e.store.PendingIntents(ctx)
	if err != nil {
		return nil, err
	}
	known := map[int64]state.Intent{}
	for _, in := range pending {
		if in.RunID == run {
			known[in.Seq] = in
		}
	}
	out := make([]state.Intent, 0, len(seqs))
	for _, n := range seqs {
		in, ok := known[n]
		if !ok {
			return nil, fmt.Errorf("run %d has no write in flight with SEQ %d (see coupler state intents)", run, n)
		}
		out = append(out, in)
	}
	if dryRun {
		return out, nil
	}
	return out, e.store.DropIntents(ctx, run, seqs)
}

// Backup copies the state database into file, a new DuckDB file coupler
// can use as its state as it is; an empty file names one beside the state
// file after it and the time, e.g. state-20261124-101800.backup.duckdb.
// It returns the state file and the backup's.
func (e *Engine) Backup(ctx context.Context, file string) (src, dst string, err error) {
	src = e.store.Path()
	if file == "" {
		ext := filepath.Ext(src)
		file = strings.TrimSuffix(src, ext) + "-" + e.now().UTC().Format("20060102-150405") + ".backup" + ext
	}
	return src, file, e.store.Backup(ctx, file)
}

// Query runs one read-only SQL statement on the project's state database
// (state.Query: no other file, extension or setting is reachable), calling
// fn with the column names and a nil row first, then with each row. It
// opens the database read-only, without an engine, and needs only the
// project file to have loaded.
func Query(ctx context.Context, project *mappings.Project, sql string, fn func(cols []string, row []any) error) error {
	loc := project.StateLocation()
	if !loc.Postgres() {
		return state.Query(ctx, project.State, sql, fn)
	}
	// PostgreSQL runs it in a READ ONLY transaction (pgstate.DB.Query),
	// beside whatever else is connected.
	store, err := OpenStore(ctx, loc, state.Options{})
	if err != nil {
		return err
	}
	return errors.Join(store.Query(ctx, sql, fn), store.Close())
}

// Query runs one read-only SQL statement, as the function Query does, on
// the engine's own state database while it stays open for writing: for
// coupler serve, whose engine must be opened sealed (Options.State.Sealed;
// see state.DB.Query). It reads the last committed state without waiting
// for a plan or apply under way.
func (e *Engine) Query(ctx context.Context, sql string, fn func(cols []string, row []any) error) error {
	return e.store.Query(ctx, sql, fn)
}

// WatermarkReset clears the watermarks of mappings whose files coupler
// reset put back to the bundled defaults, so that their next plan reads
// every record; couplings are kept. It works on the state alone, since the
// project it resets may not load.
type WatermarkReset struct {
	store  state.Store
	unlock func()
}

// OpenWatermarkReset opens the state at loc for a reset, before any file
// is written, so that a locked or unreadable state stops the reset with
// nothing written. It holds the state's write lock until Close: an apply
// under way would record the watermarks the reset clears.
func OpenWatermarkReset(ctx context.Context, loc location.Location) (*WatermarkReset, error) {
	store, err := OpenStore(ctx, loc, state.Options{})
	if err != nil {
		return nil, err
	}
	unlock, err := store.LockWrites()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("state database %s: %w", store.Path(), err), store.Close())
	}
	return &WatermarkReset{store: store, unlock: unlock}, nil
}

// Reset clears the watermarks and change tracking tokens of mapping and
// returns how many couplings it keeps.
func (w *WatermarkReset) Reset(ctx context.Context, mapping string) (couplings int64, err error) {
	if _, err := w.store.ClearWatermarks(ctx, []string{mapping}); err != nil {
		return 0, err
	}
	return w.store.CouplingCount(ctx, mapping)
}

// Close releases the write lock and closes the state.
func (w *WatermarkReset) Close() error {
	w.unlock()
	return w.store.Close()
}

// checkPlanName refuses, before anything is read, a plan name that
// CheckPlanName refuses or that another plan has (unless ReplaceName).
func (e *Engine) checkPlanName(ctx context.Context, opts PlanOptions) error {
	if err := CheckPlanName(opts.Name); err != nil || opts.Name == "" {
		return err
	}
	if opts.ReplaceName {
		return nil
	}
	other, ok, err := e.store.PlanNamed(ctx, opts.Name)
	if err != nil {
		return err
	}
	if ok {
		return state.NameTakenError(opts.Name, other)
	}
	return nil
}
