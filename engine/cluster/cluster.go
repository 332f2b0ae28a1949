// Package cluster runs coupler serve's mapping runs as River jobs
// (github.com/riverqueue/river) in the project's PostgreSQL state, so that
// several serve processes, on several machines, share one project's runs:
// each process works up to Config.Workers runs at once, each on its own
// engine, and the runs of a mapping never overlap.
//
// Who does what:
//   - One process at a time schedules: the one holding the project's
//     scheduler lock (Lead), a session advisory lock, which another process
//     takes when that session ends (the process died, or lost the
//     database). Its serve loop turns each due run into a job and waits for
//     the job's outcome, which then drives the schedule (inactivity back-off
//     needs it) and its status page. River's periodic jobs were not used
//     for this: their schedule cannot depend on the last run's outcome, as
//     the inactivity back-off does, nor wait for an approval.
//   - Every process works jobs. A job is unique per mapping while it is
//     pending, queued, running or retrying (River's unique jobs), and its
//     worker holds a per-mapping session advisory lock for the whole run: a
//     job finding it held (a rescued job whose first worker still runs)
//     snoozes. A job whose mapping depends on one with an unfinished job
//     inserted earlier snoozes too, so that dependency order holds when
//     several are due together.
//   - A worker that dies mid-run leaves its job running in River's table.
//     Each process holds a liveness lock, a session advisory lock named by
//     its River client id, for as long as it lives. Every process looks
//     each second for running jobs whose worker's lock is free (River's
//     rescuer only runs every 30 s, after a delay that must exceed the
//     longest run) and makes such a job available again at once; another
//     worker picks it up: its engine
//     settles the dead worker's write intents under the write lock before
//     applying. River's own rescuer (Config.RescueAfter) remains the
//     backstop for a worker that is alive but stuck.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/couplerhq/coupler/engine/serve"
)

// Config configures a Cluster.
type Config struct {
	// URL is the PostgreSQL connection string of the project's state.
	URL string
	// Schema is the state's schema; River's tables are made in it, so
	// that projects sharing a database, a schema each, have a queue each.
	Schema string
	// Runners run the mappings, one run at a time each; their number is
	// how many runs this process works at once. Each must have its own
	// engine: an engine is not safe for two plans at once.
	Runners []serve.Runner
	// RunTimeout bounds one run as serve's does: past it the run is told
	// to drain, and its context is cancelled ShutdownTimeout later.
	// Negative means no limit.
	RunTimeout      time.Duration
	ShutdownTimeout time.Duration
	// RescueAfter is how long a job may run before River's rescuer makes
	// it available to another worker although its worker is still alive
	// (stuck); it must exceed RunTimeout + ShutdownTimeout. A dead
	// worker's job is taken over sooner (see the package comment).
	RescueAfter time.Duration
	// ID names this process among the workers (River's client id); empty
	// makes host-pid-random.
	ID     string
	Logger *slog.Logger
}

// Kind is the River job kind of a mapping run.
const Kind = "coupler_run"

// RunArgs are a run job's arguments.
type RunArgs struct {
	// Mapping is the mapping to run: the job's unique key.
	Mapping string `json:"mapping" river:"unique"`
	// Plan, when set, is an approved plan the run applies instead of
	// planning.
	Plan string `json:"plan,omitempty"`
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return Kind }

// outcome is what a worker records as the job's output: the run's result
// and error, for the scheduler waiting for it.
type outcome struct {
	Result serve.Result `json:"result"`
	Err    string       `json:"err,omitempty"`
	// Review says the run waits for a person's approval
	// (serve.ErrNeedsReview).
	Review bool `json:"review,omitempty"`
	// TimedOut says the run was stopped by the run timeout.
	TimedOut bool `json:"timed_out,omitempty"`
	// Waiting says why a snoozed job waits, for the status page.
	Waiting string `json:"waiting,omitempty"`
}

// Lock names: each is taken with the schema's name, so that projects
// sharing a database do not share locks.
const (
	schedulerLock = "coupler scheduler"
	runLock       = "coupler run "
	workerLock    = "coupler worker "
	migrateLock   = "coupler river migration"
)

