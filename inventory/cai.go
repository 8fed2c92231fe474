package inventory

import (
	"context"
	"fmt"
	"io"
)

// DecodeOptions controls DecodeCAI.
type DecodeOptions struct {
	// Name names the input in errors, e.g. the file's path or "stdin".
	Name string
	// SkipInvalid skips records that cannot be decoded instead of failing; they are counted
	// and the first few are described in DecodeStats.Skipped.
	SkipInvalid bool
	// DataTypes, when not nil, are the asset types whose resource data the caller reads.
	// The data of other assets is still checked (a record with malformed data is an error)
	// but not kept: their Resource.Data is nil. A scan that reads only some types saves
	// copying the rest, more than half of a typical export.
	DataTypes []string
	// ViewsOnly hands on the views several rules share (firewalls, instances, subnetworks,
	// compute projects), read as the record is decoded, without the data they were read
	// from: such an asset's Resource.Data is nil and its typed accessor returns the view.
	// For a caller that reads those assets through the typed accessors only; it saves
	// keeping a copy of most of the export. Data the views cannot read is kept as usual.
	ViewsOnly bool
}

// DecodeStats says what DecodeCAI read.
type DecodeStats struct {
	// Assets is the number of assets handed to the callback.
	Assets int
	// SkippedCount is the number of invalid records skipped (only with SkipInvalid).
	SkippedCount int
	// Skipped describes the first MaxSkippedDetails skipped records.
	Skipped []*DecodeError
}

// MaxSkippedDetails bounds DecodeStats.Skipped, so memory does not grow with a bad file.
const MaxSkippedDetails = 100

// DecodeError is a record of a CAI export that could not be decoded.
type DecodeError struct {
	Name string // the input, as given in DecodeOptions.Name
	Line int    // 1-based line where the record starts; 0 when unknown
	Err  error
}

func (e *DecodeError) Error() string {
	name := e.Name
	if name == "" {
		name = "assets"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", name, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// DecodeCAI streams the assets of a Cloud Asset Inventory export to fn, one at a time, so
// memory does not grow with the input. It accepts:
//   - the JSON-lines file `gcloud asset export` writes to Cloud Storage (snake_case keys), and
//   - the JSON array `gcloud asset list --format=json` prints (camelCase keys),
//
// with either key style in either container, optionally gzip-compressed. Assets without
// ancestors or update time are fine. fn may retain the asset it is given. A record that is
// not a valid asset is an error naming its line, unless opts.SkipInvalid.
func DecodeCAI(ctx context.Context, r io.Reader, opts DecodeOptions, fn func(*Asset) error) (DecodeStats, error) {
	return decodeCAI(ctx, r, opts, fn)
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
