package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/couplerhq/coupler/engine/serve"
)

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
