package state

import (
	"context"
	"errors"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// The state's storage, split along the lines of its files, so that each
// part is small enough to have a second implementation (PostgreSQL, for
// several coupler processes sharing one state: issue 17) beside DB, the
// embedded DuckDB one. The parts share one database: a run's results make
// couplings, a plan's operations say which records a run failed, so a
// Store is one database behind every part, not parts that can be mixed.
//
// Staging and the diff stay DuckDB's, on the worker that plans (NewStage,
// Diff, SettleConflicts and the other methods of staging.go and diff.go
// that read the staging tables): they are DB's alone and in no interface
// here.
//
// statetest.Run checks what the engine relies on of each part, against
// any implementation.

// Couplings are the links between the records of the two sides of a
// mapping, one to one: a table record is coupled to at most one
// integration record and the reverse.
type Couplings interface {
	// Couple records couplings in bulk, as when records are coupled by
	// hand or by matching. A pair that is already coupled, on either
	// side, is an error and nothing is saved.
	Couple(ctx context.Context, mapping string, pairs []Coupling) error
	// CoupleOne couples one table record to one integration record,
	// refusing, with a message naming the existing coupling, when either
	// is already coupled.
	CoupleOne(ctx context.Context, mapping, tableID, integrationID string) error
	// Uncouple removes the couplings of the given records, named by
	// their id on either side, or every coupling of the mapping when all
	// is set; it returns how many it removed. No ids and not all removes
	// nothing.
	Uncouple(ctx context.Context, mapping string, ids []string, all bool) (int64, error)
	// FindCoupling returns the coupling of mapping whose table or
	// integration id is id, or nil.
	FindCoupling(ctx context.Context, mapping, id string) (*Coupling, error)
	// CouplingCount returns how many records a mapping has coupled.
	CouplingCount(ctx context.Context, mapping string) (int64, error)
	// AllCouplings returns how many couplings the store holds, every
	// mapping's: apply sizes its batches by it.
	AllCouplings(ctx context.Context) (int64, error)
	// CouplingMap returns a mapping's couplings from table to integration
	// id when fromTable, else the reverse.
	CouplingMap(ctx context.Context, mapping string, fromTable bool) (map[string]string, error)
	// AlreadyCoupled returns, for those of the given source ids that are
	// coupled, the id they are coupled to; sourceIsTable says which side
	// the ids are of.
	AlreadyCoupled(ctx context.Context, mapping string, sourceIsTable bool, ids []string) (map[string]string, error)
	// CoupledDestinations returns, for those of the given destination ids
	// that are coupled, the source they are coupled to.
	CoupledDestinations(ctx context.Context, mapping string, sourceIsTable bool, ids []string) (map[string]string, error)
	// SearchCouplings lists one page of a mapping's couplings, ordered by
	// table id, whose ids or display values contain q, case folded, with
	// the count of all that match.
	SearchCouplings(ctx context.Context, mapping, q string, offset, limit int) (CouplingPage, error)
}

// Watermarks are where a mapping's next read of each side starts: the
// latest modified-on already synced, and the change tracking token (an
// OData delta link) of a side read through change tracking. FinishRun
// (Runs) moves them with the run that read up to them.
type Watermarks interface {
	// Watermark returns a mapping's watermark on one side, in UTC, and
	// whether it has one.
	Watermark(ctx context.Context, mapping, side string) (time.Time, bool, error)
	// SetWatermark moves a mapping's watermark on one side, forward or
	// back.
	SetWatermark(ctx context.Context, mapping, side string, t time.Time) error
	// LowerWatermark moves a mapping's watermark on one side back to t if
	// it is later; it never moves it forward, nor makes one.
	LowerWatermark(ctx context.Context, mapping, side string, t time.Time) error
	// ClearWatermarks forgets the watermarks and change tracking tokens of
	// the given mappings, on both sides; couplings stay. It returns how
	// many watermarks it removed.
	ClearWatermarks(ctx context.Context, mappings []string) (int64, error)
	// ChangeToken returns the token a mapping's next change-tracking read
	// of one side starts from, and whether it has one.
	ChangeToken(ctx context.Context, mapping, side string) (string, bool, error)
	// ClearChangeTokens forgets the change tracking tokens of the given
	// mappings on both sides, and returns how many it removed.
	ClearChangeTokens(ctx context.Context, mappings ...string) (int64, error)
}

// Definitions are what the state keeps of the mappings themselves: the
// fingerprint of each pass as last applied, and which mappings' first sync
// may create records in a destination already holding some.
type Definitions interface {
	// Definition returns the fingerprint of a mapping pass as the last
	// run that applied it without a failed record kept it (FinishRun),
	// and whether one was kept.
	Definition(ctx context.Context, mapping, direction string) (string, bool, error)
	// Acknowledge records that the first sync of mapping may create
	// records in a destination that already holds records.
	Acknowledge(ctx context.Context, mapping string) error
	// Acknowledged reports whether the first sync of mapping was
	// acknowledged.
	Acknowledged(ctx context.Context, mapping string) (bool, error)
}

// Plans are the saved plans: their parts, operations and status, from
// planned through applying to applied or interrupted.
type Plans interface {
	// SavePlan records a plan's header and parts, making it visible; a
	// name another plan has is refused unless replaceName.
	SavePlan(ctx context.Context, p *plan.Plan, baseWatermarks map[string]time.Time, replaceName bool) error
	// PlanNamed returns the id of the plan named name, and whether there
	// is one.
	PlanNamed(ctx context.Context, name string) (id string, ok bool, err error)
	// DiscardPlan deletes whatever a failed plan left behind.
	DiscardPlan(ctx context.Context, id string) error
	// LatestPlan returns the newest plan's id and status; ErrNoPlan when
	// there is none.
	LatestPlan(ctx context.Context) (id string, status plan.Status, err error)
	// SetPlanStatus moves a plan to status, but only from one of the
	// statuses in from, so that two applies of one plan cannot both
	// proceed; moving to applying stamps the time its apply began.
	SetPlanStatus(ctx context.Context, id string, to plan.Status, from ...plan.Status) error
	// MarkInterrupted moves every plan still applying to interrupted and
	// returns their ids; only while no apply can be running.
	MarkInterrupted(ctx context.Context) ([]string, error)
	// AppliedSince returns a plan sharing a mapping with plan id whose
	// apply began after plan id was made, and that mapping; "" when none.
	AppliedSince(ctx context.Context, id string) (other, mapping string, err error)
	// AppliedAfter returns a plan sharing a mapping with plan id whose
	// apply began after plan id's apply began; "" when none.
	AppliedAfter(ctx context.Context, id string) (other string, err error)
	// BindSets returns, per destination field of a part written as a
	// reference, the entity set it points into.
	BindSets(ctx context.Context, part Part) (map[string]string, error)
	// LoadPlan reads a saved plan with at most limit operations per part
	// (negative: all) of the given kinds.
	LoadPlan(ctx context.Context, id string, limit int, kinds ...plan.Kind) (*plan.Plan, error)
	// PlanBase returns the source watermark each part of a plan started
	// from, keyed by WatermarkKey.
	PlanBase(ctx context.Context, id string) (map[string]time.Time, error)
	// Operations streams a part's operations after afterSeq, in seq
	// order, at most limit of them (negative: all), of the given kinds.
	Operations(ctx context.Context, part Part, afterSeq int64, limit int, kinds []plan.Kind, fn func(plan.Operation) error) error
	// Counts returns how many operations of each kind a part has.
	Counts(ctx context.Context, part Part) (plan.Counts, error)
	// PlannedCouplings returns the ids on one side of mapping that will
	// be coupled once plan planID is applied, which lookups take as known
	// after apply.
	PlannedCouplings(ctx context.Context, planID, mapping string, tableSide bool) (map[string]bool, error)
	// Plans lists saved plans, newest first, at most limit of them.
	Plans(ctx context.Context, limit int) ([]PlanSummary, error)
	// ExportOperations writes a plan's operations to path as parquet or
	// jsonl and returns how many rows it wrote.
	ExportOperations(ctx context.Context, planID, format, path string, mappings []string, kinds []plan.Kind) (int64, error)
	// PrunePlans removes saved plans made before olderThan but the newest
	// keep, those apply can still resume and those with writes in flight.
	PrunePlans(ctx context.Context, olderThan time.Time, keep int) (PruneResult, error)
	// Approve records that by approved plan id at at, unless someone has;
	// it returns the approval that stands (the first).
	Approve(ctx context.Context, id, by string, at time.Time) (*plan.Approval, error)
}

// Runs are the run log, one run per part of a plan applied, with the
// outcome of each record and the failures carried from run to run.
type Runs interface {
	// StartRun records that a run of one part began and returns its id,
	// greater than every id before it.
	StartRun(ctx context.Context, planID, mapping, direction string, started time.Time) (int64, error)
	// RecordResults saves a batch of write outcomes in one transaction,
	// with the couplings they make or remove and the intents they settle.
	RecordResults(ctx context.Context, runID int64, side CouplingSide, results []RecordResult) error
	// MarkUnchangedSynced notes, on the couplings of the records a part
	// found unchanged, the source version the plan read.
	MarkUnchangedSynced(ctx context.Context, part Part, sourceIsTable bool) error
	// FinishRun saves a run's counts and end, and moves the source
	// watermark, change token and kept definition in the same
	// transaction (each only when given).
	FinishRun(ctx context.Context, r Run, watermarkSide string, watermark time.Time, token, definition string) error
	// TrackFailures counts, per record a run touched, how many runs in a
	// row it failed with the same message, skipping it after SkipAfter,
	// and clears the records that succeeded.
	TrackFailures(ctx context.Context, runID int64, part Part) error
	// Retry takes failed records out of the skipped state and moves the
	// watermarks back so that they are read again.
	Retry(ctx context.Context, mapping string, ids []string) (int64, map[string]time.Time, error)
	// EarliestFailure returns the earliest source modified-on among a
	// run's failed records that are not skipped.
	EarliestFailure(ctx context.Context, runID int64, part Part) (time.Time, error)
	// RunFailed reports whether a run left a record failed and not
	// skipped.
	RunFailed(ctx context.Context, runID int64, part Part) (bool, error)
	// Runs lists the most recent runs first, at most limit of them.
	Runs(ctx context.Context, limit int) ([]Run, error)
	// Failures lists the failed records of the latest run of each mapping
	// and direction and the skipped ones, newest first.
	Failures(ctx context.Context, mapping string, limit int) ([]Failure, error)
	// UnfinishedRun returns the run of a part that was started but never
	// finished, with its counts rebuilt from its recorded results and the
	// seqs it recorded; ok is false when there is none.
	UnfinishedRun(ctx context.Context, part Part) (run Run, done map[int64]bool, ok bool, err error)
	// FinishedParts returns the parts of a plan whose run finished.
	FinishedParts(ctx context.Context, planID string) (map[Part]bool, error)
}

// Intents are the writes of a batch being applied, recorded before the
// batch is sent: what a process that stopped mid-batch left behind, for
// the next apply to settle before it writes anything else.
type Intents interface {
	// RecordIntents saves one batch's intents, all or none, durably
	// before it returns.
	RecordIntents(ctx context.Context, intents []Intent) error
	// PendingIntents lists the intents left behind, by run then seq.
	PendingIntents(ctx context.Context) ([]Intent, error)
	// DropIntents forgets intents whose writes are known not to have
	// happened.
	DropIntents(ctx context.Context, runID int64, seqs []int64) error
}

// Admin is what a process does with its state database as a whole.
type Admin interface {
	// LockWrites claims the right to write to the systems for one apply,
	// failing at once when another apply holds it.
	LockWrites() (unlock func(), err error)
	// Query runs one read-only SQL statement of a person's.
	Query(ctx context.Context, query string, fn func(cols []string, row []any) error) error
	// Backup copies the state into a new database at path.
	Backup(ctx context.Context, path string) error
	// Path names where the state lives, for messages.
	Path() string
	// Close closes the database.
	Close() error
}

// WriteLockWaiter is implemented by a state whose write lock can be
// waited for: a PostgreSQL state shared by several workers, on which an
// apply of one mapping waits for another mapping's apply to end rather
// than fail (coupler serve --workers). A store without it keeps
// LockWrites' fail-at-once, as a DuckDB file, which one process holds,
// does.
type WriteLockWaiter interface {
	// LockWritesWait is LockWrites that waits for the lock until ctx ends.
	LockWritesWait(ctx context.Context) (unlock func(), err error)
}

// Store is the whole state storage, every part over one database.
type Store interface {
	Couplings
	Watermarks
	Definitions
	Plans
	Runs
	Intents
	Admin
}

var (
	_ Store       = (*DB)(nil)
	_ Couplings   = (*DB)(nil)
	_ Watermarks  = (*DB)(nil)
	_ Definitions = (*DB)(nil)
	_ Plans       = (*DB)(nil)
	_ Runs        = (*DB)(nil)
	_ Intents     = (*DB)(nil)
	_ Admin       = (*DB)(nil)
	// A workspace can be loaded from a DuckDB state too (workspace.go).
	_ MappingRows = (*DB)(nil)
)

// ErrUnavailable is wrapped by an error that came of the state database
// being out of reach (a server stopped, a network cut), rather than of
// what was asked of it: nothing is lost (the writes sent are recorded as
// intents first), and the next plan or apply, once it is back, settles
// them.
var ErrUnavailable = errors.New("the state database is unavailable")

// ErrorExplainer is implemented by a Store that can tell an error of its
// own connection (ErrUnavailable) from others: ExplainError returns err
// wrapped with ErrUnavailable and the database's name when it is one,
// else err. The engine passes the errors of Plan and Apply through it.
type ErrorExplainer interface {
	ExplainError(err error) error
}

// WriteLockChecker is implemented by a Store whose write lock can be lost
// while it is held: PostgreSQL's goes with the session that took it, which
// a restart or a network failure ends, and another process may then take
// it. Apply checks, before it sends each batch of writes, that the lock is
// still held; CheckWriteLock returns an error wrapping ErrUnavailable when
// it is not.
type WriteLockChecker interface {
	CheckWriteLock(ctx context.Context) error
}
