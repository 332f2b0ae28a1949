package pgstate

import (
	"context"
	"fmt"
	"time"
)

// Definition returns the fingerprint of a mapping pass's definition as the
// last run that applied it without a failed record kept it, and whether
// one was kept.
func (d *DB) Definition(ctx context.Context, mapping, direction string) (string, bool, error) {
	fp, ok, err := d.optionalString(ctx, `SELECT fingerprint FROM mapping_definitions WHERE mapping = $1 AND direction = $2`, mapping, direction)
	if err != nil {
		return "", false, fmt.Errorf("definition of mapping %s, %s: %w", mapping, direction, err)
	}
	return fp, ok, nil
}

// Acknowledge records that the first sync of mapping may create records
// in a destination that already holds records.
func (d *DB) Acknowledge(ctx context.Context, mapping string) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO first_sync_acks VALUES ($1, $2)
		ON CONFLICT (mapping) DO UPDATE SET acknowledged_at = excluded.acknowledged_at`, mapping, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("acknowledge the first sync of mapping %s: %w", mapping, err)
	}
	return nil
}

// Acknowledged reports whether the first sync of mapping was
// acknowledged.
func (d *DB) Acknowledged(ctx context.Context, mapping string) (bool, error) {
	var ok bool
	if err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM first_sync_acks WHERE mapping = $1)`, mapping).Scan(&ok); err != nil {
		return false, fmt.Errorf("first sync acknowledgement of mapping %s: %w", mapping, err)
	}
	return ok, nil
}
