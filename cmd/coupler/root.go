package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/mappings"
)

// exitError carries a process exit code other than 1 through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// globals are the flags every command shares.
type globals struct {
	dir      string
	logLevel string
	stdout   io.Writer
	stderr   io.Writer
}

func (g *globals) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
}

// open loads the project and opens its engine, printing warnings and, on
// error, every diagnostic.
func (g *globals) open(ctx context.Context) (*engine.Engine, error) {
	e, diags, err := engine.OpenProject(ctx, g.dir, mappings.LoadOptions{}, engine.Options{Logger: g.logger()})
	for _, d := range diags {
		fmt.Fprintln(g.stderr, d)
	}
	if err != nil {
		var ds mappings.Diagnostics
		if errors.As(err, &ds) {
			return nil, &exitError{code: 1, err: fmt.Errorf("%s has %d problem(s); see above", g.dir, errorCount(ds))}
		}
		return nil, err
	}
	return e, nil
}

func errorCount(ds mappings.Diagnostics) int {
	n := 0
	for _, d := range ds {
		if d.Severity == mappings.Error {
			n++
		}
	}
	return n
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "coupler",
		Short: "Keep records in two systems in step, as declared in YAML",
		Long: `coupler synchronizes the records of two systems (an ERP and a CRM, say) over
their HTTP APIs, as declared in version-controlled YAML: table mappings, field
mappings with expressions, filters and a direction.

Work like Terraform: validate the files, plan (a dry run that reads both sides
and shows every change), then apply the saved plan.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.dir, "dir", "C", ".", "project directory (holding coupler.yaml)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.AddCommand(newValidate(g), newPlan(g), newApply(g), newRuns(g), newDemo(g), newTest(g), newInit(g), newReset(g), newDescribe(g), newCouple(g), newUncouple(g), newErrors(g), newSync(g), newRetry(g), newPlans(g), newShow(g), newQuery(g))
	root.AddCommand(newState(g))
	return root
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "coupler:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "coupler:", err)
	return 1
}

// loadOnly loads and compiles the project without opening the state
// database, printing its diagnostics; prog is nil when it has errors.
func loadOnly(g *globals) (*engine.Program, error) {
	prog, diags := engine.Load(g.dir, mappings.LoadOptions{})
	for _, d := range diags {
		fmt.Fprintln(g.stderr, d)
	}
	if diags.HasErrors() {
		return nil, &exitError{code: 1, err: fmt.Errorf("%s has %d problem(s); see above", g.dir, errorCount(diags))}
	}
	return prog, nil
}
