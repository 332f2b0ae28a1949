package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/lock"
	"github.com/couplerhq/coupler/engine/state/location"
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
	dir       string
	logLevel  string
	logFormat string
	stdout    io.Writer
	stderr    io.Writer
	// command is the running command's path, e.g. "coupler plan", which
	// the state database's lock records as its holder.
	command string
	// noProgress turns the terminal progress of plan and apply off.
	noProgress bool
	// progress, when set, shows a plan or apply getting on (progress.go).
	progress *progressPrinter
	// redactor scrubs the project's secrets from everything the command
	// logs and prints; the project's are added once it is loaded, and
	// the engine and serve share it.
	redactor *redact.Redactor
	// autoApprove is --auto-approve of the commands that ask before they
	// write (prompt.go).
	autoApprove bool
	// stdinTerminal says whether stdin is a terminal, where a command asks
	// before it writes; nil checks the real stdin (tests set it).
	stdinTerminal func(io.Reader) bool
	// state and stateSchema are --state and --state-schema; stateLoc is
	// what they name, once checked, which every load of the project
	// takes in place of the project file's state: (loadOptions).
	state, stateSchema string
	stateLoc           location.Location
	// serveToken is a read command's --token, for a coupler serve that
	// holds the state database and wants its token for reads.
	serveToken string
}

func (g *globals) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(g.stderr, opts)
	if g.logFormat == "json" {
		h = slog.NewJSONHandler(g.stderr, opts)
	}
	return slog.New(g.redactor.Handler(h))
}

