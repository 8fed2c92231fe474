package events

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// verdict is what the newest change handled per asset says of a change.
type verdict int

const (
	fresh     verdict = iota // newer than any change of the asset handled
	duplicate                // the change handled last
	stale                    // older than a change of the asset already handled
)

// seen remembers, for the assets whose changes were handled most recently, the time of the
// newest change handled (per asset and content: see Change.stream). It is bounded: an asset it forgot is judged again, which is safe,
// since the ledger dedupes a change already decided and the engine re-reads a resource
// from its own API before it changes anything.
type seen struct {
	max int

	mu    sync.Mutex
	order *list.List // of *seenEntry, most recently handled first
	byKey map[string]*list.Element
}

type seenEntry struct {
	name string
	at   time.Time
}

func newSeen(max int) *seen {
	return &seen{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

// verdict judges a change of asset name at t; a change without a time is always fresh.
func (s *seen) verdict(name string, t time.Time) verdict {
	if t.IsZero() {
		return fresh
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byKey[name]
	if !ok {
		return fresh
	}
	switch at := el.Value.(*seenEntry).at; {
	case t.Before(at):
		return stale
	case t.Equal(at):
		return duplicate
	}
	return fresh
}

// record notes that the change of asset name at t was handled.
func (s *seen) record(name string, t time.Time) {
	if t.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byKey[name]; ok {
		if e := el.Value.(*seenEntry); t.After(e.at) {
			e.at = t
		}
		s.order.MoveToFront(el)
		return
	}
	s.byKey[name] = s.order.PushFront(&seenEntry{name: name, at: t})
	for s.order.Len() > s.max {
		old := s.order.Back()
		s.order.Remove(old)
		delete(s.byKey, old.Value.(*seenEntry).name)
	}
}

// assetLocks serialises the handling of one asset's changes in this process, so that the
// newest-change check and the handling happen as one.
type assetLocks struct {
	mu sync.Mutex
	m  map[string]*assetLock
}

type assetLock struct {
	ch   chan struct{} // holds a token while the lock is held
	refs int
}

func newAssetLocks() *assetLocks { return &assetLocks{m: map[string]*assetLock{}} }

// lock waits for the lock of asset name, or for ctx.
func (l *assetLocks) lock(ctx context.Context, name string) (func(), error) {
	l.mu.Lock()
	al := l.m[name]
	if al == nil {
		al = &assetLock{ch: make(chan struct{}, 1)}
		l.m[name] = al
	}
	al.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if al.refs--; al.refs == 0 {
			delete(l.m, name)
		}
		l.mu.Unlock()
	}
	select {
	case al.ch <- struct{}{}:
		return func() { <-al.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, fmt.Errorf("waiting for another change of %s to be handled: %w", name, ctx.Err())
	}
}
