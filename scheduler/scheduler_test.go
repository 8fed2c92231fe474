package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap/zaptest"

	"github.com/zerodrift/zerodrift/config"
)

// fakeClock is a Clock that moves only when the test advances it. The loop waits on one
// timer at a time, so a new After abandons the previous one.
type fakeClock struct {
	mu        sync.Mutex
	now       time.Time
	waiter    *waiter
	lastAfter time.Time // wall time of the last After, to tell when the loop has settled
	calls     int       // After calls so far
	minCalls  int       // settle waits for this many After calls
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiter, c.lastAfter = &waiter{c.now.Add(d), ch}, time.Now()
	c.calls++
	return ch
}

// settle blocks until the loop waits on the clock and has not asked for another timer for
// a little while (a run ending makes it ask the schedule again).
func (c *fakeClock) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		ok := c.waiter != nil && c.calls >= c.minCalls && time.Since(c.lastAfter) > 20*time.Millisecond
		c.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the loop never settled on a timer")
}

// advance moves the clock, waking the waiter whose time has come.
func (c *fakeClock) advance(t *testing.T, d time.Duration) {
	t.Helper()
	c.settle(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	if w := c.waiter; w != nil && !w.at.After(c.now) {
		w.ch <- c.now
		c.waiter = nil
	}
}

var start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// harness runs a loop on a fake clock and records what happens.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	runs   chan time.Time // a run started at
	ends   chan error     // a run finished with
	skips  atomic.Int32
	panics atomic.Int32
	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t *testing.T, spec string, o Options, job Job) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(start), runs: make(chan time.Time, 10), ends: make(chan error, 10), done: make(chan struct{})}
	if o.Schedule == nil {
		sched, err := config.ParseSchedule(spec, "")
		if err != nil {
			t.Fatal(err)
		}
		o.Schedule = func() cron.Schedule { return sched }
	}
	o.Clock, o.Log = h.clock, zaptest.NewLogger(t)
	o.Hooks = Hooks{
		Started: func(at time.Time) { h.runs <- at },
		Finished: func(_ time.Time, _ time.Duration, err error) {
			// The loop asks the schedule again after a run ends: wait for that timer.
			h.clock.mu.Lock()
			h.clock.minCalls = h.clock.calls + 1
			h.clock.mu.Unlock()
			h.ends <- err
		},
		Skipped:  func(time.Time) { h.skips.Add(1) },
		Panicked: func(any) { h.panics.Add(1) },
	}
	l, err := NewLoop(o, job)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { l.Run(ctx); close(h.done) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		h.t.Fatal("the loop did not stop")
	}
}

func (h *harness) expectRun(at time.Time) {
	h.t.Helper()
	select {
	case got := <-h.runs:
		if !got.Equal(at) {
			h.t.Fatalf("run at %s, want %s", got.Format(time.TimeOnly), at.Format(time.TimeOnly))
		}
	case <-time.After(5 * time.Second):
		h.t.Fatalf("no run at %s", at.Format(time.TimeOnly))
	}
}

func (h *harness) expectNoRun() {
	h.t.Helper()
	select {
	case got := <-h.runs:
		h.t.Fatalf("unexpected run at %s", got.Format(time.TimeOnly))
	case <-time.After(50 * time.Millisecond):
	}
}

func (h *harness) expectEnd() error {
	h.t.Helper()
	select {
	case err := <-h.ends:
		return err
	case <-time.After(5 * time.Second):
		h.t.Fatal("the run did not end")
		return nil
	}
}

func TestRunsFireOnSchedule(t *testing.T) {
	h := newHarness(t, "*/30 * * * *", Options{}, func(context.Context, <-chan struct{}) error { return nil })
	h.clock.advance(t, 29*time.Minute)
	h.expectNoRun()
	h.clock.advance(t, time.Minute)
	h.expectRun(start.Add(30 * time.Minute))
	h.expectEnd()
	h.clock.advance(t, 30*time.Minute)
	h.expectRun(start.Add(60 * time.Minute))
}

func TestRunNowStartsWithARun(t *testing.T) {
	h := newHarness(t, "@hourly", Options{RunNow: true}, func(context.Context, <-chan struct{}) error { return nil })
	h.expectRun(start)
	h.expectEnd()
	h.clock.advance(t, time.Hour)
	h.expectRun(start.Add(time.Hour))
}

