package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Elect campaigns for leadership until ctx is done, calling lead while this replica leads;
// lead's context is cancelled when leadership is lost.
type Elect func(ctx context.Context, lead func(ctx context.Context)) error

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	// Listen is the address of the HTTP server (/healthz, /readyz, /metrics), e.g. ":8080".
	Listen string
	// Loop configures the cron loop; its Hooks are set by the worker.
	Loop Options
	// Job runs one cycle (and records its own outcome in Metrics).
	Job Job
	// Ready checks what a run needs (the ledger is reachable, the configuration is valid);
	// nil means always ready.
	Ready func(ctx context.Context) error
	// Elect, when set, runs the loop only while this replica leads; nil runs it always (a
	// single instance outside Kubernetes).
	Elect   Elect
	Metrics *Metrics
	Log     *zap.Logger
}

// Worker is `zerodrift serve`: the cron loop, gated by leadership, and its HTTP endpoints.
type Worker struct {
	o       WorkerOptions
	started atomic.Bool // the loop has started at least once, for RunNow
}

// NewWorker checks the options.
func NewWorker(o WorkerOptions) (*Worker, error) {
	if o.Job == nil || o.Loop.Schedule == nil || o.Metrics == nil {
		return nil, errors.New("scheduler: a worker needs a job, a schedule and metrics")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Worker{o: o}, nil
}

// Handler serves /healthz (the process is alive), /readyz (Ready passes) and /metrics.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if w.o.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := w.o.Ready(ctx); err != nil {
				rw.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(rw, "not ready: %v\n", err)
				return
			}
		}
		_, _ = rw.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", w.o.Metrics.Handler())
	return mux
}

// Serve serves HTTP on Listen and runs the loop (while leading) until ctx is done; then
// the run in flight is stopped within the loop's Grace and the HTTP server shuts down.
func (w *Worker) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", w.o.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", w.o.Listen, err)
	}
	return w.ServeOn(ctx, ln)
}

// ServeOn is Serve on a listener the caller opened.
func (w *Worker) ServeOn(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	w.o.Log.Info("serving health and metrics", zap.String("address", ln.Addr().String()))

	var runErr error
	if w.o.Elect == nil {
		w.lead(ctx)
	} else {
		runErr = w.o.Elect(ctx, w.lead)
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("stopping the HTTP server: %w", err))
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		runErr = errors.Join(runErr, fmt.Errorf("serving HTTP: %w", err))
	}
	return runErr
}

// lead runs the loop for as long as ctx lasts (a leadership term, or the process).
func (w *Worker) lead(ctx context.Context) {
	w.o.Metrics.SetLeader(true)
	defer w.o.Metrics.SetLeader(false)
	w.o.Log.Info("leading: running the schedule")
	o := w.o.Loop
	// Only the first term starts with a run; a replica taking over waits for the schedule.
	o.RunNow = o.RunNow && !w.started.Swap(true)
	o.Log = w.o.Log
	o.Hooks = Hooks{
		Skipped:  func(time.Time) { w.o.Metrics.Skipped() },
		Panicked: func(any) { w.o.Metrics.Panicked() },
	}
	l, err := NewLoop(o, w.o.Job)
	if err != nil {
		w.o.Log.Error("cannot run the schedule", zap.Error(err))
		return
	}
	l.Run(ctx)
	w.o.Log.Info("stopped running the schedule")
}
