package events

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// Prior asset states of a feed message, as CAI names them.
const (
	PriorPresent      = "PRESENT"
	PriorDoesNotExist = "DOES_NOT_EXIST"
	PriorDeleted      = "DELETED"
	PriorInvalid      = "INVALID"
)

// Change is one message of a Cloud Asset Inventory feed: an asset's change.
type Change struct {
	// Asset is the asset as the change left it; for a deletion, as it was last.
	Asset *inventory.Asset
	// Prior is the asset before the change, when the feed carries it.
	Prior *inventory.Asset
	// PriorState is PRESENT, DOES_NOT_EXIST, DELETED or INVALID ("" when not given).
	PriorState string
	// Deleted says the change deleted the asset.
	Deleted bool
	// Time is when the change happened: the window's start, else the asset's update time;
	// zero when the message gives neither.
	Time time.Time
	// Content is what the message carries of the asset, as a feed's content type names it:
	// RESOURCE, IAM_POLICY or both (RESOURCE+IAM_POLICY). Feeds of different content types
	// report the same change of one asset in separate messages: each is its own change.
	Content string
	// Key identifies the change: the asset's name, Content and Time, or a digest of the
	// message when it has no time. Deliveries of one change share it.
	Key string
}

// stream names the sequence of changes a change belongs to: one asset's, for one content.
func (c *Change) stream() string { return c.Asset.Name + "|" + c.Content }

// contentOf names what an asset carries.
func contentOf(a *inventory.Asset) string {
	switch {
	case a.Resource != nil && a.IAMPolicy != nil:
		return "RESOURCE+IAM_POLICY"
	case a.IAMPolicy != nil:
		return "IAM_POLICY"
	case a.Resource != nil:
		return "RESOURCE"
	}
	return "NONE"
}

// wireTemporalAsset is a TemporalAsset (google.cloud.asset.v1) as a feed publishes it: JSON
// with camelCase keys; snake_case keys are accepted too.
type wireTemporalAsset struct {
	Asset           json.RawMessage `json:"asset"`
	PriorAsset      json.RawMessage `json:"priorAsset"`
	PriorAssetSnake json.RawMessage `json:"prior_asset"`
	PriorState      string          `json:"priorAssetState"`
	PriorStateSnake string          `json:"prior_asset_state"`
	Window          *struct {
		StartTime      string `json:"startTime"`
		StartTimeSnake string `json:"start_time"`
	} `json:"window"`
	Deleted bool `json:"deleted"`
}

// Decode reads one feed message. The assets in it are decoded as inventory decodes a CAI
// record, so rules see the same model as in a scan.
func Decode(data []byte) (*Change, error) {
	var w wireTemporalAsset
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("not a feed message (TemporalAsset JSON): %w", err)
	}
	asset, err := decodeAsset(w.Asset)
	if err != nil {
		return nil, fmt.Errorf("decoding the message's asset: %w", err)
	}
	if asset == nil {
		return nil, errors.New(`the feed message has no "asset"`)
	}
	prior := w.PriorAsset
	if len(prior) == 0 {
		prior = w.PriorAssetSnake
	}
	c := &Change{Asset: asset, PriorState: first(w.PriorState, w.PriorStateSnake), Deleted: w.Deleted}
	if c.Prior, err = decodeAsset(prior); err != nil {
		return nil, fmt.Errorf("decoding the message's prior asset: %w", err)
	}
	if w.Window != nil {
		if ts := first(w.Window.StartTime, w.Window.StartTimeSnake); ts != "" {
			if c.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
				return nil, fmt.Errorf("the message's window.startTime %q is not an RFC 3339 time", ts)
			}
		}
	}
	if c.Time.IsZero() {
		c.Time = asset.UpdateTime
	}
	c.Time = c.Time.UTC()
	c.Content = contentOf(asset)
	if c.Time.IsZero() {
		sum := sha256.Sum256(data)
		c.Key = c.stream() + "#" + hex.EncodeToString(sum[:12])
	} else {
		c.Key = c.stream() + "@" + c.Time.Format(time.RFC3339Nano)
	}
	return c, nil
}

// decodeAsset decodes one CAI asset through inventory's decoder; nil for an absent one.
func decodeAsset(raw json.RawMessage) (*inventory.Asset, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	// One record on one line, as the decoder reads JSON lines.
	var line bytes.Buffer
	if err := json.Compact(&line, raw); err != nil {
		return nil, err
	}
	var got *inventory.Asset
	_, err := inventory.DecodeCAI(context.Background(), &line, inventory.DecodeOptions{Name: "feed message"}, func(a *inventory.Asset) error {
		if got != nil {
			return errors.New("more than one asset")
		}
		got = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, errors.New("no asset")
	}
	return got, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
