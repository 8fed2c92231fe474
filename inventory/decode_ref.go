package inventory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// This file keeps the encoding/json decoding of CAI records that the fast decoder
// (decode_asset.go) replaces. It is the reference: the fast decoder hands it every record
// it does not accept, so that unusual but valid records decode exactly as before and
// invalid ones fail with the same words; the differential tests compare the two.

// refWireAsset accepts both key styles of CAI: snake_case (export) and camelCase (list).
type refWireAsset struct {
	Name           string           `json:"name"`
	AssetType      string           `json:"asset_type"`
	AssetTypeCamel string           `json:"assetType"`
	Ancestors      []string         `json:"ancestors"`
	UpdateTime     string           `json:"update_time"`
	UpdateCamel    string           `json:"updateTime"`
	Resource       *refWireResource `json:"resource"`
	IAMPolicy      *refWirePolicy   `json:"iam_policy"`
	IAMPolicyCamel *refWirePolicy   `json:"iamPolicy"`
}

type refWireResource struct {
	Version           string          `json:"version"`
	DiscoveryDoc      string          `json:"discovery_document_uri"`
	DiscoveryDocCamel string          `json:"discoveryDocumentUri"`
	DiscoveryName     string          `json:"discovery_name"`
	DiscoveryCamel    string          `json:"discoveryName"`
	Parent            string          `json:"parent"`
	Location          string          `json:"location"`
	Data              json.RawMessage `json:"data"`
}

type refWirePolicy struct {
	Version    int                  `json:"version"`
	Etag       string               `json:"etag"`
	Bindings   []Binding            `json:"bindings"`
	Audit      []refWireAuditConfig `json:"audit_configs"`
	AuditCamel []refWireAuditConfig `json:"auditConfigs"`
}

type refWireAuditConfig struct {
	Service   string                  `json:"service"`
	Logs      []refWireAuditLogConfig `json:"audit_log_configs"`
	LogsCamel []refWireAuditLogConfig `json:"auditLogConfigs"`
}

type refWireAuditLogConfig struct {
	LogType       string   `json:"log_type"`
	LogTypeCamel  string   `json:"logType"`
	Exempted      []string `json:"exempted_members"`
	ExemptedCamel []string `json:"exemptedMembers"`
}

func decodeAssetReference(b []byte) (*Asset, error) {
	var w refWireAsset
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("not a CAI asset: %w", err)
	}
	a := &Asset{
		Name:      w.Name,
		AssetType: first(w.AssetType, w.AssetTypeCamel),
		Ancestors: w.Ancestors,
	}
	if a.Name == "" {
		return nil, errors.New(`asset has no "name"`)
	}
	if a.AssetType == "" {
		return nil, fmt.Errorf(`asset %s has no "asset_type" (or "assetType")`, a.Name)
	}
	if ts := first(w.UpdateTime, w.UpdateCamel); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("asset %s: update_time %q is not an RFC 3339 time", a.Name, ts)
		}
		a.UpdateTime = t
	}
	if r := w.Resource; r != nil {
		if len(r.Data) > 0 && r.Data[0] != '{' && !bytes.Equal(r.Data, []byte("null")) {
			return nil, fmt.Errorf("asset %s: resource.data is not a JSON object", a.Name)
		}
		a.Resource = &Resource{
			Version:              r.Version,
			DiscoveryDocumentURI: first(r.DiscoveryDoc, r.DiscoveryDocCamel),
			DiscoveryName:        first(r.DiscoveryName, r.DiscoveryCamel),
			Parent:               r.Parent,
			Location:             r.Location,
			Data:                 r.Data,
		}
	}
	if p := w.IAMPolicy; p != nil || w.IAMPolicyCamel != nil {
		if p == nil {
			p = w.IAMPolicyCamel
		}
		a.IAMPolicy = p.policy()
	}
	return a, nil
}

func (p *refWirePolicy) policy() *Policy {
	out := &Policy{Version: p.Version, Etag: p.Etag, Bindings: p.Bindings}
	audits := p.Audit
	if audits == nil {
		audits = p.AuditCamel
	}
	for _, ac := range audits {
		c := AuditConfig{Service: ac.Service}
		logs := ac.Logs
		if logs == nil {
			logs = ac.LogsCamel
		}
		for _, l := range logs {
			ex := l.Exempted
			if ex == nil {
				ex = l.ExemptedCamel
			}
			c.AuditLogConfigs = append(c.AuditLogConfigs, AuditLogConfig{LogType: first(l.LogType, l.LogTypeCamel), ExemptedMembers: ex})
		}
		out.AuditConfigs = append(out.AuditConfigs, c)
	}
	return out
}

// skipLeadingSpace peeks at the first byte that is not white space, consuming the white space
// (and a UTF-8 byte order mark) before it, and counts the newlines it consumed.
func skipLeadingSpace(br *bufio.Reader) (c byte, newlines int, err error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, newlines, err
		}
		switch c = b[0]; c {
		case '\n':
			newlines++
		case ' ', '\t', '\r':
		case 0xEF: // a UTF-8 byte order mark, as some editors write
			if bom, _ := br.Peek(3); !bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
				return c, newlines, nil
			}
			_, _ = br.Discard(2) // and the byte itself below
		default:
			return c, newlines, nil
		}
		_, _ = br.Discard(1)
	}
}

// refLineTracker counts lines in what passes through it, so the array decoder can name the
// line of an offset. It remembers only the newlines the JSON decoder has read ahead of the
// offsets asked about, which keeps its memory bounded by the decoder's buffer.
type refLineTracker struct {
	r       io.Reader
	read    int64   // bytes read so far
	pending []int64 // offsets of newlines not yet passed by a query
	passed  int     // newlines before the last queried offset
	lastAsk int64
}

func (t *refLineTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			t.pending = append(t.pending, t.read+int64(i))
		}
	}
	t.read += int64(n)
	return n, err
}

// lineAt returns the 1-based line of offset off; offsets must not decrease between calls.
func (t *refLineTracker) lineAt(off int64) int {
	if off < t.lastAsk {
		off = t.lastAsk
	}
	t.lastAsk = off
	i := 0
	for i < len(t.pending) && t.pending[i] < off {
		i++
	}
	t.passed += i
	t.pending = t.pending[i:]
	return t.passed + 1
}
