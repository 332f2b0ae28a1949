// Package runner runs the mappings of a project for coupler serve: each
// run plans one mapping and applies that plan at once, on an engine that
// is reopened with the new program when the project files changed. It is
// the part of serve that links the state database.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/schedule"
	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// maxFailures bounds the failed records a run reports to serve.
const maxFailures = 10

// Runner implements serve.Runner with the engine. Runs are serialized:
// one engine, one state database.
type Runner struct {
	dir   string
	lopts mappings.LoadOptions
	opts  engine.Options

	mu sync.Mutex
	// state is the state database of the first load; serve holds its
	// lock. stateMu guards it apart from mu, which a run holds throughout.
	stateMu sync.Mutex
	state   string
	// stateName is state for messages, without a URL's password.
	stateName string
	// next is the program Use gave, for the next run to open; nextMu
	// guards it apart from mu.
	nextMu sync.Mutex
	next   *engine.Program
	e      *engine.Engine
	// eMu guards e against being closed or replaced while Read lends it:
	// a read takes it shared; open and Close take it alone. A run holds mu,
	// not eMu, so that reads go on while it runs.
	eMu sync.RWMutex
	// scratch is the directory the sealed state database may write to
	// (state.Options.Scratch), made at the first open, removed by Close.
	scratch string
	// drain is the channel of the serve run under way, read by the
	// engine's Draining option.
	drain <-chan struct{}

	// PlanRetention, when positive, removes saved plans older than it
	// (keeping the newest KeepPlans) once an hour after a run, since serve
	// saves a plan at every run. Set it before the first run.
	PlanRetention time.Duration
	lastPrune     time.Time
}

// KeepPlans is how many of the newest plans pruning always keeps.
const KeepPlans = 100

// pruneEvery is how often serve prunes old plans.
const pruneEvery = time.Hour

// prune removes old plans when the retention says so; a failure is only
// logged: old plans take room but harm nothing.
func (r *Runner) prune(ctx context.Context) {
	if r.PlanRetention <= 0 || r.e == nil {
		return
	}
	now := time.Now()
	if now.Sub(r.lastPrune) < pruneEvery {
		return
	}
	r.lastPrune = now
	res, err := r.e.State().PrunePlans(context.WithoutCancel(ctx), now.Add(-r.PlanRetention), KeepPlans)
	if err != nil {
		r.opts.Logger.Warn("prune old plans", "err", err)
		return
	}
	if res.Plans > 0 || res.Orphans > 0 {
		r.opts.Logger.Info("pruned old plans", "plans", res.Plans, "orphan_operations", res.Orphans, "older_than", r.PlanRetention.String())
	}
}

// New returns a runner of the project in dir. opts configure each engine
// it opens; its Draining is set by the runner.
func New(dir string, lopts mappings.LoadOptions, opts engine.Options) *Runner {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{dir: dir, lopts: lopts, opts: opts}
}

// Load is a serve.Loader: it reads and compiles the project.
func (r *Runner) Load() (*serve.Project, error) {
	prog, diags := engine.Load(r.dir, r.lopts)
	if err := diags.Err(); err != nil {
		return nil, err
	}
	// serve holds the lock of the state database it started with.
	r.stateMu.Lock()
	if r.state == "" {
		r.state, r.stateName = prog.Project.State, prog.Project.StateLocation().String()
	}
	state := r.state
	r.stateMu.Unlock()
	if prog.Project.State != state {
		// Named by StateLocation: a PostgreSQL URL may hold a password.
		return nil, fmt.Errorf("%s: state: the state database moved from %s to %s; restart coupler serve to use it", prog.Project.File, r.stateName, prog.Project.StateLocation())
	}
	p := &serve.Project{Dir: prog.Project.Dir, Program: prog, Connectors: map[string]string{}, DependsOn: map[string][]string{}}
	for f := range prog.Project.Sources {
		if len(f) > 9 && f[:9] == "defaults/" {
			continue // bundled in the binary: never changes under serve
		}
		p.Files = append(p.Files, f)
	}
	sort.Strings(p.Files)
	for _, c := range prog.Project.Connectors {
		p.Connectors[c.BaseURL] = c.Name
	}
	seen := map[string]bool{}
	for _, m := range prog.Mappings { // passes in dependency order
		if seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		if deps := m.Def.Dependencies(); len(deps) > 0 {
			p.DependsOn[m.Name] = deps
		}
		sch, timeout := prog.Project.ScheduleOf(m.Def)
		job := schedule.Job{Name: m.Name, Every: sch.Every, InactivityTimeout: timeout, Spec: sch.String()}
		if sch.Cron != "" {
			c, err := mappings.ParseCron(sch.Cron)
			if err != nil {
				return nil, fmt.Errorf("mapping %s: schedule: %w", m.Name, err)
			}
			job.Cron = c
		}
		p.Jobs = append(p.Jobs, job)
	}
	return p, nil
}

