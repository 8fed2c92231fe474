package inventory

import (
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/term"
)

// ProgressOptions configure a ProgressReporter.
type ProgressOptions struct {
	// Terminal says whether the writer is a terminal; nil detects it (an *os.File, or any
	// writer with an Fd, that is a terminal).
	Terminal *bool
	// Interval is the time between log lines when the writer is not a terminal; 0 means 10s.
	Interval time.Duration
}

// redrawEvery is how often a terminal line is redrawn, at most.
const redrawEvery = 100 * time.Millisecond

// ProgressReporter shows how a scan goes: the projects read of those in the scan, the
// assets read and the findings. On a terminal it keeps one line up to date, redrawn in
// place at most every 100ms; otherwise it logs one line every Interval, so that a scan
// that stalls shows it. Projects fits LiveConfig.Progress; Findings is for whoever
// evaluates the assets. It is safe for concurrent use; Close it when the scan ends.
type ProgressReporter struct {
	w        io.Writer
	log      *zap.Logger
	terminal bool
	start    time.Time

	mu                            sync.Mutex
	done, total, assets, findings int
	dirty                         bool

	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// NewProgressReporter starts reporting to w (a terminal) or log (anything else).
func NewProgressReporter(w io.Writer, log *zap.Logger, opts ProgressOptions) *ProgressReporter {
	if log == nil {
		log = zap.NewNop()
	}
	p := &ProgressReporter{w: w, log: log, start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	if opts.Terminal != nil {
		p.terminal = *opts.Terminal
	} else if f, ok := w.(interface{ Fd() uintptr }); ok {
		p.terminal = term.IsTerminal(int(f.Fd()))
	}
	every := opts.Interval
	if every <= 0 {
		every = 10 * time.Second
	}
	if p.terminal {
		every = redrawEvery
	}
	go p.run(every)
	return p
}

// Projects records that done projects of total have been read, with assets assets so far.
func (p *ProgressReporter) Projects(done, total, assets int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total, p.assets, p.dirty = done, total, assets, true
}

// Findings adds n findings.
func (p *ProgressReporter) Findings(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.findings += n
	p.dirty = true
}

// Close shows the last state (ending the terminal line) and stops reporting. Later calls do
// nothing.
func (p *ProgressReporter) Close() {
	p.once.Do(func() {
		close(p.stop)
		<-p.stopped
		p.report(true)
	})
}

func (p *ProgressReporter) run(every time.Duration) {
	defer close(p.stopped)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-ticker.C:
			p.report(false)
		}
	}
}

// report draws the terminal line when something changed, or logs the state.
func (p *ProgressReporter) report(final bool) {
	p.mu.Lock()
	done, total, assets, findings, dirty := p.done, p.total, p.assets, p.findings, p.dirty
	p.dirty = false
	p.mu.Unlock()
	elapsed := time.Since(p.start)
	if !p.terminal {
		msg := "scan progress"
		if final {
			msg = "scan finished"
		}
		p.log.Info(msg, zap.Int("projectsDone", done), zap.Int("projectsTotal", total), zap.Int("assets", assets),
			zap.Int("findings", findings), zap.Duration("elapsed", elapsed.Round(time.Second)))
		return
	}
	if !dirty && !final {
		return
	}
	line := fmt.Sprintf("\r\x1b[2Kprojects %d/%d%s | assets %d | findings %d | %s", done, total, percent(done, total),
		assets, findings, elapsed.Round(100*time.Millisecond))
	if !final && done > 0 && done < total {
		eta := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		line += " | ETA " + eta.Round(time.Second).String()
	}
	if final {
		line += "\n"
	}
	// A terminal that cannot be written to has nowhere to say so.
	_, _ = io.WriteString(p.w, line)
}

func percent(done, total int) string {
	if total == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d%%)", done*100/total)
}
