package pgstate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/couplerhq/coupler/engine/state"
)

// RecordIntents saves one batch's intents with one COPY, which is one
// statement: the batch's intents all exist, or none. A commit in
// PostgreSQL is durable once it returns (synchronous_commit, the
// default), which is what the intents need before their batch is sent;
// DuckDB's state has to checkpoint for the same.
func (d *DB) RecordIntents(ctx context.Context, intents []state.Intent) error {
	if len(intents) == 0 {
		return nil
	}
	_, err := d.pool.CopyFrom(ctx, pgx.Identifier{"write_intents"},
		[]string{"run_id", "plan_id", "mapping", "direction", "seq", "op", "source_id", "dest_id",
			"client_key", "fields", "source_modified", "source_etag", "created_at"},
		pgx.CopyFromSlice(len(intents), func(i int) ([]any, error) {
			in := &intents[i]
			return []any{in.RunID, in.PlanID, in.Mapping, in.Direction, in.Seq, in.Op, in.SourceID, nullString(in.DestID),
				nullString(in.ClientKey), in.Fields, nullTime(in.SourceModified), nullString(in.SourceETag), in.CreatedAt.UTC()}, nil
		}))
	if err != nil {
		return fmt.Errorf("record write intents of mapping %s: %w", intents[0].Mapping, err)
	}
	return nil
}

// PendingIntents lists the intents left behind by a process that stopped
// while writing, oldest first: by run, then by seq.
func (d *DB) PendingIntents(ctx context.Context) ([]state.Intent, error) {
	rows, err := d.pool.Query(ctx, `SELECT run_id, plan_id, mapping, direction, seq, op, source_id, coalesce(dest_id, ''),
		coalesce(client_key, ''), fields, source_modified, coalesce(source_etag, ''), created_at
		FROM write_intents ORDER BY run_id, seq`)
	if err != nil {
		return nil, fmt.Errorf("pending write intents: %w", err)
	}
	defer rows.Close()
	var out []state.Intent
	for rows.Next() {
		var in state.Intent
		var mod *time.Time
		if err := rows.Scan(&in.RunID, &in.PlanID, &in.Mapping, &in.Direction, &in.Seq, &in.Op, &in.SourceID, &in.DestID,
			&in.ClientKey, &in.Fields, &mod, &in.SourceETag, &in.CreatedAt); err != nil {
			return nil, fmt.Errorf("pending write intents: %w", err)
		}
		if mod != nil {
			in.SourceModified = mod.UTC()
		}
		in.CreatedAt = in.CreatedAt.UTC()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending write intents: %w", err)
	}
	return out, nil
}

// DropIntents forgets intents whose writes are known not to have
// happened, so that the operations are tried again.
func (d *DB) DropIntents(ctx context.Context, runID int64, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	if _, err := d.pool.Exec(ctx, `DELETE FROM write_intents WHERE run_id = $1 AND seq = ANY($2)`, runID, seqs); err != nil {
		return fmt.Errorf("drop write intents of run %d: %w", runID, err)
	}
	return nil
}

// nullString is s, or NULL for "": what the state stores for a key or
// version not known.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime is t in UTC, or NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
