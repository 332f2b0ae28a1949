// Package serve is coupler's long-running mode: it runs each mapping of a
// project on its schedule (package schedule), one run at a time and in
// dependency order, reloads the project when its files change, and
// answers HTTP on a listener: a status page, run-now requests, health and
// Prometheus metrics. On shutdown it lets the batch of writes under way
// finish, starts no new one, and exits within a bounded time.
//
// The package does not run plans itself: a Runner does (package
// engine/runner does it with the engine), so that this package and its
// tests do not link the state database.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/engine/schedule"
	"github.com/couplerhq/coupler/mappings"
)

// Project is what serve runs, as a Loader read it.
type Project struct {
	// Dir is the project directory, for display.
	Dir string
	// Jobs are the mappings' schedules, in dependency order.
	Jobs []schedule.Job
	// Files are the files the project was read from; serve watches them
	// (and their directories, for added files) for changes.
	Files []string
	// Connectors maps each connector's base URL to its name, so that HTTP
	// metrics are labelled by connector.
	Connectors map[string]string
	// Program is the compiled project, for the Runner; serve does not look
	// into it.
	Program any
	// DependsOn lists, by mapping, the mappings it must run after, for a
	// Runner that runs several at once (Leader).
	DependsOn map[string][]string
}

// Loader reads and checks the project. On error the project is not used;
// an error that is a mappings.Diagnostics is logged one problem a line,
// each with its file:line:col.
type Loader func() (*Project, error)

// Runner runs one mapping once: plan and apply.
type Runner interface {
	// Use makes the runner use p from its next run on.
	Use(p *Project)
	// Run plans and applies mapping. drain is closed when shutdown begins
	// or the run has taken longer than the run timeout, upon which the
	// runner must start no new batch of writes (and may stop planning),
	// returning an error; ctx is cancelled only when the shutdown timeout
	// runs out after that.
	Run(ctx context.Context, drain <-chan struct{}, mapping string) (Result, error)
}

// Result is what one run of a mapping did.
type Result struct {
	PlanID string
	// Changed says the plan found something to write: the inactivity
	// timeout applies only after a run that did not.
	Changed bool
	// Read counts source records read.
	Read int64
	// Counts are the run's records by operation: inserted, modified,
	// deleted, coupled, uncoupled, unchanged, skipped (after failing twice
	// in a row, until coupler retry), failed (conflicts included). A run
	// with failed or skipped records is not ok on the status page.
	Counts map[string]int64
	// Failures are messages of failed records, "id: message", at most a
	// few.
	Failures []string
	// Watermarks are the mapping's watermarks after the run, by side.
	Watermarks map[string]time.Time
	// Warnings are the plan's warnings, "MAPPING (direction): warning":
	// what a person should look at twice. A run with warnings is not plain
	// ok on the status page.
	Warnings []string
	// Approval lists why the run's plan needs a person's approval: with
	// ErrNeedsReview, why it waits; otherwise why it needed the approval
	// ApprovedBy gave.
	Approval []string
	// ApprovedBy names who approved the plan the run applied, when it
	// needed approval.
	ApprovedBy string
	// Note is what else a person should know of the run: that the
	// approved plan had become stale and was planned again, say.
	Note string
	// Worker names the process that ran it, when several share the
	// project's runs (Leader).
	Worker string `json:",omitempty"`
}

// PastRun is a mapping's last run made before this serve started, as the
// state database recorded it.
type PastRun struct {
	Start, End time.Time
	Result     Result
	// Interrupted says the run never finished (coupler was killed or shut
	// down during it): the mapping runs again at once to finish its work.
	Interrupted bool
	// Waiting, when not nil, is a plan of the mapping made since that run
	// which waits for a person's approval, as its run said it (PlanID,
	// Approval), made at WaitingSince: after a restart serve waits on it
	// again, so that approving it applies it, instead of planning anew.
	Waiting      *Result
	WaitingSince time.Time
}

// HistoryReader is implemented by a Runner that can tell the last run of
// each mapping made before serve started, so that after a restart each
// schedule goes on from that run (a mapping that ran five minutes ago on a
// 30-minute interval waits 25 more) and the status page shows it.
type HistoryReader interface {
	History(ctx context.Context) (map[string]PastRun, error)
}

