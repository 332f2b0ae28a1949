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
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

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
