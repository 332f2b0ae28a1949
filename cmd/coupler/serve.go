package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/remote"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/lock"
	"github.com/couplerhq/coupler/engine/runner"
	"github.com/couplerhq/coupler/engine/serve"
)

// tokenEnv is the environment variable that may hold serve's token, so
// that it need not appear in a process listing.
const tokenEnv = "COUPLER_SERVE_TOKEN"

func newServe(g *globals) *cobra.Command {
	var (
		listen, token   string
		tokenForReads   bool
		allowHosts      []string
		shutdownTimeout time.Duration
		runTimeout      time.Duration
		watchInterval   time.Duration
		planRetention   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run every mapping on its schedule, with a status page, run-now and metrics",
		Long: `serve runs each mapping of the project on its schedule (schedule: and
inactivity_timeout: in the mapping files or the project file; every 30m by
default): plan and apply, one mapping at a time, in dependency order when
several are due together. It holds the state database's lock for as long as
it runs, so no other coupler can use that database meanwhile.

It answers HTTP on --listen (loopback by default):
  GET  /                   status page: schedule, last and next run, counts, errors
  POST /runs?mapping=NAME  run NAME now (Authorization: Bearer TOKEN when a token is set)
  GET  /healthz            200 ok; 503 while shutting down
  GET  /metrics            Prometheus metrics
  GET  /api/...            the read API: runs, plans, show, errors, state intents
                           and query ask it while serve holds the state database
  GET  /plans/PLAN         a plan's HTML report, with Approve while it waits
  POST /plans/PLAN/approve approve a waiting plan: serve applies it at once
  GET  /runs, /errors, /couplings?mapping=NAME&q=TEXT
                           the run log, failed records (with Retry), couplings

A plan that needs a person (a first sync into a destination holding records,
deletes, more than the project's approval: changed_share of records changing)
is not applied: the run waits for approval on the plan's page, or coupler
approve PLAN where no serve runs, and then applies that plan.

Listening beyond loopback requires a token (--token or $COUPLER_SERVE_TOKEN).
Every request without the token must name as Host a loopback name, an IP
address or an --allow-host name, so that a web page that rebinds its DNS
name to serve's address cannot read it; --token-for-reads makes every page,
/metrics and the read API require the token too.
Changed project files are validated and used from the next run on; invalid
ones are logged with file:line:col and the running version is kept.

On SIGINT or SIGTERM the batch of writes under way finishes and is recorded,
no new write starts, and serve exits within --shutdown-timeout.`,
		Example: `  coupler serve
  coupler serve --listen 0.0.0.0:7700 --log-format json   # with COUPLER_SERVE_TOKEN set
  curl -X POST -H "Authorization: Bearer $COUPLER_SERVE_TOKEN" 'http://host:7700/runs?mapping=CUSTOMER'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv(tokenEnv)
			}
			log := g.logger()
			r := runner.New(g.dir, g.loadOptions(false), engine.Options{Logger: log, Redactor: g.redactor})
			r.PlanRetention = planRetention
			// Load once here to print every problem of an invalid project the
			// way validate does, and to find the state database to lock.
			prog, err := loadOnly(g, false)
			if err != nil {
				return err
			}
			// A DuckDB file is one process's: serve holds it, and announces
			// itself beside it so that the read commands ask serve instead.
			// A PostgreSQL state is shared: nothing to hold or announce.
			fileState := !prog.Project.StateLocation().Postgres()
			if fileState {
				lk, err := lock.Acquire(prog.Project.State, g.command)
				if err != nil {
					return err
				}
				defer lk.Release()
			}
			srv, err := serve.New(serve.Config{Load: r.Load, Runner: r, Listen: listen, Token: token, TokenForReads: tokenForReads,
				AllowedHosts: allowHosts, ShutdownTimeout: shutdownTimeout, RunTimeout: runTimeout, WatchInterval: watchInterval, Logger: log, Redactor: g.redactor,
				Reader: serveReader{r: r, redact: g.redactor.String}})
			if err != nil {
				return err
			}
			defer func() {
				if err := r.Close(); err != nil {
					log.Warn("close", "err", err.Error())
				}
			}()
			if err := r.Open(cmd.Context()); err != nil {
				return err
			}
			addr, err := srv.Listen()
			if err != nil {
				return err
			}
			if fileState {
				// The read commands find serve here when the state is locked.
				unannounce, err := remote.Announce(remote.Info{URL: remote.URLFor(addr), PID: os.Getpid(), TokenForReads: tokenForReads,
					State: prog.Project.State, Since: time.Now().UTC().Truncate(time.Second)})
				if err != nil {
					return err
				}
				defer unannounce()
			}
			if g.logFormat == "json" {
				// Log collectors want nothing but JSON lines.
				log.Info("listening", "url", "http://"+addr.String(), "pid", os.Getpid())
			} else {
				fmt.Fprintf(g.stderr, "coupler serve: listening on http://%s (pid %d)\n", addr, os.Getpid())
			}
			if err := srv.Run(cmd.Context()); err != nil {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	durationFlag(f, &planRetention, "plan-retention", 7*24*time.Hour, fmt.Sprintf("remove saved plans older than this, hourly, keeping the newest %d (serve saves one a run; 0 keeps all)", runner.KeepPlans))
	f.StringVar(&listen, "listen", serve.DefaultListen, "HTTP address for the status page, run-now, /healthz and /metrics")
	f.StringVar(&token, "token", "", "token that run-now, approve and retry requests must carry (default $"+tokenEnv+"); required beyond loopback")
	f.BoolVar(&tokenForReads, "token-for-reads", false, "every page, /metrics and the read API require the token too (Bearer, or a browser's Basic with the token as password)")
	f.StringSliceVar(&allowHosts, "allow-host", nil, "a host name serve is reached by, allowed as Host without the token (loopback names and IP addresses always are); repeatable")
	durationFlag(f, &shutdownTimeout, "shutdown-timeout", serve.DefaultShutdownTimeout, "on SIGINT/SIGTERM, how long to let the batch under way finish before cancelling it")
	durationFlag(f, &runTimeout, "run-timeout", serve.DefaultRunTimeout, "stop a run of one mapping that takes longer than this, as at shutdown (then --shutdown-timeout), so that it cannot hold up the others (negative: no limit)")
	durationFlag(f, &watchInterval, "watch-interval", serve.DefaultWatchInterval, "how often to check the project files for changes (negative: never)")
	return cmd
}