// Leader is implemented by a Runner that shares the project's runs with
// other serve processes (coupler serve --workers on a PostgreSQL state):
// only the process that leads schedules, and its Run waits for a run done
// by any of them, so that it runs every due mapping at once, leaving
// order and exclusion to the Runner.
type Leader interface {
	// Lead waits until this process is the one to schedule, or ctx ends;
	// lost is closed when it no longer is.
	Lead(ctx context.Context) (lost <-chan struct{}, err error)
	// Enqueue asks for a run of mapping without waiting for it: a run-now
	// asked of a process that does not schedule, or, with planID, the run
	// that applies a plan approved there.
	Enqueue(ctx context.Context, mapping, planID string) error
}

// RunStater is implemented by a Runner that can tell where a run under
// way stands (queued, running on which worker), for the status page.
type RunStater interface {
	RunState(mapping string) string
}

// Config configures a Server.
type Config struct {
	Load   Loader
	Runner Runner
	// Listen is the HTTP listener's address, loopback by default; empty
	// means DefaultListen.
	Listen string
	// Token is required (Authorization: Bearer) by run-now requests; it is
	// mandatory when Listen is not a loopback address.
	Token string
	// TokenForReads makes the status page and /metrics require the token
	// too (Bearer, or a browser's Basic with the token as password).
	TokenForReads bool
	// AllowedHosts are host names, besides loopback names and IP
	// addresses, that requests without the token may name as Host (the
	// name serve is reached by); see Server.Handler.
	AllowedHosts []string
	// Redactor, when set, scrubs the project's secrets from the status
	// page and the log: a server's error may echo a credential.
	Redactor *redact.Redactor
	// ShutdownTimeout bounds how long shutdown, or a run past its
	// RunTimeout, waits for the run under way to finish its batch; then
	// its writes are cancelled.
	ShutdownTimeout time.Duration
	// RunTimeout bounds one run of a mapping: past it the run is stopped
	// as at shutdown (see ShutdownTimeout) and fails, so that a run that
	// never ends (a server paging for ever) cannot hold up the others,
	// since runs go one at a time. 0 means DefaultRunTimeout, negative no
	// limit.
	RunTimeout time.Duration
	// WatchInterval is how often the project files are checked for
	// changes; 0 means DefaultWatchInterval, negative never.
	WatchInterval time.Duration
	// Now is the clock; nil uses time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Registry receives the metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Reader, when set, answers the read API under /api/ (api.go), with
	// which the CLI's read commands work while serve holds the state.
	Reader Reader
}

// Defaults of Config.
const (
	DefaultListen          = "127.0.0.1:7700"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultWatchInterval   = 2 * time.Second
	DefaultRunTimeout      = time.Hour
)

// lastRun is what the status page and metrics know of a mapping's last run.
type lastRun struct {
	Start, End time.Time
	Result     Result
	Err        string
	// Waiting is true when the run's plan waits for a person's approval
	// (ErrNeedsReview): serve does not plan the mapping again until it is
	// approved, or a person asks for a run.
	Waiting bool
}

// Server runs a project's mappings on their schedules.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	sched   *schedule.Scheduler
	metrics *metrics
	started time.Time

	mu      sync.Mutex
	project *Project
	loadErr string // the latest reload's problems, while the old project runs
	last    map[string]*lastRun
	// running holds the mappings being run; one at a time unless the
	// Runner is a Leader.
	running  map[string]bool
	listener net.Listener
	// asked holds the mappings a person asked to run (Trigger): such a run
	// plans again even while the mapping's plan waits for approval.
	asked map[string]bool
	// approved holds, per mapping, the plan it waited on that a person
	// approved: its next run applies that plan (approval.go).
	approved map[string]string
	// retries holds, per mapping, records a person asked to retry from
	// the errors page: its next run releases them first (views.go).
	retries map[string][]string

	wake     chan struct{}
	drain    chan struct{}
	draining atomic.Bool
	// leading says this process schedules; always when the Runner is no
	// Leader.
	leading atomic.Bool
}