// Intervals of the cluster's polling.
const (
	// awaitEvery is how often the scheduler looks at a job it waits for.
	awaitEvery = 200 * time.Millisecond
	// leadEvery is how often a process not scheduling tries the
	// scheduler lock, and the scheduler checks its session.
	leadEvery = time.Second
	// sweepEvery is how often each process looks for the runs of dead
	// workers.
	sweepEvery = time.Second
	// snoozeFor is how long a job whose mapping is running elsewhere, or
	// whose dependency is unfinished, waits before it is tried again.
	snoozeFor = 500 * time.Millisecond
)

// Cluster is this process's part of the cluster: its River client and
// workers, and the scheduler's side (Run, Lead).
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	jobs   string // the schema's river_job table, quoted

	// alive holds this process's liveness lock for as long as it lives.
	alive *pgxpool.Conn
	free  chan serve.Runner

	mu   sync.Mutex
	deps map[string][]string
	// states are what the scheduler knows of the jobs it waits for, by
	// mapping, for the status page.
	states map[string]string

	stopping  chan struct{}
	drainOnce sync.Once
	// stopSweep stops sweep.
	stopSweep context.CancelFunc
}

// Open connects to the state's database, makes or updates River's tables
// in the state's schema (concurrent starts migrate one at a time), takes
// this process's liveness lock and builds the River client. Start starts
// working jobs.
func Open(ctx context.Context, cfg Config) (*Cluster, error) {
	if len(cfg.Runners) == 0 {
		return nil, errors.New("cluster: no runners")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = serve.DefaultShutdownTimeout
	}
	if cfg.RunTimeout == 0 {
		cfg.RunTimeout = serve.DefaultRunTimeout
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = DefaultRescueAfter(cfg.RunTimeout, cfg.ShutdownTimeout)
	}
	if cfg.RunTimeout > 0 && cfg.RescueAfter <= cfg.RunTimeout+cfg.ShutdownTimeout {
		return nil, fmt.Errorf("--rescue-after (%s) must be longer than --run-timeout plus --shutdown-timeout (%s): a run still going would be given to another worker",
			cfg.RescueAfter, cfg.RunTimeout+cfg.ShutdownTimeout)
	}
	if cfg.ID == "" {
		cfg.ID = newID()
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, errors.New("cluster: unreadable connection string") // pgx's message may quote the password
	}
	// A run lock per worker, the liveness and scheduler locks, River's
	// producer, notifier and maintenance, and the scheduler's polling.
	pcfg.MaxConns = int32(2*len(cfg.Runners) + 8)
	// pg_stat_activity names each worker's sessions, as does the status
	// page.
	pcfg.ConnConfig.RuntimeParams["application_name"] = cfg.ID
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger.With("worker", cfg.ID), pool: pool, jobs: pgx.Identifier{cfg.Schema, "river_job"}.Sanitize(),
		free: make(chan serve.Runner, len(cfg.Runners)), deps: map[string][]string{}, states: map[string]string{}, stopping: make(chan struct{})}
	for _, r := range cfg.Runners {
		c.free <- r
	}
	if err := c.open(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// DefaultRescueAfter is the River rescue delay for a run timeout: a
// stuck job is given to another worker an hour after it should have
// stopped; with no run timeout, after a day.
func DefaultRescueAfter(runTimeout, shutdownTimeout time.Duration) time.Duration {
	if runTimeout < 0 {
		return 24 * time.Hour
	}
	return runTimeout + shutdownTimeout + time.Hour
}

func (c *Cluster) open(ctx context.Context) error {
	if err := migrate(ctx, c.pool, c.cfg.Schema); err != nil {
		return err
	}
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.alive = conn
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1), hashtext($2))`, workerLock+c.cfg.Schema, c.cfg.ID); err != nil {
		return fmt.Errorf("cluster: liveness lock: %w", err)
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker{c: c}); err != nil {
		return err
	}
	client, err := river.NewClient(riverpgxv5.New(c.pool), &river.Config{
		ID:     c.cfg.ID,
		Schema: c.cfg.Schema,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: len(c.cfg.Runners)}},
		// The worker applies the run timeout itself, draining first as
		// serve does, rather than River cancelling the context outright.
		JobTimeout:           -1,
		RescueStuckJobsAfter: c.cfg.RescueAfter,
		Workers:              workers,
		Logger:               c.cfg.Logger.With("component", "river"),
		// Finished jobs are the run log's business (the runs table): keep
		// River's a day, for a look at what the queue did.
		CompletedJobRetentionPeriod: 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.client = client
	return nil
}

// migrate makes or updates River's tables in schema. River's migrator
// takes no lock of its own, and its migrations cannot share one
// transaction (a new enum value must be committed before it is used): a
// session advisory lock held around them makes processes starting
// together migrate one at a time, the later ones finding nothing left to
// do.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("cluster: River migrations: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("cluster: River migrations: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1), hashtext($2))`, migrateLock, schema); err != nil {
		conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
		return fmt.Errorf("cluster: wait for other processes' River migrations: %w", err)
	}
	defer releaseLock(conn, migrateLock, schema)
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("cluster: River migrations in schema %s: %w", schema, err)
	}
	return nil
}

