package main

import (
	"context"
	"errors"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/sandbox"
)

// liveScope is where a live scan reads: the projects and the API endpoints, with the sandbox
// (when asked for) standing in for every GCP endpoint, so nothing leaves the machine.
type liveScope struct {
	live     inventory.LiveConfig
	projects []string
	sandbox  *sandbox.Server   // nil without --sandbox
	scenario *sandbox.Scenario // the sandbox's scenario
	scope    config.Scope
	borrowed bool // the sandbox belongs to the caller: Close leaves it running
}

// newLiveScope resolves the projects (flags, else scope.projects, else the sandbox's) and
// starts the sandbox for sandboxDir when given; Close stops it.
func newLiveScope(cfg *config.Config, sandboxDir string, projects []string) (*liveScope, error) {
	s := baseScope(cfg, projects)
	if sandboxDir != "" {
		srv, sc, err := startScenario(sandboxDir, "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.useSandbox(srv, sc)
	}
	return s, nil
}

// baseScope is the configured scope, with the projects given on the command line first.
func baseScope(cfg *config.Config, projects []string) *liveScope {
	return &liveScope{
		live:     inventory.LiveConfig{Endpoint: cfg.GCP.Endpoint, Endpoints: cfg.GCP.Endpoints, Concurrency: cfg.GCP.Concurrency},
		projects: cmpOr(projects, cfg.Scope.Projects),
		scope:    cfg.Scope,
	}
}

// newLiveScopeOn is newLiveScope on a sandbox already serving, which Close leaves running.
func newLiveScopeOn(cfg *config.Config, srv *sandbox.Server, sc *sandbox.Scenario, projects []string) *liveScope {
	s := baseScope(cfg, projects)
	s.useSandbox(srv, sc)
	s.borrowed = true
	return s
}

// useSandbox points every endpoint at the sandbox.
func (s *liveScope) useSandbox(srv *sandbox.Server, sc *sandbox.Scenario) {
	s.sandbox, s.scenario = srv, sc
	s.live.Endpoint, s.live.Endpoints = srv.URL(), nil
	s.projects = cmpOr(s.projects, srv.Projects())
}

func cmpOr(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

// Close stops the sandbox, if one was started.
func (s *liveScope) Close() error {
	if s.sandbox == nil || s.borrowed {
		return nil
	}
	return s.sandbox.Close()
}

// source reads the scope live; close releases its clients.
func (s *liveScope) source(ctx context.Context, log *zap.Logger) (src inventory.Source, close func() error, err error) {
	if len(s.projects) == 0 {
		return nil, nil, errors.New("nothing to scan: give --project (or scope.projects in --config) or --sandbox; scan also reads --assets FILE")
	}
	live, err := inventory.NewLive(ctx, s.live, log)
	if err != nil {
		return nil, nil, err
	}
	return &inventory.LiveSource{Live: live, Projects: inScopeProjects(s.scope, s.projects)}, live.Close, nil
}

// inScopeProjects drops the projects the scope excludes by ID before any is read; folder
// entries (and include lists) are applied to the assets once their ancestors are known.
func inScopeProjects(s config.Scope, projects []string) []string {
	var out []string
	for _, p := range projects {
		if !slices.ContainsFunc(s.Exclude, func(e string) bool { return strings.TrimPrefix(e, "projects/") == p }) {
			out = append(out, p)
		}
	}
	return out
}