// Use implements serve.Runner: the next run opens an engine on p.
func (r *Runner) Use(p *serve.Project) {
	// Not r.mu, which a run holds throughout: a reload must not wait for
	// the run under way (nor hold up shutdown behind it).
	r.nextMu.Lock()
	defer r.nextMu.Unlock()
	r.next = p.Program.(*engine.Program)
}

func (r *Runner) draining() bool {
	select {
	case <-r.drain:
		return true
	default:
		return false
	}
}

// open opens an engine on the program Use gave last, if it has not been
// opened yet. The caller holds r.mu.
func (r *Runner) open(ctx context.Context) error {
	r.nextMu.Lock()
	next := r.next
	r.next = nil
	r.nextMu.Unlock()
	if next != nil {
		r.eMu.Lock()
		defer r.eMu.Unlock()
		if r.e != nil {
			if err := r.e.Close(); err != nil {
				r.opts.Logger.Warn("close state database", "err", err)
			}
			r.e = nil
		}
		if r.scratch == "" {
			dir, err := os.MkdirTemp("", "coupler-serve-")
			if err != nil {
				return fmt.Errorf("scratch directory: %w", err)
			}
			r.scratch = dir
		}
		opts := r.opts
		opts.Draining = r.draining
		opts.OnClose = nil
		// Sealed, so that serve's API can run a person's SQL on it while
		// runs write (engine.Engine.Query).
		opts.State.Sealed, opts.State.Scratch = true, r.scratch
		e, err := engine.Open(ctx, next, opts)
		if err != nil {
			// Try again at the next run, unless a newer project came.
			r.nextMu.Lock()
			if r.next == nil {
				r.next = next
			}
			r.nextMu.Unlock()
			return err
		}
		r.e = e
	}
	if r.e == nil {
		return errors.New("no project loaded")
	}
	return nil
}

// Read lends the engine to fn for a read of the state database (a
// listing, a saved plan, a query), while a run may be under way: DuckDB
// lets a read see the last commit without waiting for the run's writes.
// It waits only for an engine being opened or closed.
func (r *Runner) Read(ctx context.Context, fn func(e *engine.Engine) error) error {
	r.eMu.RLock()
	defer r.eMu.RUnlock()
	if r.e == nil {
		return errors.New("the state database is not open")
	}
	return fn(r.e)
}

// Scratch returns a directory private to this runner in which a read may
// write a file the sealed state database makes (an export of a plan's
// operations); empty until the state database is opened.
func (r *Runner) Scratch() string {
	r.eMu.RLock()
	defer r.eMu.RUnlock()
	return r.scratch
}

// Open opens the state database now, so that serve refuses to start on
// one it cannot use (corrupt, or written by a newer coupler) rather than
// answer /healthz while every run fails.
func (r *Runner) Open(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.open(ctx)
}

// historyRuns bounds the runs History reads: enough for the latest run of
// every mapping of a project that has run recently.
const historyRuns = 1000

