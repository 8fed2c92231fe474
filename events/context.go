package events

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// DefaultProjectTTL is how long ProjectContext keeps a project it read.
const DefaultProjectTTL = 5 * time.Minute

// ProjectContext gives each event its project as context (its labels, which may exempt
// the whole project, and its number), read through Read and kept for TTL. A Project
// asset's own events refresh it. Its Context method is a ContextFunc.
type ProjectContext struct {
	// Read reads a project (by ID, or projects/NUMBER as Asset.Project names a project
	// known only by number) as a CAI asset; (nil, nil) when it does not exist.
	Read func(ctx context.Context, project string) (*inventory.Asset, error)
	// TTL is how long a project read is kept (DefaultProjectTTL when zero).
	TTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedProject
}

type cachedProject struct {
	asset *inventory.Asset
	at    time.Time
}

func (p *ProjectContext) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Context returns the asset's project; nothing for a project (it is its own context), a
// folder or an organization.
func (p *ProjectContext) Context(ctx context.Context, a *inventory.Asset) ([]*inventory.Asset, error) {
	project := a.Project()
	if project == "" {
		return nil, nil
	}
	now := p.now()
	p.mu.Lock()
	if p.cache == nil {
		p.cache = map[string]cachedProject{}
	}
	if a.AssetType == inventory.TypeProject {
		p.cache[project] = cachedProject{asset: a, at: now}
		p.mu.Unlock()
		return nil, nil
	}
	c, ok := p.cache[project]
	p.mu.Unlock()
	if ok && now.Sub(c.at) < orDefault(p.TTL, DefaultProjectTTL) {
		return nonNil(c.asset), nil
	}
	if p.Read == nil {
		return nil, nil
	}
	got, err := p.Read(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("reading project %s: %w", project, err)
	}
	p.mu.Lock()
	p.cache[project] = cachedProject{asset: got, at: now}
	p.mu.Unlock()
	return nonNil(got), nil
}

func nonNil(a *inventory.Asset) []*inventory.Asset {
	if a == nil {
		return nil
	}
	return []*inventory.Asset{a}
}
