package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Backup copies the state database into a new DuckDB file at path, which
// must not exist. It checkpoints first, then copies every table, view and
// sequence with DuckDB's COPY FROM DATABASE into a temporary file beside
// path, and renames that into place only once the copy is complete and
// opens as a coupler state file, so that path never holds half a backup.
// The copy is consistent as long as no other process writes the state
// meanwhile, which DuckDB's file lock already prevents.
func (d *DB) Backup(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err == nil {
		return fmt.Errorf("backup %s: the file exists already; choose another name", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	if self, err := filepath.Abs(d.path); err == nil && self == abs {
		return fmt.Errorf("backup %s: that is the state database itself", path)
	}
	// A backup holds the writes in flight too.
	if err := d.flushPending(ctx); err != nil {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	tmp := abs + ".partial"
	_ = os.Remove(tmp) // left by an earlier backup that was stopped
	_ = os.Remove(tmp + ".wal")
	if err := d.copyTo(ctx, tmp); err != nil {
		_ = os.Remove(tmp)
		_ = os.Remove(tmp + ".wal")
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	// The copy must open as a state file of this version before it counts.
	b, err := Open(ctx, tmp, Options{})
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("backup to %s: the copy does not open: %w", path, err)
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}

func (d *DB) copyTo(ctx context.Context, path string) error {
	conn, err := d.db.Conn(ctx) // ATTACH is per connection
	if err != nil {
		return err
	}
	defer conn.Close()
	var self string
	if err := conn.QueryRowContext(ctx, `SELECT current_database()`).Scan(&self); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `CHECKPOINT`); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `ATTACH `+sqlString(path)+` AS coupler_backup (BLOCK_SIZE `+strconv.Itoa(BlockSize)+`)`); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	_, err = conn.ExecContext(ctx, `COPY FROM DATABASE `+quoteIdent(self)+` TO coupler_backup`)
	if err == nil {
		_, err = conn.ExecContext(ctx, `CHECKPOINT coupler_backup`)
	}
	if _, derr := conn.ExecContext(ctx, `DETACH coupler_backup`); err == nil {
		err = derr
	}
	return err
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