// History implements serve.HistoryReader: the latest finished run of each
// mapping, from the state database's run log, with the failures still
// open. A bidirectional mapping's two passes of one plan count as one run.
func (r *Runner) History(ctx context.Context) (map[string]serve.PastRun, error) {
	// Opened if need be, but never waiting for a run under way (a
	// worker's, when several serve share the runs, may take long): the
	// reads go on beside it.
	if r.mu.TryLock() {
		err := r.open(ctx)
		r.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	var out map[string]serve.PastRun
	err := r.Read(ctx, func(e *engine.Engine) error {
		var err error
		var names []string
		for _, m := range e.Program().Project.Mappings {
			names = append(names, m.Name)
		}
		out, err = history(ctx, e.State(), names)
		return err
	})
	return out, err
}

// historyPlans is how many plans waitingPlans reads first: the newest
// plan of each mapping is among them unless the project has that many
// mappings or some ran far less often than others.
const historyPlans = 200

// waitingPlans adds to out, for each of mappings whose newest plan waits
// for a person's approval and was made since its last run, that plan, so
// that serve, restarted, waits on it again. It reads further back until
// it has the newest plan of each mapping, or every plan: one may have
// waited for days while the others planned every minute.
func waitingPlans(ctx context.Context, st state.Store, out map[string]serve.PastRun, mappings []string) error {
	var plans []state.PlanSummary
	for limit := historyPlans; ; limit *= 4 {
		var err error
		if plans, err = st.Plans(ctx, limit); err != nil {
			return err
		}
		if len(plans) < limit || allPlanned(plans, mappings) {
			break
		}
	}
	seen := map[string]bool{}
	for _, ps := range plans { // newest first
		for _, m := range ps.Mappings {
			if seen[m] {
				continue
			}
			seen[m] = true
			pr := out[m]
			if ps.Status != plan.Planned || !ps.NeedsApproval || ps.Approved != nil || pr.Interrupted || ps.CreatedAt.Before(pr.Start) {
				continue
			}
			p, err := st.LoadPlan(ctx, ps.ID, 0)
			if err != nil {
				return err
			}
			res := serve.Result{Counts: map[string]int64{}}
			describe(&res, p)
			pr.Waiting, pr.WaitingSince = &res, ps.CreatedAt
			out[m] = pr
		}
	}
	return nil
}

// allPlanned reports whether each of mappings has a plan among plans.
func allPlanned(plans []state.PlanSummary, mappings []string) bool {
	left := map[string]bool{}
	for _, m := range mappings {
		left[m] = true
	}
	for _, ps := range plans {
		for _, m := range ps.Mappings {
			delete(left, m)
		}
	}
	return len(left) == 0
}

// history is History's reading of st, for the project's mappings.
func history(ctx context.Context, st state.Store, mappings []string) (map[string]serve.PastRun, error) {
	runs, err := st.Runs(ctx, historyRuns)
	if err != nil {
		return nil, err
	}
	out := map[string]serve.PastRun{}
	plans := map[string]string{} // mapping -> plan of its latest finished run
	for _, run := range runs {   // newest first
		if id, ok := plans[run.Mapping]; ok && id != run.PlanID {
			continue
		}
		if run.FinishedAt.IsZero() {
			// Interrupted (killed, or stopped by a shutdown): the mapping
			// must run again at once to settle and finish that work.
			plans[run.Mapping] = run.PlanID
			out[run.Mapping] = serve.PastRun{Start: run.StartedAt, Interrupted: true, Result: serve.Result{PlanID: run.PlanID}}
			continue
		}
		if out[run.Mapping].Interrupted {
			continue
		}
		plans[run.Mapping] = run.PlanID
		pr, ok := out[run.Mapping]
		if !ok {
			pr = serve.PastRun{Start: run.StartedAt, End: run.FinishedAt, Result: serve.Result{PlanID: run.PlanID, Counts: map[string]int64{}}}
		}
		pr.Start = minTime(pr.Start, run.StartedAt)
		if run.FinishedAt.After(pr.End) {
			pr.End = run.FinishedAt
		}
		for k, n := range map[string]int64{"inserted": run.Inserted, "modified": run.Modified, "deleted": run.Deleted,
			"coupled": run.Coupled, "uncoupled": run.Uncoupled, "unchanged": run.Unchanged, "skipped": run.Skipped, "failed": run.Failed} {
			pr.Result.Counts[k] += n
		}
		pr.Result.Changed = pr.Result.Changed || run.Inserted+run.Modified+run.Deleted+run.Coupled+run.Uncoupled+run.Failed > 0
		out[run.Mapping] = pr
	}
	if err := waitingPlans(ctx, st, out, mappings); err != nil {
		return nil, err
	}
	for name, pr := range out {
		if pr.Interrupted {
			continue
		}
		// A plan still applying was stopped between its passes (a
		// bidirectional mapping drained after its first): its runs are
		// finished, but the mapping's work is not.
		if p, err := st.LoadPlan(ctx, pr.Result.PlanID, 0); err == nil && (p.Status == plan.Applying || p.Status == plan.Interrupted) {
			pr.Interrupted = true
			out[name] = pr
			continue
		}
		failures, err := st.Failures(ctx, name, maxFailures+1)
		if err != nil {
			return nil, err
		}
		for i, f := range failures {
			if i == maxFailures {
				pr.Result.Failures = append(pr.Result.Failures, "and more: see coupler errors")
				break
			}
			pr.Result.Failures = append(pr.Result.Failures, f.SourceID+": "+f.Message)
		}
		out[name] = pr
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Run implements serve.Runner: plan the mapping, then apply the plan, even
// when it writes nothing, so that the watermarks move and the run is
// logged. A plan that needs a person's approval is not applied: the run
// ends waiting for it (serve.ErrNeedsReview), and serve applies it with
// RunApproved once approved. A plan is abandoned when shutdown begins; an
// apply stops before its next batch of writes.
func (r *Runner) Run(ctx context.Context, drain <-chan struct{}, mapping string) (serve.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drain = drain
	if err := r.open(ctx); err != nil {
		return serve.Result{Counts: map[string]int64{}}, err
	}
	// Between runs: pruning removes the rows of unsaved plans, so never
	// while one is being made.
	r.prune(ctx)
	return r.planAndApply(ctx, drain, mapping)
}

// planAndApply is Run's work, under r.mu with the engine open.
func (r *Runner) planAndApply(ctx context.Context, drain <-chan struct{}, mapping string) (serve.Result, error) {
	res := serve.Result{Counts: map[string]int64{}}
	// Planning writes nothing to either system: it stops as soon as
	// shutdown begins.
	planCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-drain:
			cancel()
		case <-planCtx.Done():
		}
	}()
	p, err := r.e.Plan(planCtx, engine.PlanOptions{Mappings: []string{mapping}})
	if err != nil {
		if r.draining() {
			return res, fmt.Errorf("%w: while planning: %v", serve.ErrDrained, err)
		}
		return res, err
	}
	describe(&res, p)
	if p.WaitsForApproval() {
		return res, reviewError{fmt.Errorf("%w: plan %s needs a person's approval before it is applied (its page on coupler serve, or coupler approve %s): %s",
			engine.ErrNeedsReview, p.ID, p.ID, strings.Join(p.ApprovalReasons(), "; "))}
	}
	if r.draining() {
		// Not started: the plan stays planned rather than applying.
		return res, fmt.Errorf("%w: plan %s made but not applied", serve.ErrDrained, p.ID)
	}
	return r.apply(ctx, mapping, p.ID, res)
}

// describe fills in what a plan says of a run before it is applied.
func describe(res *serve.Result, p *plan.Plan) {
	res.PlanID, res.Changed = p.ID, p.HasChanges()
	res.Read, res.Warnings = 0, nil
	for _, m := range p.Mappings {
		res.Read += m.Read
		for _, w := range m.Warnings {
			res.Warnings = append(res.Warnings, m.Name+" ("+m.Direction+"): "+w)
		}
	}
	res.Approval = p.ApprovalReasons()
	if p.Approved != nil {
		res.ApprovedBy = p.Approved.By
	}
}

// apply applies plan id of mapping and adds what it did to res.
func (r *Runner) apply(ctx context.Context, mapping, id string, res serve.Result) (serve.Result, error) {
	ar, err := r.e.Apply(ctx, id)
	if ar != nil {
		for _, run := range ar.Runs {
			for k, n := range map[string]int64{"inserted": run.Inserted, "modified": run.Modified, "deleted": run.Deleted,
				"coupled": run.Coupled, "uncoupled": run.Uncoupled, "unchanged": run.Unchanged, "skipped": run.Skipped, "failed": run.Failed} {
				res.Counts[k] += n
			}
		}
		for i, f := range ar.Failures {
			if i == maxFailures {
				res.Failures = append(res.Failures, fmt.Sprintf("and %d more: see coupler errors", len(ar.Failures)-i))
				break
			}
			res.Failures = append(res.Failures, f.SourceID+": "+f.Message)
		}
	}
	res.Watermarks = map[string]time.Time{}
	for _, side := range []string{plan.SideTable, plan.SideIntegration} {
		if wm, ok, werr := r.e.State().Watermark(context.WithoutCancel(ctx), mapping, side); werr == nil && ok {
			res.Watermarks[side] = wm
		}
	}
	switch {
	case errors.Is(err, engine.ErrDrained):
		err = fmt.Errorf("%w: %w", serve.ErrDrained, err)
	case errors.Is(err, engine.ErrNeedsReview):
		err = reviewError{err}
	}
	return res, err
}

// Close closes the engine. When a run that did not stop in time still
// holds it, Close leaves it open and says so, rather than hang the exit:
// the process's end closes the file, and apply is crash-safe.
func (r *Runner) Close() error {
	if !r.mu.TryLock() {
		return errors.New("a run is still under way; leaving the state database to the exit")
	}
	defer r.mu.Unlock()
	r.eMu.Lock()
	defer r.eMu.Unlock()
	var err error
	if r.e != nil {
		err = r.e.Close()
		r.e = nil
	}
	if r.scratch != "" {
		if rerr := os.RemoveAll(r.scratch); rerr != nil {
			r.opts.Logger.Warn("remove scratch directory", "err", rerr)
		}
		r.scratch = ""
	}
	return err
}

// reviewError is an apply refused until a person chooses
// (engine.ErrNeedsReview), as serve knows it (serve.ErrNeedsReview), with
// the engine's message.
type reviewError struct{ error }

func (e reviewError) Is(target error) bool { return target == serve.ErrNeedsReview }
func (e reviewError) Unwrap() error        { return e.error }
