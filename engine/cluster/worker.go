package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/couplerhq/coupler/engine/serve"
)

// worker works run jobs on this process's engines.
type worker struct {
	river.WorkerDefaults[RunArgs]
	c *Cluster
}

// Work runs the job's mapping: after its dependencies' earlier jobs, never
// while another worker runs the same mapping, on a free engine, under the
// run timeout. The run's result, failed or not, is the job's output and
// the job completes: a failed run waits for its next turn, as without
// workers. Only a run this process's shutdown stopped goes back to the
// queue, for another worker to finish.
func (w *worker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	c, mapping := w.c, job.Args.Mapping
	log := c.log.With("mapping", mapping, "job", job.ID, "attempt", job.Attempt)
	if c.draining() {
		return river.JobSnooze(0)
	}
	dep, err := c.unfinishedDependency(ctx, mapping, job.ID)
	if err != nil {
		return fmt.Errorf("mapping %s: dependencies: %w", mapping, err)
	}
	if dep != "" {
		log.Debug("run waits for its dependency's run", "dependency", dep)
		return snooze(ctx, "for the run of "+dep+", which it depends on")
	}
	unlock, ok, err := c.lockMapping(ctx, mapping)
	if err != nil {
		return fmt.Errorf("mapping %s: run lock: %w", mapping, err)
	}
	if !ok {
		log.Info("mapping runs on another worker: job snoozed")
		return snooze(ctx, "for its run on another worker to end")
	}
	defer unlock()
	r := <-c.free
	defer func() { c.free <- r }()
	if job.Attempt > 1 {
		log.Warn("run taken over from a worker that did not finish it", "attempted_by", job.AttemptedBy)
	}
	log.Info("run")
	start := time.Now()
	res, err, stopped := c.runOn(ctx, r, job.Args)
	o := outcome{Result: res}
	if err != nil {
		o.Err, o.Review, o.TimedOut = err.Error(), errors.Is(err, serve.ErrNeedsReview), errors.Is(err, serve.ErrRunTimeout)
	}
	if err := river.RecordOutput(ctx, o); err != nil {
		return fmt.Errorf("mapping %s: record the run's outcome: %w", mapping, err)
	}
	attrs := []any{"plan", res.PlanID, "duration", time.Since(start).Round(time.Millisecond).String(), "changed", res.Changed}
	switch {
	case stopped:
		// What was written is recorded; the job goes back to the queue
		// and another worker (or this one's next start) finishes it.
		log.Info("run interrupted by shutdown: its job goes back to the queue", append(attrs, "err", err.Error())...)
		return river.JobSnooze(0)
	case errors.Is(err, serve.ErrNeedsReview):
		log.Warn("run waiting for approval", append(attrs, "err", err.Error())...)
	case err != nil:
		log.Error("run failed", append(attrs, "err", err.Error())...)
	default:
		log.Info("run finished", attrs...)
	}
	return nil
}

// snooze puts the job back for snoozeFor, saying why on it.
func snooze(ctx context.Context, why string) error {
	_ = river.RecordOutput(ctx, outcome{Waiting: why}) // only for display
	return river.JobSnooze(snoozeFor)
}

// runOn runs args on r under the run timeout, as serve does: past it the
// run drains, and its context is cancelled ShutdownTimeout later; this
// process's shutdown drains it too. stopped says the shutdown did.
func (c *Cluster) runOn(ctx context.Context, r serve.Runner, args RunArgs) (res serve.Result, err error, stopped bool) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	drain, done := make(chan struct{}), make(chan struct{})
	var timedOut, shutdown atomic.Bool
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var deadline <-chan time.Time
		if c.cfg.RunTimeout > 0 {
			t := time.NewTimer(c.cfg.RunTimeout)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-done:
			return
		case <-c.stopping:
			shutdown.Store(true)
		case <-deadline:
			timedOut.Store(true)
			c.log.Warn("run timeout: stopping the run", "mapping", args.Mapping, "run_timeout", c.cfg.RunTimeout.String())
		}
		close(drain)
		grace := time.NewTimer(c.cfg.ShutdownTimeout)
		defer grace.Stop()
		select {
		case <-grace.C:
			cancel()
		case <-done:
		}
	}()
	if a, ok := r.(serve.Approver); ok && args.Plan != "" {
		res, err = a.RunApproved(runCtx, drain, args.Mapping, args.Plan)
	} else {
		res, err = r.Run(runCtx, drain, args.Mapping)
	}
	close(done)
	<-watched
	if res.Counts == nil {
		res.Counts = map[string]int64{}
	}
	if err != nil && timedOut.Load() {
		err = fmt.Errorf("%w: the run took longer than %s (coupler serve --run-timeout) and was stopped; what it wrote is recorded and its next run goes on from there: %w",
			serve.ErrRunTimeout, c.cfg.RunTimeout, err)
	}
	return res, err, err != nil && shutdown.Load()
}

// unfinishedDependency names a mapping that mapping depends on whose job,
// queued before job id, is not finished; "" when none.
func (c *Cluster) unfinishedDependency(ctx context.Context, mapping string, id int64) (string, error) {
	c.mu.Lock()
	deps := c.deps[mapping]
	c.mu.Unlock()
	if len(deps) == 0 {
		return "", nil
	}
	var dep string
	err := c.pool.QueryRow(ctx, `SELECT args->>'mapping' FROM `+c.jobs+`
		WHERE kind = $1 AND id < $2 AND args->>'mapping' = ANY($3)
		AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled') LIMIT 1`, Kind, id, deps).Scan(&dep)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return dep, err
}

// lockMapping takes the per-mapping run lock on a session of its own,
// held until unlock: when the worker dies, its session ends and the lock
// with it. ok is false when another worker holds it.
func (c *Cluster) lockMapping(ctx context.Context, mapping string) (unlock func(), ok bool, err error) {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))`, runLock+c.cfg.Schema, mapping).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, err
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() { releaseLock(conn, runLock+c.cfg.Schema, mapping) }, true, nil
}

// releaseLock lets go of a session advisory lock, or of the session when
// that fails: ending it releases the lock as surely.
func releaseLock(conn *pgxpool.Conn, key1, key2 string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext($1), hashtext($2))`, key1, key2); err != nil {
		conn.Conn().Close(ctx)
	}
	conn.Release()
}
