package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/sandbox"
	"github.com/zerodrift/zerodrift/scan"
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
	// cai are the Cloud Asset Inventory parents read instead of projects one by one
	// (organizations/N, folders/N). assetTypes are the asset types the enabled rules read:
	// what the CAI sources list and what the live source reads of each project.
	cai        []string
	assetTypes []string
	// export, gs://BUCKET/PREFIX, makes the parents read through ExportAssets to that folder
	// instead of ListAssets (--export-to, else scope.export); "" for ListAssets.
	export string
	// shard, of shards, is the part of the projects this process reads (--shard i/n).
	shard, shards int
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

// baseScope is the configured scope, with the projects given on the command line first:
// --project reads those projects even when the configuration names an organization.
func baseScope(cfg *config.Config, projects []string) *liveScope {
	s := &liveScope{
		live:       inventory.LiveConfig{Endpoint: cfg.GCP.Endpoint, Endpoints: cfg.GCP.Endpoints, Concurrency: cfg.GCP.Concurrency},
		projects:   cmpOr(projects, cfg.Scope.Projects),
		scope:      cfg.Scope,
		assetTypes: scan.New(scan.Options{Rules: cfg.Rules()}).AssetTypes(),
		export:     cfg.Scope.Export,
	}
	if len(projects) == 0 {
		s.cai = caiParents(cfg.Scope.Organization, cfg.Scope.Folders)
	}
	return s
}

// caiParents names the Cloud Asset Inventory parents of an organization and folders, given
// as numbers or as organizations/N, folders/N.
func caiParents(org string, folders []string) []string {
	var out []string
	if org != "" {
		out = append(out, "organizations/"+strings.TrimPrefix(org, "organizations/"))
	}
	for _, f := range folders {
		out = append(out, "folders/"+strings.TrimPrefix(f, "folders/"))
	}
	return out
}

// useShard keeps only the projects of shard i of n (--shard i/n, "" for all): a stable
// partition, so n pods of an Indexed Job read each project once between them.
func (s *liveScope) useShard(spec string) error {
	if spec == "" {
		return nil
	}
	i, n, err := inventory.ParseShard(spec)
	if err != nil {
		return fmt.Errorf("--shard: %w", err)
	}
	s.shard, s.shards = i, n
	return nil
}

// useQPS sets per-service QPS limits from --qps service=N flags over gcp.qps.
func (s *liveScope) useQPS(cfg map[string]float64, flags []string) error {
	qps := maps.Clone(cfg)
	for _, f := range flags {
		svc, val, ok := strings.Cut(f, "=")
		n, err := strconv.ParseFloat(val, 64)
		if !ok || svc == "" || err != nil || n <= 0 {
			return fmt.Errorf("--qps: %q is not SERVICE=REQUESTS_PER_SECOND, e.g. cloudresourcemanager=100", f)
		}
		if qps == nil {
			qps = map[string]float64{}
		}
		qps[svc] = n
	}
	s.live.QPS = qps
	return nil
}

