package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/remote"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/cluster"
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
		workers         int
		rescueAfter     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run every mapping on its schedule, with a status page, run-now and metrics",
		Long: `serve runs each mapping of the project on its schedule (schedule: and
inactivity_timeout: in the mapping files or the project file; every 30m by
default): plan and apply, one mapping at a time, in dependency order when
several are due together. It holds the state database's lock for as long as
it runs, so no other coupler can use that database meanwhile.

On a PostgreSQL state (state: postgres://…) runs are jobs of a queue in
the state's schema (River), which every coupler serve of the project, on
this machine or others, shares: one of them schedules, each works up to
--workers runs at once, a mapping never runs twice at once, and a run
whose worker dies is taken over by another, which settles the dead
worker's writes in flight first. See docs/operations.md,
"Running a cluster".

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
			// Load once here to print every problem of an invalid project the
			// way validate does, and to find the state database to lock.
			prog, err := loadOnly(g, false)
			if err != nil {
				return err
			}
			// A DuckDB file is one process's: serve holds it, and announces
			// itself beside it so that the read commands ask serve instead.
			// A PostgreSQL state is shared: nothing to hold or announce.
			loc := prog.Project.StateLocation()
			fileState := !loc.Postgres()
			if fileState && cmd.Flags().Changed("workers") {
				return fmt.Errorf("--workers needs a PostgreSQL state (state: postgres://… in %s): a DuckDB state file is one process's, which runs one mapping at a time", prog.Project.File)
			}
			if workers < 1 {
				return fmt.Errorf("--workers must be 1 or more, not %d", workers)
			}
			if !fileState && cmd.Flags().Changed("rescue-after") && runTimeout > 0 && rescueAfter <= runTimeout+shutdownTimeout {
				return fmt.Errorf("--rescue-after (%s) must be longer than --run-timeout plus --shutdown-timeout (%s): a run still going would be given to another worker", rescueAfter, runTimeout+shutdownTimeout)
			}
			// One engine per run under way: an engine plans one thing at a
			// time. The first also answers the reads.
			opts := engine.Options{Logger: log, Redactor: g.redactor, WaitForWrites: !fileState}
			runners := make([]*runner.Runner, 1, workers)
			runners[0] = runner.New(g.dir, g.loadOptions(false), opts)
			if !fileState {
				for len(runners) < workers {
					runners = append(runners, runner.New(g.dir, g.loadOptions(false), opts))
				}
			}
			for _, r := range runners {
				r.PlanRetention = planRetention
			}
			if fileState {
				lk, err := lock.Acquire(prog.Project.State, g.command)
				if err != nil {
					return err
				}
				defer lk.Release()
			}
			r := runners[0]
			// Closed last: the workers stop first (deferred later).
			defer func() {
				for _, r := range runners {
					if err := r.Close(); err != nil {
						log.Warn("close", "err", err.Error())
					}
				}
			}()
			var sr serve.Runner = r
			if !fileState {
				// The state's schema first: River's tables join it after.
				p, err := r.Load()
				if err != nil {
					return err
				}
				for _, r := range runners {
					r.Use(p)
					if err := r.Open(cmd.Context()); err != nil {
						return err
					}
				}
				rs := make([]serve.Runner, len(runners))
				for i, r := range runners {
					rs[i] = r
				}
				cl, err := cluster.Open(cmd.Context(), cluster.Config{URL: loc.URL, Schema: loc.Schema, Runners: rs, RunTimeout: runTimeout,
					ShutdownTimeout: shutdownTimeout, RescueAfter: rescueAfter, Logger: log})
				if err != nil {
					return err
				}
				defer func() {
					if err := cl.Stop(); err != nil {
						log.Warn("stop workers", "err", err.Error())
					}
				}()
				// The runs under way here drain at the signal, with serve's.
				go func() {
					<-cmd.Context().Done()
					cl.Drain()
				}()
				cl.Use(p) // the dependencies, before any job is worked
				if err := cl.Start(cmd.Context()); err != nil {
					return err
				}
				sr = clusterRunner{Runner: r, c: cl}
			}
			srv, err := serve.New(serve.Config{Load: r.Load, Runner: sr, Listen: listen, Token: token, TokenForReads: tokenForReads,
				AllowedHosts: allowHosts, ShutdownTimeout: shutdownTimeout, RunTimeout: runTimeout, WatchInterval: watchInterval, Logger: log, Redactor: g.redactor,
				Reader: serveReader{r: r, redact: g.redactor.String}})
			if err != nil {
				return err
			}
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
	f.IntVar(&workers, "workers", 1, "on a PostgreSQL state: how many mapping runs this process works at once, each on its own engine (other coupler serve processes of the project share the runs)")
	durationFlag(f, &rescueAfter, "rescue-after", 0, "on a PostgreSQL state: give a run that has gone on this long to another worker, its own being stuck (a dead worker's run is taken over at once); longer than --run-timeout plus --shutdown-timeout (default: those plus 1h)")
	durationFlag(f, &watchInterval, "watch-interval", serve.DefaultWatchInterval, "how often to check the project files for changes (negative: never)")
	return cmd
}

// clusterRunner is serve's Runner on a PostgreSQL state: the cluster runs
// the mappings, as jobs any worker may take; the first engine answers the
// reads, approvals and history.
type clusterRunner struct {
	*runner.Runner
	c *cluster.Cluster
}

func (c clusterRunner) Use(p *serve.Project) { c.c.Use(p) }

func (c clusterRunner) Run(ctx context.Context, drain <-chan struct{}, mapping string) (serve.Result, error) {
	return c.c.Run(ctx, drain, mapping)
}

func (c clusterRunner) RunApproved(ctx context.Context, drain <-chan struct{}, mapping, planID string) (serve.Result, error) {
	return c.c.RunApproved(ctx, drain, mapping, planID)
}

func (c clusterRunner) Lead(ctx context.Context) (<-chan struct{}, error) { return c.c.Lead(ctx) }

func (c clusterRunner) Enqueue(ctx context.Context, mapping, planID string) error {
	return c.c.Enqueue(ctx, mapping, planID)
}

func (c clusterRunner) RunState(mapping string) string { return c.c.RunState(mapping) }

// ID names this process among the workers, for the status page.
func (c clusterRunner) ID() string { return c.c.ID() }
