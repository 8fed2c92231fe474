// Package scheduler runs zerodrift's cycle as a long-lived worker: on a cron schedule, one
// run at a time, only while this replica leads, with health, readiness and Prometheus
// metrics served over HTTP.
//
// The cron loop is Loop: it fires a job at the times a robfig/cron schedule gives (plus a
// random jitter, so that many installations do not all call Google at :00), never starts a
// run while one is still going (the missed run is skipped and counted), and recovers a
// panicking run so that later runs still happen. Time comes from a Clock, so tests drive
// it without sleeping.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// Clock is the time a Loop runs on.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// After waits for d on the wall clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Job is one run of the cycle. When the loop stops (shutdown, lost leadership) stop is
// closed: the job should finish the step in flight and return. Its context is cancelled
// only when it has not returned within the loop's Grace.
type Job func(ctx context.Context, stop <-chan struct{}) error

// Hooks report what the loop does; any may be nil.
type Hooks struct {
	// Started is called as a run starts, Finished as it ends (err is a recovered panic as
	// an error too).
	Started  func(at time.Time)
	Finished func(at time.Time, took time.Duration, err error)
	// Skipped is called when a run is due while the previous one is still going.
	Skipped func(at time.Time)
	// Panicked is called with the value of a recovered panic.
	Panicked func(v any)
}

// Options configure a Loop.
type Options struct {
	// Schedule returns the schedule for the next run; it is asked again after every firing
	// and when a run ends, so a configuration the run reloaded takes effect at once.
	Schedule func() cron.Schedule
	// Jitter is the most a run is delayed after its scheduled time, at random.
	Jitter time.Duration
	// RunNow starts with a run, before the first scheduled time.
	RunNow bool
	// Grace is how long a run in flight may take to stop once the loop stops, before its
	// context is cancelled; zero cancels it at once.
	Grace time.Duration
	Clock Clock
	// Rand returns a random duration in [0, n); nil uses math/rand/v2.
	Rand  func(n int64) int64
	Log   *zap.Logger
	Hooks Hooks
}

// Loop fires a Job on a schedule, one run at a time.
type Loop struct {
	o   Options
	job Job

	mu      sync.Mutex
	running bool
	done    chan struct{} // closed when the run in flight ends

	ended chan struct{} // signalled when a run ends, to ask the schedule again
}

// NewLoop returns a loop that runs job.
func NewLoop(o Options, job Job) (*Loop, error) {
	if o.Schedule == nil || job == nil {
		return nil, errors.New("scheduler: a loop needs a schedule and a job")
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Int64N
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Loop{o: o, job: job, ended: make(chan struct{}, 1)}, nil
}

// Run fires the job until ctx is done, then stops the run in flight (its stop channel is
// closed, and its context cancelled after Grace), waits for it to return, and returns.
func (l *Loop) Run(ctx context.Context) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := make(chan struct{})
	defer func() {
		close(stop)
		if l.o.Grace <= 0 {
			cancel()
		} else {
			t := time.AfterFunc(l.o.Grace, cancel)
			defer t.Stop()
		}
		l.wait()
	}()
	if l.o.RunNow {
		l.fire(runCtx, stop, l.o.Clock.Now())
	}
	for {
		now := l.o.Clock.Now()
		next := l.o.Schedule().Next(now)
		if next.IsZero() {
			l.o.Log.Warn("the schedule has no next run; waiting for a configuration that has one")
			next = now.Add(time.Hour)
		}
		if l.o.Jitter > 0 {
			next = next.Add(time.Duration(l.o.Rand(int64(l.o.Jitter))))
		}
		l.o.Log.Debug("next run", zap.Time("at", next))
		select {
		case <-ctx.Done():
			return
		case <-l.ended:
			continue
		case <-l.o.Clock.After(next.Sub(now)):
		}
		l.fire(runCtx, stop, l.o.Clock.Now())
	}
}

// fire starts a run unless one is going.
func (l *Loop) fire(ctx context.Context, stop <-chan struct{}, at time.Time) {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		l.o.Log.Warn("a run is due while the previous one is still going; skipping it", zap.Time("due", at))
		if h := l.o.Hooks.Skipped; h != nil {
			h(at)
		}
		return
	}
	l.running, l.done = true, make(chan struct{})
	done := l.done
	l.mu.Unlock()
	if h := l.o.Hooks.Started; h != nil {
		h(at)
	}
	go func() {
		defer close(done)
		err := l.safeRun(ctx, stop)
		end := l.o.Clock.Now()
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
		if h := l.o.Hooks.Finished; h != nil {
			h(end, end.Sub(at), err)
		}
		select {
		case l.ended <- struct{}{}:
		default:
		}
	}()
}

// safeRun runs the job, turning a panic into an error so that later runs still happen.
func (l *Loop) safeRun(ctx context.Context, stop <-chan struct{}) (err error) {
	defer func() {
		if v := recover(); v != nil {
			l.o.Log.Error("run panicked; later runs go on", zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
			if h := l.o.Hooks.Panicked; h != nil {
				h(v)
			}
			err = fmt.Errorf("run panicked: %v", v)
		}
	}()
	return l.job(ctx, stop)
}

// wait blocks until no run is in flight.
func (l *Loop) wait() {
	l.mu.Lock()
	done, running := l.done, l.running
	l.mu.Unlock()
	if running {
		<-done
	}
}
