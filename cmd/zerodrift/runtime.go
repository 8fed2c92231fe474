package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/iac"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/playbooks"
	"github.com/zerodrift/zerodrift/pullrequest"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/registry"
	"github.com/zerodrift/zerodrift/sandbox"
)

// runtime is everything a command that acts needs, wired from flags and configuration.
type runtime struct {
	cfg *config.Config
	log *zap.Logger
	*liveScope
	ledger    ledger.Store
	playbooks *playbooks.Set
	actions   remediators.Registry
	engine    *engine.Engine
	closers   []func() error
}

func (r *runtime) Close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		if err := r.closers[i](); err != nil {
			r.log.Warn("closing", zap.Error(err))
		}
	}
}

// defaultLedgerURL is where the ledger lives when the configuration does not say: a file in
// the user's state folder. A sandbox run keeps its ledger in memory, since the sandbox's
// state goes with the process.
func defaultLedgerURL(sandboxed bool) (string, error) {
	if sandboxed {
		return "sqlite://:memory:", nil
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding a place for the ledger (set ledger: in the configuration): %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return "sqlite://" + filepath.Join(dir, "zerodrift", "ledger.db"), nil
}

// newRuntime loads the configuration, starts the sandbox when asked, opens the ledger and
// builds the live actions and the engine.
// runtimeOptions are what a command asks of its runtime.
type runtimeOptions struct {
	sandbox  string   // --sandbox[=DIR]
	projects []string // --project
	org      string   // --organization
	folders  []string // --folder
	exportTo string   // --export-to gs://BUCKET/PREFIX
	shard    string   // --shard i/n
	qps      []string // --qps service=N
	// routeIaC connects the IaC repository (or reads iacDir) so findings on declared
	// resources become pull requests; only `run` routes.
	routeIaC bool
	iacDir   string

	// serve keeps these across runs; a runtime given them uses them and does not close them.
	cfg     *config.Config             // instead of loading --config
	log     *zap.Logger                // instead of building one from the flags
	ledger  ledger.Store               // instead of opening the configured ledger
	started *startedSandbox            // a sandbox already serving, instead of starting one
	wrap    inventory.TransportWrapper // wraps every API client's transport (metrics)
	github  http.RoundTripper          // wraps GitHub's transport, when set
}

// startedSandbox is a sandbox serve started once for all its runs.
type startedSandbox struct {
	srv *sandbox.Server
	sc  *sandbox.Scenario
}

// openLedger opens the ledger of $ZERODRIFT_LEDGER or the configuration, or the default one.
func openLedger(ctx context.Context, cfg *config.Config, sandboxed bool) (ledger.Store, error) {
	url := cfg.LedgerURL(os.Getenv)
	if url == "" {
		var err error
		if url, err = defaultLedgerURL(sandboxed); err != nil {
			return nil, err
		}
	}
	return ledger.Open(ctx, url)
}

func (g *globals) newRuntime(ctx context.Context, s streams, o runtimeOptions) (_ *runtime, err error) {
	log := o.log
	if log == nil {
		if log, err = g.logger(s); err != nil {
			return nil, err
		}
	}
	cfg := o.cfg
	if cfg == nil {
		if cfg, err = g.loadConfig(); err != nil {
			return nil, err
		}
	}
	r := &runtime{cfg: cfg, log: log}
	if o.log == nil {
		r.closers = append(r.closers, func() error { _ = log.Sync(); return nil })
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if o.started != nil {
		r.liveScope = newLiveScopeOn(cfg, o.started.srv, o.started.sc, o.projects)
	} else {
		if r.liveScope, err = newLiveScope(cfg, o.sandbox, o.projects); err != nil {
			return nil, err
		}
		r.closers = append(r.closers, r.liveScope.Close)
	}
	if err = r.liveScope.readOrgWide(o.org, o.folders); err != nil {
		return nil, err
	}
	if err = r.liveScope.exportTo(o.exportTo); err != nil {
		return nil, err
	}
	if err = r.liveScope.useShard(o.shard); err != nil {
		return nil, err
	}
	if err = r.liveScope.useQPS(cfg.GCP.QPS, o.qps); err != nil {
		return nil, err
	}
	r.live.WrapTransport = o.wrap
	if r.ledger = o.ledger; r.ledger == nil {
		if r.ledger, err = openLedger(ctx, cfg, o.sandbox != ""); err != nil {
			return nil, err
		}
		r.closers = append(r.closers, r.ledger.Close)
	}
	r.actions, err = registry.New(ctx, remediators.Config{Endpoint: r.live.Endpoint, Endpoints: r.live.Endpoints, WrapTransport: o.wrap,
		Settings: remediators.Settings{OperationTimeout: cfg.GCP.OperationTimeout}}, cfg.GCP.Identity, log)
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, r.actions.Close)
	if r.playbooks, err = loadPlaybooks(cfg); err != nil {
		return nil, err
	}
	now, err := g.clock()
	if err != nil {
		return nil, err
	}
	env, err := cfg.Env(now)
	if err != nil {
		return nil, err
	}
	clock := time.Now
	if g.now != "" {
		clock = func() time.Time { return now }
	}
	deps := engine.Deps{Config: cfg, Rules: cfg.Rules(), Env: env, Playbooks: r.playbooks,
		Actions: r.actions, Defaults: playbooks.ConfigDefaults(env), Ledger: r.ledger, Log: log, Now: clock, Version: version,
		Failpoints: g.failpoints.WithLogger(log)}
	if !o.routeIaC {
		r.engine = engine.New(deps)
		return r, nil
	}
	if prCfg, ok, err := r.pullRequestConfig(); err != nil {
		return nil, err
	} else if ok {
		if o.github != nil {
			prCfg.HTTPClient = &http.Client{Transport: o.github}
		}
		prCfg.Failpoints = g.failpoints.WithLogger(log)
		prs, err := pullrequest.New(ctx, prCfg, log.Named("github"))
		if err != nil {
			return nil, fmt.Errorf("connecting to the IaC repository %s: %w", prCfg.Repository, err)
		}
		deps.PRs = prs
	} else if o.iacDir != "" {
		deps.IaCDir = os.DirFS(o.iacDir)
	}
	if deps.PRs != nil || deps.IaCDir != nil {
		opts, err := storageOptions(ctx, r.live)
		if err != nil {
			return nil, err
		}
		svc, err := storage.NewService(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("creating the Cloud Storage client for Terraform state: %w", err)
		}
		deps.ReadState = func(ctx context.Context, b iac.GCSBackend, workspace string) (*iac.State, error) {
			return iac.ReadGCSState(ctx, svc, b, workspace)
		}
	}
	r.engine = engine.New(deps)
	return r, nil
}

// storageOptions points the Cloud Storage client at the configured endpoint; a plain-HTTP
// endpoint is an emulator and gets no credentials.
func storageOptions(ctx context.Context, lc inventory.LiveConfig) ([]option.ClientOption, error) {
	return inventory.StorageOptions(ctx, cmp.Or(lc.Endpoints[inventory.ServiceStorage], lc.Endpoint), lc.ClientOptions, lc.WrapTransport)
}

// pullRequestConfig says how to reach the IaC repository: the sandbox's GitHub emulator,
// or the configured repository; ok is false when neither is there.
func (r *runtime) pullRequestConfig() (pullrequest.Config, bool, error) {
	gh := r.cfg.GitHub
	c := pullrequest.Config{Repository: gh.Repository, BaseBranch: gh.BaseBranch, APIURL: gh.APIURL, Labels: gh.Labels,
		Reviewers: gh.Reviewers, TeamReviewers: gh.TeamReviewers, Draft: gh.Draft, MaxPRsPerRun: *gh.MaxPRsPerRun,
		CoolOff: time.Duration(*gh.CoolOffDays) * 24 * time.Hour}
	if d := gh.WriteInterval; d != nil {
		c.WriteInterval = *d
		if *d == 0 {
			c.WriteInterval = -1 // pullrequest reads 0 as its default
		}
	}
	switch {
	case r.sandbox != nil && gh.Repository == "":
		// The sandbox's GitHub emulator holds the scenario's Terraform; nothing leaves the machine.
		c.Repository, c.BaseBranch, c.APIURL = sandbox.DefaultGitHubRepository, sandbox.DefaultGitHubBranch, r.sandbox.URL()
		c.Token, c.WriteInterval = sandbox.DefaultGitHubToken, -1
		return c, true, nil
	case gh.Repository == "":
		return c, false, nil
	case gh.App != nil:
		key, err := os.ReadFile(gh.App.PrivateKeyFile)
		if err != nil {
			return c, false, fmt.Errorf("github.app.privateKeyFile: %w", err)
		}
		c.App = &pullrequest.App{ID: gh.App.ID, InstallationID: gh.App.InstallationID, PrivateKeyPEM: key}
	default:
		token, err := gh.Token(os.Getenv)
		if err != nil {
			return c, false, err
		}
		c.Token = token
	}
	return c, true, nil
}

// source is what `run` scans: the live scope (the sandbox's, with --sandbox).
func (r *runtime) source(ctx context.Context) (inventory.Source, error) {
	src, closeLive, err := r.liveScope.source(ctx, r.log)
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, closeLive)
	return src, nil
}