// New loads the project and checks the listener's address and token.
func New(cfg Config) (*Server, error) {
	if cfg.Load == nil || cfg.Runner == nil {
		return nil, errors.New("serve: Load and Runner are required")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.WatchInterval == 0 {
		cfg.WatchInterval = DefaultWatchInterval
	}
	if cfg.RunTimeout == 0 {
		cfg.RunTimeout = DefaultRunTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if err := checkListen(cfg.Listen, cfg.Token); err != nil {
		return nil, err
	}
	if cfg.TokenForReads && cfg.Token == "" {
		return nil, errors.New("the status page and /metrics can require the token only when there is one: set --token or COUPLER_SERVE_TOKEN")
	}
	cfg.Logger = slog.New(cfg.Redactor.Handler(cfg.Logger.Handler()))
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now, sched: schedule.New(cfg.Now), started: cfg.Now(),
		last: map[string]*lastRun{}, running: map[string]bool{}, asked: map[string]bool{}, approved: map[string]string{}, retries: map[string][]string{}, wake: make(chan struct{}, 1), drain: make(chan struct{})}
	p, err := cfg.Load()
	if err != nil {
		return nil, err
	}
	if err := s.use(p); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s, cfg.Registry)
	return s, nil
}

// use makes p the project, from the next run on.
func (s *Server) use(p *Project) error {
	if err := s.sched.Set(p.Jobs); err != nil {
		return err
	}
	s.cfg.Runner.Use(p)
	s.mu.Lock()
	s.project, s.loadErr = p, ""
	s.mu.Unlock()
	s.poke()
	return nil
}

// poke wakes the run loop to look at the schedule again.
func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Listen binds the HTTP listener, so that its address is known (and a
// busy port reported) before Run.
func (s *Server) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.listener = ln
	s.mu.Unlock()
	return ln.Addr(), nil
}

// Trigger asks for a run of mapping now, for a person: that run plans
// again even while the mapping's plan waits for approval.
func (s *Server) Trigger(mapping string) error {
	if err := s.trigger(mapping); err != nil {
		return err
	}
	s.mu.Lock()
	s.asked[mapping] = true
	s.mu.Unlock()
	return nil
}

// trigger makes mapping due now.
func (s *Server) trigger(mapping string) error {
	if s.draining.Load() {
		return errShuttingDown
	}
	if l, ok := s.cfg.Runner.(Leader); ok && !s.leading.Load() {
		// Another process schedules: the run goes to the shared queue
		// directly.
		if !slices.Contains(s.sched.Names(), mapping) {
			return fmt.Errorf("no scheduled mapping named %q", mapping)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return l.Enqueue(ctx, mapping, "")
	}
	if err := s.sched.Trigger(mapping); err != nil {
		return err
	}
	s.poke()
	return nil
}

var errShuttingDown = errors.New("shutting down: no new runs")

// ErrDrained is what a Runner's error wraps when the run stopped because
// shutdown began: what was written is recorded, and the next run picks up
// the rest.
var ErrDrained = errors.New("stopped by shutdown")

// ErrNeedsReview is what a Runner's error wraps when the run's plan was
// made but not applied because it waits for a person's approval (a first
// sync into a destination that holds records, deletes, many records
// changing): the page says "waiting for approval", never ok, and serve
// does not plan the mapping again until the plan is approved (then it
// applies that plan) or a person asks for a run.
var ErrNeedsReview = errors.New("waiting for approval")

// Run serves until ctx is cancelled, then shuts down gracefully: the run
// under way finishes its batch of writes and records it, no new write
// starts, and Run returns within the shutdown timeout (plus a few seconds
// for the state to be saved after a forced cancel). It returns nil after a
// clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	if s.listener == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	s.restore(ctx)
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Serve(s.listener) }()
	s.log.Info("serving", "listen", s.listener.Addr().String(), "mappings", len(s.sched.Names()))

	// hard is cancelled only when the shutdown timeout runs out: a run's
	// writes in flight are not aborted by the signal itself.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		s.loop(hard)
	}()
	// The watcher stops when shutdown starts, whatever started it: a
	// failed listener as much as a signal.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		s.watch(watchCtx)
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-httpDone:
		err = fmt.Errorf("http listener: %w", err)
	}
	s.draining.Store(true)
	close(s.drain)
	stopWatch()
	running := s.runningNames()
	s.log.Info("shutting down", "running", running, "timeout", s.cfg.ShutdownTimeout.String())
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-loopDone:
	case <-timer.C:
		s.log.Warn("shutdown timeout: cancelling the run under way", "mapping", running)
		cancelHard()
		select {
		case <-loopDone:
		case <-time.After(5 * time.Second):
			err = errors.Join(err, fmt.Errorf("the run of %s did not stop within the shutdown timeout", running))
		}
	}
	<-watchDone
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	s.log.Info("stopped")
	return err
}

