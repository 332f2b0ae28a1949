package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"
)

// errOrphaned is a run left by a worker that died.
var errOrphaned = errors.New("worker stopped during the run")

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
