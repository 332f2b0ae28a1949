package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// Options adjusts an Engine.
type Options struct {
	// Logger receives progress at debug level and problems at warn; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// State tunes the state database.
	State state.Options
	// Progress, when set, is told how a plan or apply is getting on.
	Progress func(Progress)
	// Draining, when set and true, stops an apply before its next batch of
	// writes with ErrDrained: the batch under way finishes and is recorded,
	// and no new write starts. Unlike cancelling the context, it does not
	// abort the writes in flight. serve sets it on SIGTERM.
	Draining func() bool
	// OnClose, when set, runs after Close has closed the state database,
	// e.g. to release the lock on it.
	OnClose func() error
	// Redactor, when set, is the process's one scrubber of secrets
	// (package redact), which Open teaches the project's secrets; nil
	// makes one for this engine. Pass one shared with what else prints
	// or renders the engine's errors (the command's stderr, serve's page).
	Redactor *redact.Redactor
	// Store, when set, is the state in place of the project's state
	// file: a PostgreSQL state (pgstate) that several coupler processes
	// share, say. A plan then stages and diffs in a private DuckDB
	// workspace, a temporary file under staging's temp_directory (or the
	// system's) that Close removes, and copies its result into Store,
	// which must implement state.MappingRows and state.DiffSaver unless
	// it is a *state.DB. Close closes Store; a failed Open leaves it open.
	Store state.Store
	// Offline opens the state database and builds no connector: for the
	// commands that only read or tidy the state (runs, plans, show,
	// errors...), which then need none of the connectors' secrets. Plan,
	// apply and whatever else reaches a service fail on such an engine.
	Offline bool
	// WaitForWrites makes an apply wait, until its context ends, for
	// another apply on the same state to finish instead of failing at
	// once, when the state can (state.WriteLockWaiter: PostgreSQL): the
	// workers of coupler serve --workers apply different mappings of one
	// project, one after the other. A DuckDB state ignores it.
	WaitForWrites bool
}

// ErrDrained is returned by an apply stopped by Options.Draining. What was
// written is recorded; the rest of the plan is not applied, and the next
// plan picks it up.
var ErrDrained = errors.New("stopped before the next batch of writes: shutting down")

// Progress reports work under way on one mapping.
type Progress struct {
	Mapping string
	// Stage is "read source", "read destination", "diff", "save" or
	// "write". "diff" (comparing the staged sides) and "save" (storing
	// the plan, Mapping empty) count nothing: they are reported once, as
	// they start, so that a display can say why the counts stopped.
	Stage string
	// Done counts records handled so far in this stage.
	Done int64
}

// Engine runs a compiled program against its connectors and state database.
type Engine struct {
	prog     *Program
	redactor *redact.Redactor
	// store is the state: couplings, watermarks, plans, runs, intents.
	store state.Store
	// work is the DuckDB database a plan stages both sides in and diffs
	// them (NewStage, Diff and the rest of state's staging methods): the
	// state database itself when the state is DuckDB's, else a private
	// workspace (workspace.go) in workDir, nil when offline.
	work     *state.DB
	workDir  string
	conns    map[string]connectors.Connector
	log      *slog.Logger
	now      func() time.Time
	progress func(Progress)
	draining func() bool
	onClose  func() error
	// offline is Options.Offline: no connector was built.
	offline bool
	// waitForWrites is Options.WaitForWrites.
	waitForWrites bool
	// applyBatch, when above 0, is the size of every apply batch in place
	// of applyBatchSize's: tests make it small to cross batch boundaries
	// with few records. Per engine, so that tests run in parallel.
	applyBatch int
	// stagingLimit is the state database's memory_limit, for the hint
	// when a plan runs out of it.
	stagingLimit string
}

