package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeAtomic makes path whole or not at all: write fills a temporary file
// beside it (same directory, so the rename cannot cross file systems; same
// name at the end, so that what goes by the extension, DuckDB's COPY
// compression say, sees the same) which is renamed over path once write
// succeeded, and removed otherwise. A reader of path never sees half of it.
func writeAtomic(path string, write func(tmp string) error) error {
	var b [4]byte
	_, _ = rand.Read(b[:])
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, ".tmp-"+hex.EncodeToString(b[:])+"-"+base)
	if err := write(tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("nothing written to %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeFile creates file and fills it with write, for writeAtomic.
func writeFile(file string, write func(io.Writer) error) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
