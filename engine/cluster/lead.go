package cluster

import (
	"context"
	"time"
)

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
