package inventory

import (
	"context"
	"fmt"
	"io"
	"strconv"
)

// Source produces assets. Problems that leave part of the scope unread are returned as
// SourceErrors; the error is non-nil only when the source could not run at all.
type Source interface {
	// Describe names the source for reports, e.g. "assets.json" or "live: 3 projects".
	Describe() string
	Read(ctx context.Context, fn func(*Asset) error) ([]SourceError, error)
}

// ServiceAssetExport names the CAI export file in SourceErrors of skipped records.
const ServiceAssetExport = "asset-export"

// ExportSource reads a CAI export (see DecodeCAI) from R, named Name in messages.
type ExportSource struct {
	Name        string
	R           io.Reader
	SkipInvalid bool
	// DataTypes, when not nil, are the only asset types whose resource data is kept
	// (DecodeOptions.DataTypes).
	DataTypes []string
	// ViewsOnly keeps the shared typed views without their data (DecodeOptions.ViewsOnly).
	ViewsOnly bool
}

// DataNarrower is a Source that can leave out the resource data of the asset types its
// reader does not look at, and so read faster.
type DataNarrower interface {
	Source
	// NarrowData returns a source that keeps the resource data of types only; the assets
	// of other types come with a nil Resource.Data. With viewsOnly, the reader uses the
	// typed accessors only, and the assets whose shared view was read come with the view
	// and without their data (DecodeOptions.ViewsOnly).
	NarrowData(types []string, viewsOnly bool) Source
}

// NarrowData returns a copy of s that keeps the resource data of types only, and of
// those, with viewsOnly, the shared views without their data.
func (s *ExportSource) NarrowData(types []string, viewsOnly bool) Source {
	n := *s
	n.DataTypes, n.ViewsOnly = types, viewsOnly
	return &n
}

// Describe names the export.
func (s *ExportSource) Describe() string { return s.Name }

// Read streams the export; skipped records (with SkipInvalid) become SourceErrors, of
// which at most MaxSkippedDetails are listed and one more says how many were left out.
func (s *ExportSource) Read(ctx context.Context, fn func(*Asset) error) ([]SourceError, error) {
	st, err := DecodeCAI(ctx, s.R, DecodeOptions{Name: s.Name, SkipInvalid: s.SkipInvalid, DataTypes: s.DataTypes, ViewsOnly: s.ViewsOnly}, fn)
	if err != nil {
		return nil, err
	}
	var errs []SourceError
	for _, d := range st.Skipped {
		errs = append(errs, SourceError{Service: ServiceAssetExport, Resource: s.Name + ":" + strconv.Itoa(d.Line),
			Reason: "skipped", Message: d.Err.Error()})
	}
	if more := st.SkippedCount - len(st.Skipped); more > 0 {
		errs = append(errs, SourceError{Service: ServiceAssetExport, Resource: s.Name, Reason: "skipped",
			Message: fmt.Sprintf("%d more invalid records skipped", more)})
	}
	return errs, nil
}

// LiveSource reads Projects through Live.
type LiveSource struct {
	Live     *Live
	Projects []string
}

// Describe names the scope.
func (s *LiveSource) Describe() string {
	if len(s.Projects) == 1 {
		return "live: project " + s.Projects[0]
	}
	return fmt.Sprintf("live: %d projects", len(s.Projects))
}

// Read scans the projects.
func (s *LiveSource) Read(ctx context.Context, fn func(*Asset) error) ([]SourceError, error) {
	return s.Live.Scan(ctx, s.Projects, fn)
}
