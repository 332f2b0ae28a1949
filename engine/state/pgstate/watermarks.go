package pgstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Watermark returns a mapping's watermark on one side, and whether it has
// one.
func (d *DB) Watermark(ctx context.Context, mapping, side string) (time.Time, bool, error) {
	var t time.Time
	err := d.pool.QueryRow(ctx, `SELECT value FROM watermarks WHERE mapping = $1 AND side = $2`, mapping, side).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("watermark of mapping %s, %s side: %w", mapping, side, err)
	}
	return t.UTC(), true, nil
}

// SetWatermark moves a mapping's watermark on one side.
func (d *DB) SetWatermark(ctx context.Context, mapping, side string, t time.Time) error {
	return setWatermark(ctx, d.pool, mapping, side, t)
}

// setWatermark sets a watermark on q: the pool, or FinishRun's
// transaction.
func setWatermark(ctx context.Context, q querier, mapping, side string, t time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO watermarks VALUES ($1, $2, $3, $4)
		ON CONFLICT (mapping, side) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		mapping, side, t.UTC(), time.Now().UTC())
	if err != nil {
		return fmt.Errorf("set watermark of mapping %s, %s side: %w", mapping, side, err)
	}
	return nil
}

// LowerWatermark moves a mapping's watermark on one side back to t if it
// is later, so that records modified since t are read again.
func (d *DB) LowerWatermark(ctx context.Context, mapping, side string, t time.Time) error {
	return lowerWatermark(ctx, d.pool, mapping, side, t)
}

// lowerWatermark lowers a watermark on q: the pool, or Retry's
// transaction.
func lowerWatermark(ctx context.Context, q querier, mapping, side string, t time.Time) error {
	_, err := q.Exec(ctx, `UPDATE watermarks SET value = $1, updated_at = $2 WHERE mapping = $3 AND side = $4 AND value > $1`,
		t.UTC(), time.Now().UTC(), mapping, side)
	if err != nil {
		return fmt.Errorf("move watermark of mapping %s back: %w", mapping, err)
	}
	return nil
}

// ClearWatermarks forgets the watermarks of the given mappings on both
// sides, and their change tracking tokens, in one transaction, so that
// their next plan reads every record. Couplings are kept. It returns how
// many watermarks were removed.
func (d *DB) ClearWatermarks(ctx context.Context, mappings []string) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM change_tokens WHERE mapping = ANY($1)`, mappings); err != nil {
			return fmt.Errorf("clear change tokens: %w", err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM watermarks WHERE mapping = ANY($1)`, mappings)
		if err != nil {
			return fmt.Errorf("clear watermarks: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("clear watermarks of mappings %v: %w", mappings, err)
	}
	return n, nil
}

// ChangeToken returns the token a mapping's next change-tracking read of
// one side starts from, and whether it has one.
func (d *DB) ChangeToken(ctx context.Context, mapping, side string) (string, bool, error) {
	tok, ok, err := d.optionalString(ctx, `SELECT token FROM change_tokens WHERE mapping = $1 AND side = $2`, mapping, side)
	if err != nil {
		return "", false, fmt.Errorf("change token of mapping %s, %s side: %w", mapping, side, err)
	}
	return tok, ok, nil
}

// ClearChangeTokens forgets the change tracking tokens of the given
// mappings on both sides, so that their next change-tracking read reads
// every record and starts afresh. It returns how many it removed.
func (d *DB) ClearChangeTokens(ctx context.Context, mappings ...string) (int64, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM change_tokens WHERE mapping = ANY($1)`, mappings)
	if err != nil {
		return 0, fmt.Errorf("clear change tokens of mappings %v: %w", mappings, err)
	}
	return tag.RowsAffected(), nil
}

// optionalString runs a query of one string; ok is false when it finds no
// row.
func (d *DB) optionalString(ctx context.Context, query string, args ...any) (s string, ok bool, err error) {
	err = d.pool.QueryRow(ctx, query, args...).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return s, err == nil, err
}