// restore takes each mapping's last run before this start from the
// runner, when it can tell. Without it every mapping runs at once, which
// is safe, so a failure to read it is only logged.
func (s *Server) restore(ctx context.Context) {
	h, ok := s.cfg.Runner.(HistoryReader)
	if !ok {
		return
	}
	past, err := h.History(ctx)
	if err != nil {
		s.log.Warn("cannot read the last runs: every mapping runs at once", "err", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, pr := range past {
		lr := lastRunOf(pr)
		switch {
		case pr.Interrupted:
			// Due at once, whatever the schedule: its writes in flight are
			// settled and the rest of its work done by that run.
			_ = s.sched.Trigger(name)
			lr.Err = "interrupted: coupler stopped during this run; running again to finish it"
		case pr.Waiting != nil:
			s.sched.Restore(name, pr.WaitingSince, pr.WaitingSince, true)
		default:
			s.sched.Restore(name, pr.Start, pr.End, pr.Result.Changed)
		}
		if s.last[name] == nil {
			s.last[name] = lr
		}
	}
}

// lastRunOf is what the status page and the schedule keep of a run made
// before serve started: a plan waiting for approval since, when there is
// one, as the run that made it left it.
func lastRunOf(pr PastRun) *lastRun {
	if w := pr.Waiting; w != nil {
		return &lastRun{Start: pr.WaitingSince, End: pr.WaitingSince, Result: *w, Waiting: true,
			Err: fmt.Sprintf("%v: plan %s needs a person's approval before it is applied (its page on coupler serve, or coupler approve %s): %s",
				ErrNeedsReview, w.PlanID, w.PlanID, strings.Join(w.Approval, "; "))}
	}
	return &lastRun{Start: pr.Start, End: pr.End, Result: pr.Result}
}

// runningNames lists the mappings being run, for messages.
func (s *Server) runningNames() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := slices.Sorted(maps.Keys(s.running))
	return strings.Join(names, ",")
}

// loop runs due mappings one at a time until shutdown begins; a Leader's
// are run all at once, while this process leads.
func (s *Server) loop(ctx context.Context) {
	if l, ok := s.cfg.Runner.(Leader); ok {
		s.leaderLoop(ctx, l)
		return
	}
	s.leading.Store(true)
	for !s.draining.Load() {
		for _, name := range s.sched.Due() {
			if s.draining.Load() {
				s.sched.Done(name, false, errShuttingDown)
				continue
			}
			s.runOne(ctx, name)
		}
		s.waitNext(nil)
	}
}

// waitNext waits for the next run due, a wake-up or shutdown; it reports
// whether it returned because lost was closed (nil: never).
func (s *Server) waitNext(lost <-chan struct{}) bool {
	var wait <-chan time.Time
	if next, ok := s.sched.Next(); ok {
		timer := time.NewTimer(max(next.Sub(s.now()), 0))
		defer timer.Stop()
		wait = timer.C
	}
	select {
	case <-wait:
	case <-s.wake:
	case <-s.drain:
	case <-lost:
		return true
	}
	return false
}

// leaderLoop waits to lead, then starts each due mapping's run as it
// comes due, not waiting for the others: the Leader keeps their order and
// runs each mapping once at a time. When this process stops leading, it
// waits to lead again; the runs it started go on.
func (s *Server) leaderLoop(ctx context.Context, l Leader) {
	var runs sync.WaitGroup
	defer runs.Wait()
	leadCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-s.drain:
			stop()
		case <-leadCtx.Done():
		}
	}()
	// While another process schedules, the status page shows the last
	// runs from the shared run log.
	go s.follow(leadCtx)
	for !s.draining.Load() {
		lost, err := l.Lead(leadCtx)
		if err != nil {
			if s.draining.Load() {
				return
			}
			s.log.Error("cannot tell which process schedules; trying again", "err", err.Error())
			select {
			case <-s.drain:
				return
			case <-time.After(5 * time.Second):
			}
			continue
		}
		s.log.Info("scheduling the project's runs: this process leads")
		// Go on from the runs the previous scheduler made.
		s.restore(ctx)
		s.leading.Store(true)
		s.leadUntil(ctx, lost, &runs)
		s.leading.Store(false)
		if !s.draining.Load() {
			s.log.Warn("no longer scheduling: another process may lead")
		}
	}
}