func TestJitterDelaysTheRun(t *testing.T) {
	h := newHarness(t, "@every 10m", Options{Jitter: time.Minute, Rand: func(n int64) int64 {
		if n != int64(time.Minute) {
			t.Errorf("jitter drawn from [0, %d), want [0, 1m)", n)
		}
		return int64(20 * time.Second)
	}}, func(context.Context, <-chan struct{}) error { return nil })
	h.clock.advance(t, 10*time.Minute)
	h.expectNoRun()
	h.clock.advance(t, 20*time.Second)
	h.expectRun(start.Add(10*time.Minute + 20*time.Second))
}

func TestOverlappingRunIsSkipped(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, "@every 1m", Options{}, func(context.Context, <-chan struct{}) error { <-release; return nil })
	h.clock.advance(t, time.Minute)
	h.expectRun(start.Add(time.Minute))
	h.clock.advance(t, time.Minute) // due while the first still runs
	h.clock.settle(t)
	h.expectNoRun()
	if n := h.skips.Load(); n != 1 {
		t.Fatalf("%d skipped runs, want 1", n)
	}
	close(release)
	if err := h.expectEnd(); err != nil {
		t.Fatal(err)
	}
	h.clock.advance(t, time.Minute)
	h.expectRun(start.Add(3 * time.Minute))
}

func TestPanicDoesNotStopLaterRuns(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, "@every 1m", Options{}, func(context.Context, <-chan struct{}) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	})
	h.clock.advance(t, time.Minute)
	h.expectRun(start.Add(time.Minute))
	if err := h.expectEnd(); err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("first run ended with %v, want the panic as an error", err)
	}
	if h.panics.Load() != 1 {
		t.Errorf("%d panics counted, want 1", h.panics.Load())
	}
	h.clock.advance(t, time.Minute)
	h.expectRun(start.Add(2 * time.Minute))
	if err := h.expectEnd(); err != nil {
		t.Fatalf("second run: %v", err)
	}
}

func TestScheduleIsAskedAgainAfterEachRun(t *testing.T) {
	hourly, _ := config.ParseSchedule("@hourly", "")
	every5, _ := config.ParseSchedule("@every 5m", "")
	var reloaded atomic.Bool
	h := newHarness(t, "", Options{Schedule: func() cron.Schedule {
		if reloaded.Load() {
			return every5
		}
		return hourly
	}}, func(context.Context, <-chan struct{}) error { reloaded.Store(true); return nil })
	h.clock.advance(t, time.Hour)
	h.expectRun(start.Add(time.Hour))
	h.expectEnd()
	h.clock.advance(t, 5*time.Minute)
	h.expectRun(start.Add(time.Hour + 5*time.Minute))
}

// Stopping the loop closes the run's stop channel; the run finishes its step and returns
// before Run does, and its context is only cancelled after the grace period.
func TestStopLetsTheRunFinishItsStep(t *testing.T) {
	inStep := make(chan struct{})
	var ctxErrAtStop atomic.Value
	h := newHarness(t, "@every 1m", Options{Grace: time.Minute}, func(ctx context.Context, stop <-chan struct{}) error {
		close(inStep)
		<-stop
		ctxErrAtStop.Store(errors.Join(ctx.Err(), errors.New("checked")))
		return errors.New("stopped after step 3 of 9")
	})
	h.clock.advance(t, time.Minute)
	h.expectRun(start.Add(time.Minute))
	<-inStep
	h.stop()
	if err := <-h.ends; err == nil || err.Error() != "stopped after step 3 of 9" {
		t.Errorf("run ended with %v", err)
	}
	if got := ctxErrAtStop.Load().(error).Error(); got != "checked" {
		t.Errorf("the run's context was cancelled at stop, before the grace period: %s", got)
	}
}

func TestGraceCancelsARunThatWillNotStop(t *testing.T) {
	h := newHarness(t, "@every 1m", Options{Grace: 20 * time.Millisecond}, func(ctx context.Context, _ <-chan struct{}) error {
		<-ctx.Done()
		return ctx.Err()
	})
	h.clock.advance(t, time.Minute)
	h.expectRun(start.Add(time.Minute))
	h.stop()
	if err := <-h.ends; !errors.Is(err, context.Canceled) {
		t.Errorf("run ended with %v, want its context cancelled after the grace period", err)
	}
}
