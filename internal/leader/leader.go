// Package leader makes one replica of zerodrift at a time do the work, when several run in
// Kubernetes: the replicas campaign for a coordination.k8s.io/v1 Lease, with the algorithm
// of client-go's leader election, and the holder runs the work until it loses the lease or
// shuts down.
//
//	err := leader.Run(ctx, leader.Config{Namespace: ns, Name: "zerodrift", Identity: os.Getenv("POD_NAME")},
//		log, func(ctx context.Context) { worker.Run(ctx) })
//
// Leader election without fencing cannot rule out two leaders entirely (a paused process
// may act on a lease it has already lost); Run narrows the window as much as the protocol
// allows, see Run. The work should stop promptly when its context is cancelled.
//
// The package speaks to the API server with client-go's generic REST client and a scheme
// of its own that knows only the Lease, rather than with client-go's leaderelection
// package, whose clientset and informers would add hundreds of packages to the build.
package leader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
)

// Defaults for the zero durations of Config, those of Kubernetes' own controllers.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// jitterFactor bounds the random stretch of the wait between attempts to acquire the
// lease: RetryPeriod to RetryPeriod*jitterFactor. It is client-go's JitterFactor, which
// also bounds RetryPeriod against RenewDeadline.
const jitterFactor = 1.2

// Config configures Run.
type Config struct {
	// Namespace and Name locate the Lease the replicas campaign for. Required.
	Namespace, Name string
	// Identity names this replica in the Lease (spec.holderIdentity): unique among the
	// replicas and stable for the life of the process — the pod name. Required.
	Identity string

	// LeaseDuration is how long the other replicas wait, after they last saw the lease
	// renewed, before taking it over. The Lease records it in whole seconds, so it must be a
	// whole number of seconds. Default DefaultLeaseDuration.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew the lease, counted from its
	// last successful renewal, before it steps down; it must be shorter than LeaseDuration,
	// and the difference is the time the work has to stop. Default DefaultRenewDeadline.
	RenewDeadline time.Duration
	// RetryPeriod is the interval between attempts to renew the lease, and (stretched at
	// random by up to 1.2 times) between attempts to acquire it; it must be shorter than
	// RenewDeadline/1.2. Default DefaultRetryPeriod.
	RetryPeriod time.Duration

	// Rest is the API server connection; nil means rest.InClusterConfig(). Run works on a
	// copy; when its Timeout is zero the copy gets max(1s, RenewDeadline/2), as client-go
	// recommends, so that one hung request cannot use up the RenewDeadline, and Run bounds
	// every request by that duration anyway. Its content type and serializer are Run's own
	// (JSON, with a scheme that holds only the Lease).
	Rest *rest.Config
}

func (c Config) withDefaults() Config {
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = DefaultRenewDeadline
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = DefaultRetryPeriod
	}
	return c
}

// validate checks a defaulted Config and reports every problem, naming the field.
func (c Config) validate() error {
	var errs []error
	if c.Namespace == "" {
		errs = append(errs, errors.New("leader: Config.Namespace is empty"))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("leader: Config.Name is empty"))
	}
	if c.Identity == "" {
		errs = append(errs, errors.New("leader: Config.Identity is empty (use the pod name)"))
	}
	switch {
	case c.LeaseDuration < time.Second:
		errs = append(errs, fmt.Errorf("leader: Config.LeaseDuration %v is shorter than a second", c.LeaseDuration))
	case c.LeaseDuration%time.Second != 0:
		errs = append(errs, fmt.Errorf("leader: Config.LeaseDuration %v is not a whole number of seconds", c.LeaseDuration))
	}
	if c.RenewDeadline <= 0 || c.RenewDeadline >= c.LeaseDuration {
		errs = append(errs, fmt.Errorf("leader: Config.RenewDeadline %v is not between 0 and LeaseDuration %v", c.RenewDeadline, c.LeaseDuration))
	}
	if c.RetryPeriod <= 0 || float64(c.RetryPeriod)*jitterFactor >= float64(c.RenewDeadline) {
		errs = append(errs, fmt.Errorf("leader: Config.RetryPeriod %v is not between 0 and RenewDeadline/%v (%v)",
			c.RetryPeriod, jitterFactor, time.Duration(float64(c.RenewDeadline)/jitterFactor)))
	}
	return errors.Join(errs...)
}

