package inventory

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// DecodeOptions controls DecodeCAI.
type DecodeOptions struct {
	// Name names the input in errors, e.g. the file's path or "stdin".
	Name string
	// SkipInvalid skips records that cannot be decoded instead of failing; they are counted
	// and the first few are described in DecodeStats.Skipped.
	SkipInvalid bool
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
	br := bufio.NewReaderSize(r, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return DecodeStats{}, &DecodeError{Name: opts.Name, Err: fmt.Errorf("reading gzip header: %w", err)}
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	d := &decoder{opts: opts, fn: fn, ctx: ctx}
	first, skipped, err := firstNonSpace(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return d.stats, nil // an empty export has no assets
		}
		return d.stats, &DecodeError{Name: opts.Name, Err: err}
	}
	if first == '[' {
		err = d.array(br, skipped)
	} else {
		err = d.lines(br, skipped)
	}
	return d.stats, err
}

type decoder struct {
	ctx   context.Context
	opts  DecodeOptions
	fn    func(*Asset) error
	stats DecodeStats
}

// lines decodes JSON lines; blank lines are allowed. skipped is the number of blank lines
// before the first record, already consumed.
func (d *decoder) lines(br *bufio.Reader, skipped int) error {
	var long []byte // holds a line longer than the reader's buffer
	for line := skipped + 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return &DecodeError{Name: d.opts.Name, Line: line, Err: fmt.Errorf("reading: %w", err)}
		}
		if len(bytes.TrimSpace(b)) > 0 {
			if rerr := d.record(b, line); rerr != nil {
				return rerr
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

// array decodes a JSON array of assets; skipped counts the lines before its bracket.
func (d *decoder) array(br *bufio.Reader, skipped int) error {
	lt := &lineTracker{r: br, passed: skipped}
	dec := json.NewDecoder(lt)
	if _, err := dec.Token(); err != nil { // the opening bracket
		return &DecodeError{Name: d.opts.Name, Line: 1, Err: err}
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			// A syntax error leaves the stream unreadable: not skippable.
			// Name the line where the broken record starts: skip the white space and
			// comma between the previous record and this one.
			off := dec.InputOffset()
			if b, rerr := io.ReadAll(io.LimitReader(dec.Buffered(), 1<<16)); rerr == nil {
				off += int64(len(b) - len(bytes.TrimLeft(b, " \t\r\n,")))
			}
			return &DecodeError{Name: d.opts.Name, Line: lt.lineAt(off), Err: err}
		}
		line := lt.lineAt(dec.InputOffset() - int64(len(raw)))
		if err := d.record(raw, line); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return &DecodeError{Name: d.opts.Name, Line: lt.lineAt(dec.InputOffset()), Err: err}
	}
	return nil
}

// record decodes one asset and hands it on; it returns an error only when decoding stops.
func (d *decoder) record(b []byte, line int) error {
	if d.stats.Assets%1024 == 0 {
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	a, err := decodeAsset(b)
	if err != nil {
		derr := &DecodeError{Name: d.opts.Name, Line: line, Err: err}
		if !d.opts.SkipInvalid {
			return derr
		}
		d.stats.SkippedCount++
		if len(d.stats.Skipped) < MaxSkippedDetails {
			d.stats.Skipped = append(d.stats.Skipped, derr)
		}
		return nil
	}
	d.stats.Assets++
	return d.fn(a)
}

// wireAsset accepts both key styles of CAI: snake_case (export) and camelCase (list).
type wireAsset struct {
	Name           string        `json:"name"`
	AssetType      string        `json:"asset_type"`
	AssetTypeCamel string        `json:"assetType"`
	Ancestors      []string      `json:"ancestors"`
	UpdateTime     string        `json:"update_time"`
	UpdateCamel    string        `json:"updateTime"`
	Resource       *wireResource `json:"resource"`
	IAMPolicy      *wirePolicy   `json:"iam_policy"`
	IAMPolicyCamel *wirePolicy   `json:"iamPolicy"`
}

type wireResource struct {
	Version           string          `json:"version"`
	DiscoveryDoc      string          `json:"discovery_document_uri"`
	DiscoveryDocCamel string          `json:"discoveryDocumentUri"`
	DiscoveryName     string          `json:"discovery_name"`
	DiscoveryCamel    string          `json:"discoveryName"`
	Parent            string          `json:"parent"`
	Location          string          `json:"location"`
	Data              json.RawMessage `json:"data"`
}

type wirePolicy struct {
	Version    int               `json:"version"`
	Etag       string            `json:"etag"`
	Bindings   []Binding         `json:"bindings"`
	Audit      []wireAuditConfig `json:"audit_configs"`
	AuditCamel []wireAuditConfig `json:"auditConfigs"`
}

type wireAuditConfig struct {
	Service   string               `json:"service"`
	Logs      []wireAuditLogConfig `json:"audit_log_configs"`
	LogsCamel []wireAuditLogConfig `json:"auditLogConfigs"`
}

type wireAuditLogConfig struct {
	LogType       string   `json:"log_type"`
	LogTypeCamel  string   `json:"logType"`
	Exempted      []string `json:"exempted_members"`
	ExemptedCamel []string `json:"exemptedMembers"`
}

func decodeAsset(b []byte) (*Asset, error) {
	var w wireAsset
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

func (p *wirePolicy) policy() *Policy {
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

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// firstNonSpace peeks at the first byte that is not white space, consuming the white space
// (and a UTF-8 byte order mark) before it, and counts the newlines it consumed.
func firstNonSpace(br *bufio.Reader) (c byte, newlines int, err error) {
	for {
		c, err = br.ReadByte()
		if err != nil {
			return 0, newlines, err
		}
		switch c {
		case '\n':
			newlines++
			continue
		case ' ', '\t', '\r':
			continue
		case 0xEF: // a UTF-8 byte order mark, as some editors write
			if bom, _ := br.Peek(2); bytes.Equal(bom, []byte{0xBB, 0xBF}) {
				_, _ = br.Discard(2)
				continue
			}
		}
		return c, newlines, br.UnreadByte()
	}
}

// lineTracker counts lines in what passes through it, so the array decoder can name the
// line of an offset. It remembers only the newlines the JSON decoder has read ahead of the
// offsets asked about, which keeps its memory bounded by the decoder's buffer.
type lineTracker struct {
	r       io.Reader
	read    int64   // bytes read so far
	pending []int64 // offsets of newlines not yet passed by a query
	passed  int     // newlines before the last queried offset
	lastAsk int64
}

func (t *lineTracker) Read(p []byte) (int, error) {
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
func (t *lineTracker) lineAt(off int64) int {
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
