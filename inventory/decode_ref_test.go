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
)

// decodeCAIReference is DecodeCAI as it was before the fast decoder: every record parsed by
// encoding/json (decodeAssetReference), arrays read with json.Decoder. The differential
// tests hold the fast decoder to it.
func decodeCAIReference(ctx context.Context, r io.Reader, opts DecodeOptions, fn func(*Asset) error) (DecodeStats, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return DecodeStats{}, &DecodeError{Name: opts.Name, Err: fmt.Errorf("reading gzip header: %w", err)}
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	d := &refStream{opts: opts, fn: fn, ctx: ctx}
	first, skipped, err := skipLeadingSpace(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return d.stats, nil
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

type refStream struct {
	ctx   context.Context
	opts  DecodeOptions
	fn    func(*Asset) error
	stats DecodeStats
}

func (d *refStream) lines(br *bufio.Reader, skipped int) error {
	var long []byte
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
		if err != nil {
			return nil
		}
	}
}

func (d *refStream) array(br *bufio.Reader, skipped int) error {
	lt := &refLineTracker{r: br, passed: skipped}
	dec := json.NewDecoder(lt)
	if _, err := dec.Token(); err != nil {
		return &DecodeError{Name: d.opts.Name, Line: 1, Err: err}
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
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
	if _, err := dec.Token(); err != nil {
		return &DecodeError{Name: d.opts.Name, Line: lt.lineAt(dec.InputOffset()), Err: err}
	}
	return nil
}

func (d *refStream) record(b []byte, line int) error {
	if d.stats.Assets%1024 == 0 {
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	a, err := decodeAssetReference(b)
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