// Run campaigns for the lease until ctx is done. While this replica holds the lease, Run
// calls lead with a context that is cancelled when leadership ends; after that it campaigns
// again, for a worker must keep trying to lead. Run returns nil once ctx is done and lead
// has returned, and an error if the configuration is invalid or the Kubernetes client
// cannot be built.
//
// The campaign is client-go's: a replica takes the lease when it does not exist, names no
// holder, names this replica, or has not changed for the lease duration it records, timed
// on this replica's clock from when it saw the lease change (the holder's timestamps are
// not trusted); every write carries the resourceVersion last read, so that of two
// replicas racing for the lease one wins and the other sees a conflict. The leader renews
// the lease every RetryPeriod.
//
// Leadership ends, and lead's context is cancelled, when:
//   - ctx is done (SIGTERM): the lease is still renewed until lead returns, then released
//     at once, so another replica takes over within RetryPeriod instead of LeaseDuration;
//   - the lease has not been renewed for RenewDeadline, counted from the start of the last
//     successful renewal (API server unreachable): other replicas may take over only once
//     LeaseDuration has passed since they saw that renewal, which leaves the work
//     LeaseDuration-RenewDeadline to stop;
//   - a renewal finds the lease held by another replica (or deleted, or released): at once;
//   - lead returns on its own: the lease is released and Run campaigns again after
//     RetryPeriod.
//
// Run never starts lead again before the previous call has returned. It logs leadership
// changes and failed requests to log (nil means no logs); the REST client's own messages
// go to log too, named "client-go", at debug level (its errors at warn level), not to
// klog. Run writes no log once it has returned.
func Run(ctx context.Context, cfg Config, log *zap.Logger, lead func(ctx context.Context)) error {
	if lead == nil {
		return errors.New("leader: lead func is nil")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("lease", cfg.Namespace+"/"+cfg.Name), zap.String("identity", cfg.Identity))

	var restCfg *rest.Config
	if cfg.Rest != nil {
		restCfg = rest.CopyConfig(cfg.Rest)
	} else {
		c, err := rest.InClusterConfig()
		if err != nil {
			return fmt.Errorf("leader: in-cluster Kubernetes config: %w", err)
		}
		restCfg = c
	}
	timeout := max(time.Second, cfg.RenewDeadline/2)
	if restCfg.Timeout == 0 {
		restCfg.Timeout = timeout
	}
	// Requests outlive ctx, so that Run knows whether its last write took effect, and log
	// through log rather than klog's global logger; each has its own timeout.
	base := logrContext(context.WithoutCancel(ctx), log.Named("client-go"))
	client, err := newLeaseClient(restCfg, cfg.Namespace, cfg.Name, base, timeout)
	if err != nil {
		return fmt.Errorf("leader: Kubernetes coordination/v1 Lease client: %w", err)
	}

	e := &elector{cfg: cfg, client: client, log: log, lead: lead}
	for ctx.Err() == nil {
		renewed, ok := e.acquire(ctx)
		if !ok {
			break
		}
		if ctx.Err() != nil {
			// Acquired as the shutdown began: give the lease back without leading.
			e.release()
			break
		}
		switch e.hold(ctx, renewed) {
		case errShutdown, errLeadReturned:
			e.release()
		}
		if !sleep(ctx, e.retryWait()) {
			break
		}
	}
	return nil
}

var (
	errShutdown     = errors.New("shutting down")
	errNotRenewed   = errors.New("lease not renewed within RenewDeadline")
	errLeadReturned = errors.New("lead returned")
)

// acquire tries to acquire the lease, at once and then every RetryPeriod (jittered), until
// it does or ctx is done. It reports whether it did, and the start of the request that
// did: the earliest time another replica can have seen the write.
func (e *elector) acquire(ctx context.Context) (time.Time, bool) {
	for ctx.Err() == nil {
		if start, ok := e.tryAcquire(); ok {
			return start, true
		}
		if !sleep(ctx, e.retryWait()) {
			break
		}
	}
	return time.Time{}, false
}