// newID names this process: its host and pid, which a person recognises
// on the status page, and a random suffix, since River's client ids must
// never repeat.
func newID() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// ID is this process's name among the workers.
func (c *Cluster) ID() string { return c.cfg.ID }

// Start starts working jobs.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("cluster: start workers: %w", err)
	}
	sweepCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.stopSweep = cancel
	go c.sweep(sweepCtx)
	c.log.Info("working runs", "workers", len(c.cfg.Runners), "schema", c.cfg.Schema)
	return nil
}

// Drain tells the runs under way here to finish their batch of writes and
// start no new one, as serve's shutdown does; their jobs are handed back
// to the queue for another worker to finish. Stop waits for them.
func (c *Cluster) Drain() {
	c.drainOnce.Do(func() { close(c.stopping) })
}

// Stop drains, waits up to the shutdown timeout for the runs under way
// here, cancels them past it, and closes the connections, releasing this
// process's locks.
func (c *Cluster) Stop() error {
	c.Drain()
	if c.stopSweep != nil {
		c.stopSweep()
	}
	var err error
	if c.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ShutdownTimeout)
		err = c.client.Stop(ctx)
		cancel()
		if err != nil {
			c.log.Warn("shutdown timeout: cancelling the runs under way", "err", err.Error())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = c.client.StopAndCancel(ctx)
			cancel()
		}
	}
	c.close()
	return err
}

func (c *Cluster) close() {
	if c.alive != nil {
		c.alive.Release()
		c.alive = nil
	}
	c.pool.Close()
}

// Use implements serve.Runner: every engine uses p from its next run on.
// It also learns each mapping's dependencies.
func (c *Cluster) Use(p *serve.Project) {
	c.mu.Lock()
	c.deps = p.DependsOn
	c.mu.Unlock()
	for _, r := range c.cfg.Runners {
		r.Use(p)
	}
}

// draining reports whether this process is shutting down.
func (c *Cluster) draining() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

// errOrphaned is a run left by a worker that died.
var errOrphaned = errors.New("worker stopped during the run")