// followEvery is how often a process that does not schedule reads the
// last runs for its status page.
const followEvery = 5 * time.Second

// follow shows on the status page, while this process does not schedule,
// the last runs of the shared run log, until ctx ends.
func (s *Server) follow(ctx context.Context) {
	h, ok := s.cfg.Runner.(HistoryReader)
	if !ok {
		return
	}
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		if !s.leading.Load() {
			if past, err := h.History(ctx); err != nil {
				s.log.Debug("read the last runs", "err", err.Error())
			} else {
				s.mu.Lock()
				for name, pr := range past {
					lr := lastRunOf(pr)
					if pr.Interrupted {
						lr.Err = "interrupted: its worker stopped during this run; the scheduler runs it again to finish it"
					}
					if !s.leading.Load() {
						s.last[name] = lr
					}
				}
				s.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leadUntil starts due runs until shutdown begins or lost is closed. The
// runs due together are queued in dependency order: each is started once
// the one before it is queued (Queued), so that a mapping's run never
// comes before that of a mapping it depends on.
func (s *Server) leadUntil(ctx context.Context, lost <-chan struct{}, runs *sync.WaitGroup) {
	for !s.draining.Load() {
		for _, name := range s.sched.Due() {
			runs.Add(1)
			queued := make(chan struct{})
			var once sync.Once
			mark := func() { once.Do(func() { close(queued) }) }
			go func() {
				defer runs.Done()
				defer mark()
				s.runOne(WithQueued(ctx, mark), name)
				s.poke()
			}()
			<-queued
		}
		if s.waitNext(lost) {
			return
		}
	}
}

func (s *Server) runOne(ctx context.Context, name string) {
	if s.stillWaiting(name) {
		return
	}
	start := s.now()
	s.mu.Lock()
	s.running[name] = true
	s.mu.Unlock()
	s.log.Info("run", "mapping", name)
	res, err := s.runWithTimeout(ctx, name)
	// ctx ends only when the shutdown timeout runs out: the run was cut
	// short by the shutdown, not failed (what it wrote is recorded).
	forced := err != nil && ctx.Err() != nil && !errors.Is(err, ErrDrained) && !errors.Is(err, ErrRunTimeout)
	if forced {
		err = fmt.Errorf("%w (cancelled by the shutdown timeout): %w", ErrDrained, err)
	}
	end := s.now()
	lr := &lastRun{Start: start, End: end, Result: res, Waiting: errors.Is(err, ErrNeedsReview)}
	if err != nil {
		lr.Err = err.Error()
	}
	s.mu.Lock()
	delete(s.running, name)
	s.last[name] = lr
	s.mu.Unlock()
	s.metrics.observeRun(name, end.Sub(start), res, err)
	// Last, so that a job seen not running has its run recorded.
	s.sched.Done(name, res.Changed, err)
	attrs := []any{"mapping", name, "plan", res.PlanID, "duration", end.Sub(start).Round(time.Millisecond).String(), "changed", res.Changed}
	for _, k := range countNames {
		if n := res.Counts[k]; n > 0 {
			attrs = append(attrs, k, n)
		}
	}
	if res.ApprovedBy != "" {
		attrs = append(attrs, "approved_by", res.ApprovedBy)
	}
	if res.Note != "" {
		attrs = append(attrs, "note", res.Note)
	}
	if res.Worker != "" {
		attrs = append(attrs, "worker", res.Worker)
	}
	switch {
	case forced:
		s.log.Warn("run interrupted by shutdown", append(attrs, "err", err.Error())...)
	case errors.Is(err, ErrDrained):
		s.log.Info("run interrupted by shutdown", append(attrs, "err", err.Error())...)
	case errors.Is(err, ErrNeedsReview):
		s.log.Warn("run waiting for approval", append(attrs, "err", err.Error())...)
	case err != nil:
		s.log.Error("run failed", append(attrs, "err", err.Error())...)
	case outOfStep(res.Counts) != "":
		s.log.Warn("run finished with records failed or skipped", attrs...)
	default:
		s.log.Info("run finished", attrs...)
	}
}

// queuedKey is the context key of the function a Leader's Run calls
// once its run is queued.
type queuedKey struct{}

// WithQueued returns ctx for a Leader's Run, which calls fn once its run
// is queued (Queued).
func WithQueued(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, queuedKey{}, fn)
}

// Queued is called by a Leader's Run once the run is queued, so that
// serve queues the next due run only then: runs due together are queued
// in dependency order.
func Queued(ctx context.Context) {
	if mark, ok := ctx.Value(queuedKey{}).(func()); ok {
		mark()
	}
}

// ErrRunTimeout is what the error of a run stopped by the run timeout
// wraps.
var ErrRunTimeout = errors.New("run timeout")

// runWithTimeout runs mapping under the run timeout: past it the runner
// is told to drain, as at shutdown, and its context is cancelled
// ShutdownTimeout later. serve's own drain (shutdown) reaches it as
// before.
func (s *Server) runWithTimeout(ctx context.Context, name string) (Result, error) {
	if _, ok := s.cfg.Runner.(Leader); ok || s.cfg.RunTimeout < 0 {
		// A Leader's worker applies the run timeout where the run is.
		return s.dispatch(ctx, s.drain, name)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	drain := make(chan struct{})
	done := make(chan struct{})
	var timedOut atomic.Bool
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		deadline := time.NewTimer(s.cfg.RunTimeout)
		defer deadline.Stop()
		select {
		case <-s.drain:
			close(drain) // shutdown: Run cancels ctx when its timeout runs out
			return
		case <-done:
			return
		case <-deadline.C:
		}
		timedOut.Store(true)
		s.log.Warn("run timeout: stopping the run", "mapping", name, "run_timeout", s.cfg.RunTimeout.String(),
			"cancel_in", s.cfg.ShutdownTimeout.String())
		close(drain)
		grace := time.NewTimer(s.cfg.ShutdownTimeout)
		defer grace.Stop()
		select {
		case <-grace.C:
			s.log.Warn("run timeout: cancelling the run under way", "mapping", name)
			cancel()
		case <-done:
		}
	}()
	res, err := s.dispatch(runCtx, drain, name)
	close(done)
	<-watched
	if err != nil && timedOut.Load() {
		err = runTimeout{limit: s.cfg.RunTimeout, err: err}
	}
	return res, err
}

// runTimeout is a run stopped by the run timeout. It is not ErrDrained:
// the run failed, serve goes on.
type runTimeout struct {
	limit time.Duration
	err   error
}

func (e runTimeout) Error() string {
	return fmt.Sprintf("%v: the run took longer than %s (coupler serve --run-timeout) and was stopped; what it wrote is recorded and its next run goes on from there: %v",
		ErrRunTimeout, e.limit, e.err)
}

func (e runTimeout) Is(target error) bool { return target == ErrRunTimeout }

// countNames are the operations a run counts, in display order.
var countNames = []string{"inserted", "modified", "deleted", "coupled", "uncoupled", "unchanged", "skipped", "failed"}

// reload loads the project again after its files changed: a valid one is
// used from the next run on; an invalid one is logged and the old one
// kept.
func (s *Server) reload() {
	p, err := s.cfg.Load()
	if err != nil {
		s.metrics.reloads.WithLabelValues("invalid").Inc()
		s.metrics.projectValid.Set(0)
		var ds mappings.Diagnostics
		if errors.As(err, &ds) {
			for _, d := range ds {
				if d.Severity == mappings.Error {
					s.log.Error("project changed but is invalid; still running the previous version", "diagnostic", d.String())
				}
			}
		} else {
			s.log.Error("project changed but cannot be loaded; still running the previous version", "err", err.Error())
		}
		s.mu.Lock()
		s.loadErr = err.Error()
		s.mu.Unlock()
		return
	}
	if err := s.use(p); err != nil {
		s.log.Error("project reload", "err", err.Error())
		return
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.metrics.projectValid.Set(1)
	s.log.Info("project reloaded: used from the next run on", "mappings", len(p.Jobs))
}