// readOrgWide makes the scope read through Cloud Asset Inventory: --organization and
// --folder replace the configured scope.organization and scope.folders.
func (s *liveScope) readOrgWide(org string, folders []string) error {
	if org == "" && len(folders) == 0 {
		return nil
	}
	for _, id := range append([]string{strings.TrimPrefix(org, "organizations/")}, folders...) {
		if id = strings.TrimPrefix(id, "folders/"); id != "" && !isDigits(id) {
			return fmt.Errorf("--organization/--folder: %q is not a number (organizations/123, folders/456 or just the number)", id)
		}
	}
	s.cai = caiParents(org, folders)
	return nil
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// exportToUsage describes --export-to, on scan and run.
const exportToUsage = "read --organization/--folder through Cloud Asset Inventory ExportAssets to this Cloud Storage folder, " +
	"gs://BUCKET/PREFIX, each export streamed back then deleted (default scope.export; else ListAssets)"

// exportTo makes the organization and folders read through Cloud Asset Inventory
// ExportAssets to dest (--export-to, over scope.export); "" keeps the configured way. Call
// it after readOrgWide.
func (s *liveScope) exportTo(dest string) error {
	if dest == "" {
		return nil
	}
	if _, err := inventory.ParseExportDestination(dest); err != nil {
		return fmt.Errorf("--export-to: %w", err)
	}
	if len(s.cai) == 0 {
		return errors.New("--export-to exports an organization or folders through Cloud Asset Inventory: " +
			"give --organization or --folder (or scope.organization or scope.folders in --config)")
	}
	s.export = dest
	return nil
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

// source reads the scope live: through Cloud Asset Inventory when an organization or folders
// are the scope (ListAssets, or ExportAssets to Cloud Storage), else project by project,
// either way only the asset types the enabled rules read; close releases its clients.
func (s *liveScope) source(ctx context.Context, log *zap.Logger) (src inventory.Source, close func() error, err error) {
	if len(s.cai) > 0 {
		m, err := s.caiSources(ctx, log)
		if err != nil {
			return nil, nil, err
		}
		var src inventory.Source = m
		if len(m.Sources) == 1 {
			src = m.Sources[0]
		}
		if s.shards > 1 {
			src = &shardSource{Source: src, shard: s.shard, shards: s.shards}
		}
		return src, func() error { return nil }, nil
	}
	if len(s.projects) == 0 {
		return nil, nil, errors.New("nothing to scan: give --project (or scope.projects in --config) or --sandbox; scan also reads --assets FILE")
	}
	// Project by project, as through Cloud Asset Inventory, only what the enabled rules read
	// is asked for. Projects (their IAM policies and ancestry) are always read; with no
	// enabled rule reading anything they are all that is, rather than everything.
	lc := s.live
	lc.AssetTypes = cmpOr(s.assetTypes, []string{inventory.TypeProject})
	live, err := inventory.NewLive(ctx, lc, log)
	if err != nil {
		return nil, nil, err
	}
	projects := inScopeProjects(s.scope, s.projects)
	if s.shards > 1 {
		// Each shard reads its own projects and the folders and organization above them,
		// which a folder's projects in other shards read too: the ledger's resource lock
		// keeps two shards from changing one folder's policy at once.
		projects = inventory.Shard(projects, s.shard, s.shards)
	}
	return &inventory.LiveSource{Live: live, Projects: projects}, live.Close, nil
}

// caiSources reads each Cloud Asset Inventory parent, listed or exported.
func (s *liveScope) caiSources(ctx context.Context, log *zap.Logger) (*inventory.MultiSource, error) {
	c, err := inventory.NewCAI(ctx, inventory.CAIConfig{
		Endpoint:      cmp.Or(s.live.Endpoints[inventory.ServiceCloudAsset], s.live.Endpoint),
		ClientOptions: s.live.ClientOptions, WrapTransport: s.live.WrapTransport,
	}, log)
	if err != nil {
		return nil, err
	}
	m := &inventory.MultiSource{}
	if s.export == "" {
		for _, parent := range s.cai {
			m.Sources = append(m.Sources, &inventory.CAISource{CAI: c, Scope: parent, AssetTypes: s.assetTypes})
		}
		return m, nil
	}
	dest, err := inventory.ParseExportDestination(s.export)
	if err != nil {
		return nil, fmt.Errorf("scope.export: %w", err)
	}
	exp, err := inventory.NewCAIExporter(ctx, c, inventory.CAIExportConfig{Destination: dest,
		StorageEndpoint: cmp.Or(s.live.Endpoints[inventory.ServiceStorage], s.live.Endpoint)}, log)
	if err != nil {
		return nil, err
	}
	for _, parent := range s.cai {
		m.Sources = append(m.Sources, &inventory.CAIExportSource{Exporter: exp, Scope: parent, AssetTypes: s.assetTypes})
	}
	return m, nil
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

// shardSource keeps the assets of the projects of one shard, out of a source that reads
// them all (Cloud Asset Inventory). Those above every project (folders, the organization)
// belong to shard 0: a finding on a folder is decided, and fixed, by one run rather than
// by n at once. The other shards still see them as context (inventory.Asset.Context): the
// rules that judge a project with its ancestors (audit logging) need their policies.
type shardSource struct {
	inventory.Source
	shard, shards int
}

func (s *shardSource) Describe() string {
	return fmt.Sprintf("%s, shard %d/%d", s.Source.Describe(), s.shard, s.shards)
}

func (s *shardSource) Read(ctx context.Context, fn func(*inventory.Asset) error) ([]inventory.SourceError, error) {
	return s.Source.Read(ctx, func(a *inventory.Asset) error {
		p := a.Project()
		if p == "" && s.shard != 0 {
			c := *a
			c.Context = true
			return fn(&c)
		}
		if p != "" && inventory.ShardOf(p, s.shards) != s.shard {
			return nil
		}
		return fn(a)
	})
}