// Lead implements serve.Leader: it waits until this process holds the
// project's scheduler lock, or ctx ends. The lock is held on a session of
// its own; lost is closed when that session fails, upon which another
// process may take over.
func (c *Cluster) Lead(ctx context.Context) (lost <-chan struct{}, err error) {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(leadEvery)
	defer t.Stop()
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))`, schedulerLock, c.cfg.Schema).Scan(&got); err != nil {
			conn.Release()
			return nil, err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			conn.Release()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// Closing the session is what lets the next process lead.
			conn.Conn().Close(context.Background())
			conn.Release()
		}()
		for {
			select {
			case <-c.stopping:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				c.log.Error("lost the scheduler lock's session: another process may schedule now", "err", err.Error())
				return
			}
		}
	}()
	return done, nil
}

// Enqueue implements serve.Leader: it asks for a run of mapping without
// waiting for it (a run-now asked of a process that does not schedule),
// one applying the approved plan planID when it is set.
func (c *Cluster) Enqueue(ctx context.Context, mapping, planID string) error {
	_, err := c.insert(ctx, RunArgs{Mapping: mapping, Plan: planID})
	return err
}

func (c *Cluster) insert(ctx context.Context, args RunArgs) (*rivertype.JobInsertResult, error) {
	res, err := c.client.Insert(ctx, args, &river.InsertOpts{
		// Retries are for runs a worker did not finish (it died, or was
		// shut down): a run that failed is reported and waits for its
		// next turn, as without workers.
		MaxAttempts: 10,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled}},
	})
	if err != nil {
		return nil, fmt.Errorf("mapping %s: queue its run: %w", args.Mapping, err)
	}
	return res, nil
}

// Run implements serve.Runner for the scheduler: it queues a run of
// mapping, or joins the one queued already, and waits for its outcome.
// When drain is closed (this process shuts down) it stops waiting: the
// job goes on in the cluster.
func (c *Cluster) Run(ctx context.Context, drain <-chan struct{}, mapping string) (serve.Result, error) {
	return c.runJob(ctx, drain, RunArgs{Mapping: mapping})
}

// RunApproved implements serve.Approver's run: a job that applies the
// approved plan planID.
func (c *Cluster) RunApproved(ctx context.Context, drain <-chan struct{}, mapping, planID string) (serve.Result, error) {
	return c.runJob(ctx, drain, RunArgs{Mapping: mapping, Plan: planID})
}

func (c *Cluster) runJob(ctx context.Context, drain <-chan struct{}, args RunArgs) (serve.Result, error) {
	empty := serve.Result{Counts: map[string]int64{}}
	res, err := c.insert(ctx, args)
	serve.Queued(ctx)
	if err != nil {
		return empty, err
	}
	if res.UniqueSkippedAsDuplicate {
		c.log.Info("run already queued: waiting for it", "mapping", args.Mapping, "job", res.Job.ID)
	}
	defer c.setState(args.Mapping, "")
	return c.await(ctx, drain, res.Job)
}

// await waits for job to finish and returns its outcome.
func (c *Cluster) await(ctx context.Context, drain <-chan struct{}, job *rivertype.JobRow) (serve.Result, error) {
	empty := serve.Result{Counts: map[string]int64{}}
	mapping := mappingOf(job)
	t := time.NewTicker(awaitEvery)
	defer t.Stop()
	for {
		switch job.State {
		case rivertype.JobStateCompleted:
			return c.outcomeOf(job)
		case rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
			msg := "the job was " + string(job.State)
			if n := len(job.Errors); n > 0 {
				msg += ": " + job.Errors[n-1].Error
			}
			return empty, fmt.Errorf("mapping %s: %s after %d attempt(s)", mapping, msg, job.Attempt)
		case rivertype.JobStateRunning:
			if n := len(job.AttemptedBy); n > 0 {
				by := job.AttemptedBy[n-1]
				c.setState(mapping, "running on "+by)
			}
		case rivertype.JobStateRetryable:
			c.setState(mapping, "to be retried")
		case rivertype.JobStateScheduled, rivertype.JobStateAvailable, rivertype.JobStatePending:
			state := "queued"
			var o outcome
			if json.Unmarshal(job.Output(), &o) == nil && o.Waiting != "" {
				state += ", waiting " + o.Waiting
			}
			c.setState(mapping, state)
		}
		select {
		case <-drain:
			return empty, fmt.Errorf("%w: this process stops waiting for job %d; its run goes on in the cluster", serve.ErrDrained, job.ID)
		case <-ctx.Done():
			return empty, ctx.Err()
		case <-t.C:
		}
		got, err := c.client.JobGet(ctx, job.ID)
		switch {
		case errors.Is(err, river.ErrNotFound):
			return empty, fmt.Errorf("mapping %s: job %d is gone from the queue", mapping, job.ID)
		case err != nil:
			// The database may come back: keep waiting, say why.
			c.log.Warn("read the run's job", "mapping", mapping, "job", job.ID, "err", err.Error())
			continue
		}
		job = got
	}
}

func mappingOf(job *rivertype.JobRow) string {
	var a RunArgs
	_ = json.Unmarshal(job.EncodedArgs, &a)
	return a.Mapping
}

// outcomeOf reads a completed job's output as serve's result.
func (c *Cluster) outcomeOf(job *rivertype.JobRow) (serve.Result, error) {
	var o outcome
	if err := json.Unmarshal(job.Output(), &o); err != nil {
		return serve.Result{Counts: map[string]int64{}}, fmt.Errorf("mapping %s: job %d has no readable outcome: %w", mappingOf(job), job.ID, err)
	}
	if o.Result.Counts == nil {
		o.Result.Counts = map[string]int64{}
	}
	if n := len(job.AttemptedBy); n > 0 {
		o.Result.Worker = job.AttemptedBy[n-1]
	}
	// Say when the run took more than one attempt (a snooze is none):
	// a person looks for the worker that went away.
	if job.Attempt > 1 {
		var why []string
		for _, e := range job.Errors {
			why = append(why, fmt.Sprintf("attempt %d: %s", e.Attempt, e.Error))
		}
		note := fmt.Sprintf("finished at attempt %d by %s", job.Attempt, o.Result.Worker)
		if len(why) > 0 {
			note += " (" + strings.Join(why, "; ") + "; its writes in flight were settled before the run went on)"
		}
		o.Result.Note = strings.TrimPrefix(o.Result.Note+"; "+note, "; ")
	}
	if o.Err == "" {
		return o.Result, nil
	}
	return o.Result, remoteError{msg: o.Err, review: o.Review, timedOut: o.TimedOut}
}

// remoteError is a run's error as its worker recorded it.
type remoteError struct {
	msg              string
	review, timedOut bool
}

func (e remoteError) Error() string { return e.msg }

func (e remoteError) Is(target error) bool {
	return (e.review && target == serve.ErrNeedsReview) || (e.timedOut && target == serve.ErrRunTimeout)
}

// sweep looks, every sweepEvery until ctx ends, for run jobs whose worker
// is dead, and gives them to another worker. Every process sweeps, so
// that a job is rescued whoever queued it and whether or not anyone
// waits for it; two sweeping together rescue it once.
func (c *Cluster) sweep(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.sweepOnce(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("look for runs of dead workers", "err", err.Error())
		}
	}
}

func (c *Cluster) sweepOnce(ctx context.Context) error {
	type running struct {
		id          int64
		attempt     int
		mapping, by string
	}
	rows, err := c.pool.Query(ctx, `SELECT id, attempt, args->>'mapping', attempted_by[array_length(attempted_by, 1)] FROM `+c.jobs+`
		WHERE kind = $1 AND state = 'running' AND attempted_by[array_length(attempted_by, 1)] <> $2`, Kind, c.cfg.ID)
	if err != nil {
		return err
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (running, error) {
		var r running
		err := row.Scan(&r.id, &r.attempt, &r.mapping, &r.by)
		return r, err
	})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := c.rescueIfDead(ctx, j.id, j.attempt, j.mapping, j.by); err != nil {
			return fmt.Errorf("mapping %s, job %d: %w", j.mapping, j.id, err)
		}
	}
	return nil
}

// rescueIfDead makes job id, at attempt, of mapping, available again when
// its worker by is dead: its liveness lock is free. The lock is tried in
// a transaction, which lets go of it at once.
func (c *Cluster) rescueIfDead(ctx context.Context, id int64, attempt int, mapping, by string) error {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var free bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2))`, workerLock+c.cfg.Schema, by).Scan(&free); err != nil {
		return err
	}
	if !free {
		return nil
	}
	attemptErr, err := json.Marshal(rivertype.AttemptError{At: time.Now().UTC(), Attempt: attempt,
		Error: fmt.Sprintf("%v: worker %s is gone (its session ended)", errOrphaned, by)})
	if err != nil {
		return err
	}
	// Only while the job is still running and still that worker's attempt.
	tag, err := tx.Exec(ctx, `UPDATE `+c.jobs+` SET state = 'available', scheduled_at = now(), errors = array_append(errors, $3::jsonb)
		WHERE id = $1 AND state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $2`, id, by, string(attemptErr))
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	c.log.Warn("worker stopped during a run: its job goes to another worker, which settles its writes in flight first",
		"mapping", mapping, "job", id, "dead_worker", by)
	return nil
}

func (c *Cluster) setState(mapping, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if state == "" {
		delete(c.states, mapping)
		return
	}
	c.states[mapping] = state
}

// RunState implements serve.RunStater: where the run of mapping the
// scheduler waits for stands (queued, running on which worker).
func (c *Cluster) RunState(mapping string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.states[mapping]
}
