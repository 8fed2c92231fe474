package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/scheduler"
)

type serveFlags struct {
	listen   string
	runNow   bool
	jitter   time.Duration
	grace    time.Duration
	sandbox  string
	projects []string
	election electionFlags
	events   eventFlags
}

func newServeCmd(g *globals, s streams) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the cycle of `zerodrift run` on the configured schedule, with health and metrics",
		Long: `Run the cycle of zerodrift run on the schedule of the configuration (schedule, in
scheduleTimeZone), one run at a time: a run due while one is still going is skipped. The
configuration file is read again before each run; a configuration that is no longer valid is
reported and the last good one kept. Live changes follow mode: in the configuration.

HTTP on --listen serves /healthz, /readyz (the ledger is reachable) and /metrics (Prometheus).
In Kubernetes, several replicas elect a leader on a Lease and only the leader runs. With
--events (or events.subscription), every replica also consumes a Pub/Sub subscription fed by
a Cloud Asset Inventory real-time feed and decides each change at once, with the rails of run;
with --sandbox the sandbox publishes its own changes to an in-process Pub/Sub. Event mode
reads the configuration file again every --events-reload. On SIGTERM
no new run starts; the run in flight finishes its current change, is recorded as stopped, and
the process exits within --grace.`,
		Example: `  zerodrift serve --config zerodrift.yaml --log-format json
  zerodrift serve --sandbox --run-now --listen 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return g.serve(cmd.Context(), s, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", ":8080", "address of the health, readiness and metrics endpoints")
	fl.BoolVar(&f.runNow, "run-now", false, "start with a run instead of waiting for the schedule")
	fl.DurationVar(&f.jitter, "jitter", 30*time.Second, "delay each run by a random time up to this, so installations do not all start at once")
	fl.DurationVar(&f.grace, "grace", 25*time.Second, "on SIGTERM, how long the run in flight may take to stop before it is cancelled")
	fl.StringVar(&f.sandbox, "sandbox", "", "run against the built-in sandbox, or --sandbox=DIR for a scenario folder")
	fl.Lookup("sandbox").NoOptDefVal = builtinScenario
	fl.StringArrayVar(&f.projects, "project", nil, "project ID to run on (repeatable; default scope.projects)")
	f.election.register(fl)
	f.events.register(fl)
	return cmd
}

// configState is the configuration in use: the last one that loaded and validated.
// Its generation counts the changes: a reload that reads the same configuration again
// keeps it.
type configState struct {
	mu    sync.Mutex
	cfg   *config.Config
	sched cron.Schedule
	gen   uint64
	// lastErr is the error of the last reload, "" when it loaded.
	lastErr string
}

func (c *configState) set(cfg *config.Config) error {
	sched, err := config.ParseSchedule(cmp.Or(cfg.Schedule, config.DefaultSchedule), cfg.ScheduleTimeZone)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg == nil || !reflect.DeepEqual(c.cfg, cfg) {
		c.cfg, c.sched = cfg, sched
		c.gen++
	}
	return nil
}

func (c *configState) get() (*config.Config, cron.Schedule) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg, c.sched
}

// reported records the outcome of a reload and reports whether an error is new, so a
// file that stays invalid is logged once, not at every reload.
func (c *configState) reported(err error) bool {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	isNew := msg != c.lastErr
	c.lastErr = msg
	return err != nil && isNew
}

// generation returns the configuration in use and its generation.
func (c *configState) generation() (*config.Config, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg, c.gen
}

func (g *globals) serve(ctx context.Context, s streams, f *serveFlags) error {
	log, err := g.logger(s)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	var state configState
	if err := state.set(cfg); err != nil {
		return err
	}
	store, err := openLedger(ctx, cfg, f.sandbox != "")
	if err != nil {
		return err
	}
	defer store.Close()
	var sb *startedSandbox
	if f.sandbox != "" {
		srv, sc, err := startScenario(f.sandbox, "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer srv.Close()
		sb = &startedSandbox{srv: srv, sc: sc}
		log.Info("sandbox serving", zap.String("url", srv.URL()))
	}
	metrics := scheduler.NewMetrics()
	elect, err := f.election.elector(log)
	if err != nil {
		return err
	}

	job := func(ctx context.Context, stop <-chan struct{}) error {
		cfg := g.reloadConfig(log, &state, metrics)
		start := time.Now()
		res, err := g.serveRun(ctx, s, runtimeOptions{cfg: cfg, log: log, ledger: store, started: sb, projects: f.projects,
			routeIaC: true, wrap: metrics.Transport, github: metrics.Transport("github", nil)}, stop)
		status := "done"
		switch {
		case errors.Is(err, engine.ErrStopped):
			status = "stopped"
		case err != nil:
			status = "failed"
		}
		metrics.ObserveRun(res, time.Since(start), status, time.Now())
		fields := []zap.Field{zap.String("status", status), zap.Duration("took", time.Since(start))}
		if res != nil {
			fields = append(fields, zap.String("runId", res.RunID), zap.Int("findings", res.Summary.Findings),
				zap.Any("decisions", res.Summary.ByAction), zap.Int("changes", res.Summary.Changes))
		}
		if err != nil {
			log.Error("run ended", append(fields, zap.Error(err))...)
		} else {
			log.Info("run ended", fields...)
		}
		return err
	}
	w, err := scheduler.NewWorker(scheduler.WorkerOptions{
		Listen: f.listen,
		Loop: scheduler.Options{
			Schedule: func() cron.Schedule { _, sc := state.get(); return sc },
			Jitter:   f.jitter, RunNow: f.runNow, Grace: f.grace,
		},
		Job:     job,
		Ready:   func(ctx context.Context) error { return ledgerReachable(ctx, store) },
		Elect:   elect,
		Metrics: metrics,
		Log:     log,
	})
	if err != nil {
		return err
	}
	f.events.resolve(cfg.Events)
	if f.events.subscription == "" {
		return w.Serve(ctx)
	}
	evCtx, stopEvents := context.WithCancel(ctx)
	evDone := make(chan error, 1)
	go func() {
		evDone <- g.consumeEvents(evCtx, s, &f.events, runtimeOptions{log: log, ledger: store, started: sb,
			projects: f.projects, routeIaC: true, wrap: metrics.Transport, github: metrics.Transport("github", nil)},
			&state, func() { g.reloadConfig(log, &state, metrics) }, log)
	}()
	err = w.Serve(ctx)
	stopEvents()
	if evErr := <-evDone; evErr != nil {
		err = errors.Join(err, fmt.Errorf("event mode: %w", evErr))
	}
	return err
}

// reloadConfig reads the configuration file again; an invalid one is reported (once while
// it stays the same) and the last good one kept.
func (g *globals) reloadConfig(log *zap.Logger, state *configState, metrics *scheduler.Metrics) *config.Config {
	if g.configPath != "" {
		cfg, err := g.loadConfig()
		if err == nil {
			err = state.set(cfg)
		}
		if err != nil {
			metrics.ConfigReloadFailed()
		}
		if state.reported(err) {
			log.Error("the configuration file is not valid any more; keeping the last good one", zap.String("file", g.configPath), zap.Error(err))
		}
	}
	cfg, _ := state.get()
	return cfg
}

// serveRun is one cycle of serve: the runtime of a run, on the worker's shared parts.
func (g *globals) serveRun(ctx context.Context, s streams, o runtimeOptions, stop <-chan struct{}) (*engine.Result, error) {
	rt, err := g.newRuntime(ctx, s, o)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	src, err := rt.source(ctx)
	if err != nil {
		return nil, err
	}
	return rt.engine.Run(ctx, src, engine.RunOptions{MaxChanges: -1, Stop: stop})
}

// ledgerReachable is the readiness check: a read the ledger must answer.
func ledgerReachable(ctx context.Context, store ledger.Store) error {
	if _, err := store.GetRun(ctx, "readiness-probe"); err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return fmt.Errorf("the ledger is unreachable: %w", err)
	}
	return nil
}
