package inventory

import (
	"context"
	"strings"
)

// MultiSource reads several sources in turn (Cloud Asset Inventory over several folders,
// say), handing each asset on once: scopes that overlap (a folder inside another) do not
// double its findings.
type MultiSource struct {
	Sources []Source
}

// Describe names the sources.
func (m *MultiSource) Describe() string {
	names := make([]string, len(m.Sources))
	for i, s := range m.Sources {
		names[i] = s.Describe()
	}
	return strings.Join(names, "; ")
}

// Read reads every source; the source errors of all are returned together.
func (m *MultiSource) Read(ctx context.Context, fn func(*Asset) error) ([]SourceError, error) {
	seen := map[string]bool{}
	var errs []SourceError
	for _, s := range m.Sources {
		serrs, err := s.Read(ctx, func(a *Asset) error {
			key := a.AssetType + "\x00" + a.Name
			if seen[key] {
				return nil
			}
			seen[key] = true
			return fn(a)
		})
		errs = append(errs, serrs...)
		if err != nil {
			return errs, err
		}
	}
	return errs, nil
}