// load loads and compiles the project, printing its diagnostics, and
// teaches the command's redactor the secrets of its connectors. Offline,
// for the commands that build no connector, an unset ${NAME} of a
// connector is no error (mappings.LoadOptions.DeferUnsetEnv): they need no
// secrets.
// checkStateFlags checks --state and --state-schema. Relative paths are the
// current directory's, as other paths on the command line.
func (g *globals) checkStateFlags() error {
	if g.state == "" {
		if g.stateSchema != "" {
			return errors.New("--state-schema goes with a postgres:// --state")
		}
		return nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if g.stateLoc, err = location.Parse(g.state, g.stateSchema, wd); err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	if u, err := url.Parse(g.stateLoc.URL); err == nil {
		if pw, ok := u.User.Password(); ok {
			g.redactor.AddSecret(pw, url.QueryEscape(pw))
		}
	}
	return nil
}

// loadOptions are the options every load of the project takes: --state,
// and deferUnset for the commands that need no connector's secret.
func (g *globals) loadOptions(deferUnset bool) mappings.LoadOptions {
	return mappings.LoadOptions{DeferUnsetEnv: deferUnset, State: g.stateLoc}
}

func (g *globals) load(offline bool) (*engine.Program, mappings.Diagnostics) {
	prog, diags := engine.Load(g.dir, g.loadOptions(offline))
	for _, d := range diags {
		fmt.Fprintln(g.stderr, d)
	}
	if prog != nil {
		for _, c := range prog.Project.Connectors {
			c.Config.AddSecretsTo(g.redactor)
		}
	}
	return prog, diags
}

// open loads the project, locks its state database for this process and
// opens its engine, printing warnings and, on error, every diagnostic. The
// lock is released when the engine is closed.
func (g *globals) open(ctx context.Context) (*engine.Engine, error) {
	return g.openEngine(ctx, false)
}

// openOffline is open for the commands that read or tidy the state and
// reach no service: it builds no connector, so that they need none of the
// connectors' secrets.
func (g *globals) openOffline(ctx context.Context) (*engine.Engine, error) {
	return g.openEngine(ctx, true)
}

func (g *globals) openEngine(ctx context.Context, offline bool) (*engine.Engine, error) {
	prog, diags := g.load(offline)
	if diags.HasErrors() {
		return nil, &exitError{code: 1, err: fmt.Errorf("%s has %d problem(s); see above", g.dir, errorCount(diags))}
	}
	opts := engine.Options{Logger: g.logger(), Redactor: g.redactor, Offline: offline}
	if g.progress != nil {
		opts.Progress = g.progress.update
	}
	if prog.Project.StateLocation().Postgres() {
		// A PostgreSQL state is shared: processes take its locks in the
		// database, applies one at a time (state.Store.LockWrites).
		return engine.Open(ctx, prog, opts)
	}
	statePath := prog.Project.State
	lk, err := lock.Acquire(statePath, g.command)
	if err != nil {
		return nil, err
	}
	opts.OnClose = lk.Release
	e, err := engine.Open(ctx, prog, opts)
	if err != nil {
		lk.Release()
		return nil, lock.Explain(err, statePath)
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
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text, or json (one object a line, for log collectors)")
	root.PersistentFlags().BoolVar(&g.noProgress, "no-progress", false, "no progress display on the terminal during plan and apply")
	root.PersistentFlags().StringVar(&g.state, "state", "", "the state to use in place of coupler.yaml's state: a DuckDB file, or a postgres:// URL")
	root.PersistentFlags().StringVar(&g.stateSchema, "state-schema", "", "with a postgres:// --state, the schema the state lives in (default public)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if g.logFormat != "text" && g.logFormat != "json" {
			return fmt.Errorf("--log-format must be text or json, not %q", g.logFormat)
		}
		g.command = cmd.CommandPath()
		if err := g.checkStateFlags(); err != nil {
			return err
		}
		if progressCommands[cmd.Name()] && !g.noProgress {
			g.progress = newTerminalProgress(g.stderr, os.Getenv)
		}
		return nil
	}
	root.AddCommand(newValidate(g), newPlan(g), newApply(g), newRuns(g), newDemo(g), newTest(g), newInit(g), newReset(g), newDescribe(g), newCouple(g), newUncouple(g), newErrors(g), newSync(g), newRetry(g), newAcknowledge(g), newApprove(g), newPlans(g), newShow(g), newQuery(g), newServe(g))
	root.AddCommand(newState(g))
	root.AddCommand(newSchema(g))
	root.AddCommand(newVersion(g))
	setVersion(root)
	root.SetFlagErrorFunc(flagError)
	registerCompletions(g, root)
	return root
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal asks for a graceful stop; once it arrived, the
	// default action is restored so that a second one ends coupler at
	// once. Apply is crash-safe, so that loses nothing recorded.
	go func() {
		<-ctx.Done()
		stop()
	}()
	g := &globals{stdout: stdout, stderr: stderr, redactor: redact.New()}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	// DuckDB's refusal to open a database another coupler holds, from any
	// command, names that coupler.
	err = lock.Explain(err, "")
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code, err = ee.code, ee.err
	}
	if err != nil {
		fatal(g, stderr, err, code)
	}
	return code
}

// fatal prints the error that ends coupler with exit status code: a line
// of text, or with --log-format json one log record like every other line
// on stderr, for the log collector that reads it. A server's error may
// echo a credential coupler sent it: the redactor scrubs it either way.
func fatal(g *globals, stderr io.Writer, err error, code int) {
	if g.logFormat == "json" {
		h := slog.NewJSONHandler(stderr, &slog.HandlerOptions{})
		slog.New(g.redactor.Handler(h)).Error(err.Error(), "exit_code", code)
		return
	}
	fmt.Fprintln(stderr, red("coupler:", colorOn(stderr, os.Getenv)), g.redactor.String(err.Error()))
}

// loadOnly loads and compiles the project without opening the state
// database, printing its diagnostics; prog is nil when it has errors.
// Offline, it needs no connector's secrets (see load).
func loadOnly(g *globals, offline bool) (*engine.Program, error) {
	prog, diags := g.load(offline)
	if diags.HasErrors() {
		return nil, &exitError{code: 1, err: fmt.Errorf("%s has %d problem(s); see above", g.dir, errorCount(diags))}
	}
	return prog, nil
}
