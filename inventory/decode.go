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
	"strings"
	"sync"
	"sync/atomic"
)

// decodeCAI implements DecodeCAI with the fast decoder of decode_asset.go. It reads the
// input as the encoding/json decoder before it did, with the same results and errors:
// records the fast decoder does not accept go to decodeAssetReference, and an array whose
// framing it cannot follow (a syntax error, a read error) is handed, from the last record
// read on, to the encoding/json array reader, which words the error as before.
func decodeCAI(ctx context.Context, r io.Reader, opts DecodeOptions, fn func(*Asset) error) (DecodeStats, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return DecodeStats{}, &DecodeError{Name: opts.Name, Err: fmt.Errorf("reading gzip header: %w", err)}
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	d := &streamDecoder{opts: opts, fn: fn, ctx: ctx, fast: getFastDecoder()}
	defer putFastDecoder(d.fast)
	d.fast.dataTypes, d.fast.viewsOnly = nil, opts.ViewsOnly
	if opts.DataTypes != nil {
		d.fast.dataTypes = make(map[string]bool, len(opts.DataTypes))
		for _, t := range opts.DataTypes {
			d.fast.dataTypes[t] = true
		}
	}
	first, skipped, err := skipLeadingSpace(br)
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

// spareDecoder keeps one fast decoder, with its interner and caches (which make its value),
// between uses: the typed views decode resource.data on every rule that reads it. A
// sync.Pool alone would not do: the collector empties it every few milliseconds at the
// allocation rates of a scan. The pool serves concurrent users beyond the first.
var (
	spareDecoder atomic.Pointer[fastDecoder]
	moreDecoders = sync.Pool{New: func() any { return &fastDecoder{in: new(interner)} }}
)

func getFastDecoder() *fastDecoder {
	if f := spareDecoder.Swap(nil); f != nil {
		return f
	}
	return moreDecoders.Get().(*fastDecoder)
}

func putFastDecoder(f *fastDecoder) {
	if cap(f.buf) > 1<<20 {
		f.buf = nil // do not keep what one huge string needed
	}
	if !spareDecoder.CompareAndSwap(nil, f) {
		moreDecoders.Put(f)
	}
}

type streamDecoder struct {
	ctx   context.Context
	opts  DecodeOptions
	fn    func(*Asset) error
	stats DecodeStats
	fast  *fastDecoder
}

// lines decodes JSON lines; blank lines are allowed. skipped is the number of blank lines
// before the first record, already consumed.
func (d *streamDecoder) lines(br *bufio.Reader, skipped int) error {
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
		if (len(b) > 0 && b[0] == '{') || len(bytes.TrimSpace(b)) > 0 {
			if rerr := d.record(b, line); rerr != nil {
				return rerr
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

// record decodes one complete record and hands it on; it returns an error only when
// decoding stops.
func (d *streamDecoder) record(b []byte, line int) error {
	if err := d.checkContext(); err != nil {
		return err
	}
	a, end, ok := d.fast.asset(b, 0)
	if ok && skipSpace(b, end) == len(b) {
		return d.deliver(a, nil, line)
	}
	a, err := decodeAssetReference(b)
	return d.deliver(a, err, line)
}

// checkContext returns the context's error, looking at it once every 1024 assets.
func (d *streamDecoder) checkContext() error {
	if d.stats.Assets%1024 == 0 {
		return d.ctx.Err()
	}
	return nil
}

// deliver hands on a decoded asset, or counts the record as skipped.
func (d *streamDecoder) deliver(a *Asset, err error, line int) error {
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

// arrayWindow holds the part of an array being decoded: buf[:len(buf)] has been read from
// r; err is the error that ended reading (io.EOF at the end of the input).
type arrayWindow struct {
	r   io.Reader
	buf []byte
	err error
}

const (
	arrayWindowSize = 512 << 10
	// arrayLookahead is how much input the window holds past the start of a record
	// before the record is decoded, unless the input ends first.
	arrayLookahead = 64 << 10
)

// more drops buf[:keep] and reads more input after what remains: up to arrayLookahead
// bytes, or less when the input ends or the window is full (it grows when it has less
// room than that). It returns false when nothing more was read (w.err is set).
func (w *arrayWindow) more(keep int) bool {
	if keep > 0 {
		w.buf = w.buf[:copy(w.buf, w.buf[keep:])]
	}
	if w.err != nil {
		return false
	}
	if cap(w.buf)-len(w.buf) < arrayLookahead {
		w.buf = append(w.buf[:cap(w.buf)], make([]byte, cap(w.buf))...)[:len(w.buf)]
	}
	read := 0
	for read < arrayLookahead && len(w.buf) < cap(w.buf) {
		m, err := w.r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+m]
		read += m
		if err != nil {
			w.err = err
			break
		}
	}
	return read > 0
}

// array decodes a JSON array of assets; br is at its opening bracket and skipped counts
// the lines before it.
func (d *streamDecoder) array(br *bufio.Reader, skipped int) error {
	w := &arrayWindow{r: br, buf: make([]byte, 0, arrayWindowSize)}
	w.more(0)
	var (
		pos        = 1     // the next byte to read, after the bracket
		prevEnd    = 1     // where the last record read ends (or the bracket)
		records    = 0     // records read
		needComma  = false // whether a comma must come before the next record
		afterComma = false // whether a comma was just read, so a record must follow
		lines      = lineCounter{line: skipped + 1}
	)
	// refill reads more input, keeping what the replay and the line count need; it
	// moves the indices into the window along.
	refill := func() bool {
		keep := min(prevEnd, lines.pos)
		ok := w.more(keep)
		pos -= keep
		prevEnd -= keep
		lines.pos -= keep
		return ok
	}
	for {
		i := skipSpace(w.buf, pos)
		if i >= len(w.buf) {
			if refill() {
				continue
			}
			return d.replay(w, prevEnd, records, &lines)
		}
		if w.buf[i] == ']' && !afterComma {
			return nil // the closing bracket; what follows it is not read
		}
		if needComma {
			if w.buf[i] != ',' {
				return d.replay(w, prevEnd, records, &lines)
			}
			needComma, afterComma = false, true
			pos = i + 1
			continue
		}
		if len(w.buf)-i < arrayLookahead && w.err == nil {
			// Read ahead so that the record is likely complete in the window.
			pos = i
			refill()
			continue
		}
		if err := d.checkContext(); err != nil {
			return err
		}
		a, end, ok := d.fast.asset(w.buf, i)
		var err error
		if !ok {
			end = skipValue(w.buf, i)
			if (end == scanShort || end == len(w.buf)) && w.err == nil {
				// The record does not fit in the window (a number at its end may go on):
				// read on and start it again.
				pos = i
				refill()
				continue
			}
			if end < 0 {
				return d.replay(w, prevEnd, records, &lines)
			}
			a, err = decodeAssetReference(w.buf[i:end])
		}
		if derr := d.deliver(a, err, lines.at(w.buf, i)); derr != nil {
			return derr
		}
		records++
		pos, prevEnd, needComma, afterComma = end, end, true, false
	}
}

// lineCounter names the line of a position in the window: line is the line of buf[pos].
type lineCounter struct {
	line, pos int
}

// at returns the line of buf[i], for i at or after the previous position asked about.
func (l *lineCounter) at(buf []byte, i int) int {
	l.line += bytes.Count(buf[l.pos:i], []byte{'\n'})
	l.pos = i
	return l.line
}

// replay decodes the rest of an array with encoding/json's stream decoder, as the
// decoder before this one did, from buf[from] on: just after the bracket (records == 0)
// or just after the last record read. It gives the same results and words errors the
// same way, naming lines through the same line tracker.
func (d *streamDecoder) replay(w *arrayWindow, from, records int, lines *lineCounter) error {
	// The newlines before buf[from], as the tracker counts them.
	passed := lines.at(w.buf, from) - 1
	prefix := "["
	if records > 0 {
		// A stand-in for the records already read, so that a comma is expected next; an
		// empty array ends at its bracket, whatever follows it.
		prefix = "[[]"
	}
	rest := []io.Reader{strings.NewReader(prefix), bytes.NewReader(w.buf[from:])}
	switch {
	case w.err == nil:
		rest = append(rest, w.r)
	case !errors.Is(w.err, io.EOF):
		rest = append(rest, errReader{w.err})
	}
	lt := &refLineTracker{r: io.MultiReader(rest...), passed: passed}
	dec := json.NewDecoder(lt)
	if _, err := dec.Token(); err != nil { // the opening bracket
		return &DecodeError{Name: d.opts.Name, Line: 1, Err: err}
	}
	standIn := records > 0
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
		if standIn {
			standIn = false
			continue
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

// errReader returns err, as the input did when it could not be read further.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