// retryWait is the wait between attempts to acquire the lease: RetryPeriod stretched at
// random by up to jitterFactor, so that replicas that failed together do not retry in step.
func (e *elector) retryWait() time.Duration {
	return e.cfg.RetryPeriod + time.Duration(rand.Float64()*(jitterFactor-1)*float64(e.cfg.RetryPeriod))
}

// hold runs lead while this replica holds the lease, which it acquired with a request
// started at renewed, and meanwhile renews the lease every RetryPeriod in a goroutine of
// its own (the only one to use e until it ends). It logs why leadership ended as soon as
// lead has returned, and returns it once no renewal is in flight either.
func (e *elector) hold(ctx context.Context, renewed time.Time) error {
	leadCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	stopOnShutdown := context.AfterFunc(ctx, func() { cancel(errShutdown) })
	defer stopOnShutdown()

	// The watchdog steps down once RenewDeadline has passed since the start of the last
	// successful renewal, whatever requests are in flight.
	var (
		mu       sync.Mutex
		last     = renewed
		stopped  bool
		watchdog *time.Timer
	)
	mu.Lock()
	watchdog = time.AfterFunc(time.Until(last.Add(e.cfg.RenewDeadline)), func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if wait := time.Until(last.Add(e.cfg.RenewDeadline)); wait > 0 {
			watchdog.Reset(wait)
			return
		}
		cancel(errNotRenewed)
	})
	mu.Unlock()
	defer func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		watchdog.Stop()
	}()

	// Renew until lead has returned; on shutdown too, for the work goes on until then.
	e.log.Info("became leader")
	stopRenewing, renewDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(renewDone)
		e.keepRenewing(leadCtx, cancel, stopRenewing, func(start time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if start.After(last) {
				last = start
			}
		})
	}()

	e.lead(leadCtx)
	cancel(errLeadReturned) // no-op if leadership had already ended
	// Log at once why leadership ended, before waiting for a renewal in flight.
	cause := context.Cause(leadCtx)
	var lost *lostError
	switch {
	case cause == errShutdown:
		e.log.Info("stopped leading: shutting down; releasing the lease")
	case cause == errLeadReturned:
		e.log.Warn("stopped leading: lead returned while holding the lease; releasing it")
	case cause == errNotRenewed:
		e.log.Warn("lost leadership: lease not renewed within RenewDeadline", zap.Duration("renewDeadline", e.cfg.RenewDeadline))
	case errors.As(cause, &lost):
		e.log.Warn("lost leadership: "+lost.Error(), zap.String("holder", lost.holder))
	default:
		e.log.Warn("lost leadership", zap.NamedError("cause", cause))
	}
	close(stopRenewing)
	<-renewDone
	return cause
}

// keepRenewing renews the lease every RetryPeriod until stop is closed, leadership is lost
// (leadCtx cancelled for a cause other than errShutdown), or a renewal finds the lease
// held by another replica, when it cancels leadCtx. It calls renewed with the start of
// every successful renewal.
func (e *elector) keepRenewing(leadCtx context.Context, cancel context.CancelCauseFunc, stop <-chan struct{}, renewed func(time.Time)) {
	tick := time.NewTimer(e.cfg.RetryPeriod)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if cause := context.Cause(leadCtx); cause != nil && cause != errShutdown {
			return // leadership lost: stop renewing
		}
		start, ok, lost := e.renew()
		switch {
		case ok:
			renewed(start)
		case lost != nil:
			cancel(lost)
			return
		}
		tick.Reset(e.cfg.RetryPeriod)
	}
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ServiceAccountTokenFile is where Kubernetes mounts a pod's service-account token.
const ServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// InCluster reports whether the process runs in a Kubernetes pod, where
// rest.InClusterConfig works: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are set
// and ServiceAccountTokenFile is a file. Pass os.LookupEnv and os.Stat.
func InCluster(lookupEnv func(key string) (string, bool), stat func(name string) (fs.FileInfo, error)) bool {
	for _, key := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} {
		if v, ok := lookupEnv(key); !ok || v == "" {
			return false
		}
	}
	fi, err := stat(ServiceAccountTokenFile)
	return err == nil && !fi.IsDir()
}