// Open opens the project's state database and builds its connectors.
func Open(ctx context.Context, prog *Program, opts Options) (*Engine, error) {
	e := &Engine{prog: prog, log: opts.Logger, now: opts.Now, progress: opts.Progress, conns: map[string]connectors.Connector{},
		draining: opts.Draining, onClose: opts.OnClose, offline: opts.Offline, waitForWrites: opts.WaitForWrites}
	if e.draining == nil {
		e.draining = func() bool { return false }
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	// One scrubber of the project's secrets for everything the engine
	// logs (its connectors' logs too) and stores: a server's error body may
	// echo what it was sent.
	e.redactor = opts.Redactor
	if e.redactor == nil {
		e.redactor = redact.New()
	}
	for _, c := range prog.Project.Connectors {
		c.Config.AddSecretsTo(e.redactor)
	}
	e.log = slog.New(e.redactor.Handler(e.log.Handler()))
	if e.now == nil {
		e.now = time.Now
	}
	if e.progress == nil {
		e.progress = func(Progress) {}
	}
	if !e.offline {
		// A project loaded with its unset variables deferred
		// (mappings.LoadOptions.DeferUnsetEnv) builds no connector.
		if unset := prog.Project.UnsetEnv(); len(unset) > 0 {
			return nil, unset.Err()
		}
	}
	for _, c := range prog.Project.Connectors {
		if e.offline {
			break
		}
		cfg := c.Config
		cfg.Redactor, cfg.Logger = e.redactor, e.log
		conn, err := connectors.New(cfg)
		if err != nil {
			return nil, err
		}
		e.conns[c.Name] = conn
	}
	prog.readLookupsWith(e.lookupReader)
	stateOpts := opts.State
	// The project's staging: bounds what a plan's staging and diff take,
	// whatever the input; Options.State wins, as tests and tools set it.
	staging := prog.Project.Staging
	if stateOpts.MemoryLimit == "" && stateOpts.MemoryLimitFor == nil {
		if staging.MemoryLimit > 0 {
			stateOpts.MemoryLimit = strconv.FormatInt(staging.MemoryLimit>>10, 10) + "KiB"
		} else {
			stateOpts.MemoryLimitFor = func(threads int) string {
				return strconv.FormatInt(mappings.DefaultStagingMemoryLimit(threads)>>10, 10) + "KiB"
			}
		}
	}
	// The limit in force, which the hint of a plan that ran out names,
	// is known once the database that stages is open.
	defer func() {
		if e.work != nil {
			e.stagingLimit = e.work.MemoryLimit()
		}
	}()
	if stateOpts.TempDirectory == "" {
		stateOpts.TempDirectory = staging.TempDirectory
	}
	stateOpts.Redact = e.redactor.String
	if stateOpts.Logger == nil {
		stateOpts.Logger = e.log
	}
	if opts.Store != nil {
		if err := e.openWorkspace(ctx, opts.Store, stateOpts); err != nil {
			return nil, err
		}
		return e, nil
	}
	if loc := prog.Project.StateLocation(); loc.Postgres() {
		if err := e.openPostgres(ctx, loc, stateOpts); err != nil {
			return nil, err
		}
		return e, nil
	}
	db, err := state.Open(ctx, prog.Project.State, stateOpts)
	if err != nil {
		return nil, err
	}
	e.store, e.work = db, db
	return e, nil
}

// explain names the state database in an error that came of its being
// out of reach (state.ErrUnavailable), when the store can tell.
func (e *Engine) explain(err error) error {
	if x, ok := e.store.(state.ErrorExplainer); ok && err != nil {
		return x.ExplainError(err)
	}
	return err
}

// Program returns the compiled project the engine runs.
func (e *Engine) Program() *Program { return e.prog }

// Redactor returns the scrubber of the project's secrets that the
// engine's logs and stored failures go through, for whatever prints or
// renders the engine's errors.
func (e *Engine) Redactor() *redact.Redactor { return e.redactor }

// State gives access to the state database, for the runner and tests.
// Commands go through the engine's methods (inspect.go, couple.go), which
// keep its rules: mapping names checked, ids normalised, "latest" resolved.
func (e *Engine) State() state.Store { return e.store }

// Close closes the state database, then runs Options.OnClose.
func (e *Engine) Close() error {
	err := e.store.Close()
	if e.separateWork() {
		err = errors.Join(err, e.work.Close())
	}
	if e.workDir != "" {
		err = errors.Join(err, os.RemoveAll(e.workDir))
	}
	if e.onClose != nil {
		if cerr := e.onClose(); err == nil {
			err = cerr
		}
	}
	return err
}

// lookupReader returns the named connector's LookupReader, or nil.
func (e *Engine) lookupReader(name string) connectors.LookupReader {
	r, _ := e.conns[name].(connectors.LookupReader)
	return r
}

func (e *Engine) connector(name string) (connectors.Connector, error) {
	c, ok := e.conns[name]
	if !ok && e.offline {
		return nil, fmt.Errorf("connector %s: not built: the engine was opened to read the state only", name)
	}
	if !ok {
		return nil, fmt.Errorf("connector %q is not declared in the project", name)
	}
	return c, nil
}

// newPlanID makes an id that sorts by creation time and is short enough to type.
func newPlanID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}
