package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/runner"
	"github.com/couplerhq/coupler/engine/serve"
	"github.com/couplerhq/coupler/engine/state"
)

// serveReader answers coupler serve's read API (serve.Reader) with the
// runner's engine, which it borrows for each read while runs go on, and
// the commands' own printers and plan rendering, so that a command that
// asks serve prints what it would have from the state database.
type serveReader struct {
	r      *runner.Runner
	redact func(string) string
}

// printer prints a listing as --format json does.
func (s serveReader) printer(w io.Writer) *view.Printer {
	return &view.Printer{W: w, Format: view.JSON, Redact: s.redact}
}

// Runs implements serve.Reader.
func (s serveReader) Runs(ctx context.Context, w io.Writer, limit int) error {
	return s.r.Read(ctx, func(e *engine.Engine) error {
		runs, err := e.Runs(ctx, limit)
		if err != nil {
			return err
		}
		return s.printer(w).Runs(runs)
	})
}

// Plans implements serve.Reader.
func (s serveReader) Plans(ctx context.Context, w io.Writer, limit int) error {
	return s.r.Read(ctx, func(e *engine.Engine) error {
		ps, err := e.Plans(ctx, limit)
		if err != nil {
			return err
		}
		return s.printer(w).Plans(ps)
	})
}

// Failures implements serve.Reader.
func (s serveReader) Failures(ctx context.Context, w io.Writer, mapping string, limit int) error {
	return s.r.Read(ctx, func(e *engine.Engine) error {
		if mapping != "" {
			if err := e.CheckMapping(mapping); err != nil {
				return apiError{err, serve.ErrBadRequest}
			}
		}
		fs, err := e.Failures(ctx, mapping, limit)
		if err != nil {
			return err
		}
		return s.printer(w).Failures(fs)
	})
}

// Intents implements serve.Reader.
func (s serveReader) Intents(ctx context.Context, w io.Writer) error {
	return s.r.Read(ctx, func(e *engine.Engine) error {
		ins, err := e.Intents(ctx)
		if err != nil {
			return err
		}
		return s.printer(w).Intents(ins)
	})
}

// Plan implements serve.Reader: coupler show's work on serve's engine. An
// export is written to the runner's scratch directory, the only one the
// sealed state database may write to, then copied to w.
func (s serveReader) Plan(ctx context.Context, w io.Writer, req serve.PlanRequest) (serve.PlanInfo, error) {
	kinds, err := checkShow(req)
	if err != nil {
		return serve.PlanInfo{}, apiError{err, serve.ErrBadRequest}
	}
	var info serve.PlanInfo
	err = s.r.Read(ctx, func(e *engine.Engine) error {
		for _, m := range req.Mappings {
			if err := e.CheckMapping(m); err != nil {
				return apiError{err, serve.ErrBadRequest}
			}
		}
		if !exportFormat(req.Format) {
			info, err = renderSaved(ctx, e, w, req, kinds, req.Color)
			return err
		}
		name := filepath.Base(req.File)
		if req.File == "" || name == "." || name == ".." || name == string(filepath.Separator) {
			name = "operations." + req.Format
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		file := filepath.Join(s.r.Scratch(), hex.EncodeToString(b[:])+"-"+name)
		defer os.Remove(file)
		if info, err = exportSaved(ctx, e, file, req, kinds); err != nil {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("export of plan %s: %w", info.ID, err)
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if errors.Is(err, state.ErrNoPlan) {
		err = apiError{err, serve.ErrNotFound}
	}
	return info, err
}

// Query implements serve.Reader: coupler query on serve's engine, sealed
// as the command's read-only open is (engine.Engine.Query).
func (s serveReader) Query(ctx context.Context, sql string, fn func(cols []string, row []any) error) error {
	return s.r.Read(ctx, func(e *engine.Engine) error { return e.Query(ctx, sql, fn) })
}

// apiError is an error of a read, with the kind serve answers it by
// (serve.ErrNotFound, serve.ErrBadRequest); its message is the error's.
type apiError struct {
	error
	kind error
}

func (e apiError) Is(target error) bool { return target == e.kind }
func (e apiError) Unwrap() error        { return e.error }
