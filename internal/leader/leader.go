// Package leader makes one replica of zerodrift at a time do the work, when several run in
// Kubernetes: the replicas campaign for a coordination.k8s.io/v1 Lease with client-go's
// leader election, and the holder runs the work until it loses the lease or shuts down.
//
//	err := leader.Run(ctx, leader.Config{Namespace: ns, Name: "zerodrift", Identity: os.Getenv("POD_NAME")},
//		log, func(ctx context.Context) { worker.Run(ctx) })
//
// Leader election without fencing cannot rule out two leaders entirely (a paused process
// may act on a lease it has already lost); Run narrows the window as much as the protocol
// allows, see Run. The work should stop promptly when its context is cancelled.
package leader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Defaults for the zero durations of Config, those of Kubernetes' own controllers.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

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
	// RetryPeriod is the interval between attempts to acquire or renew the lease; it must be
	// shorter than RenewDeadline/1.2 (client-go jitters it by up to 1.2).
	// Default DefaultRetryPeriod.
	RetryPeriod time.Duration

	// Rest is the API server connection; nil means rest.InClusterConfig(). Run works on a
	// copy; when its Timeout is zero the copy gets max(1s, RenewDeadline/2), as client-go
	// recommends, so that one hung request cannot use up the RenewDeadline.
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
	if c.RetryPeriod <= 0 || float64(c.RetryPeriod)*leaderelection.JitterFactor >= float64(c.RenewDeadline) {
		errs = append(errs, fmt.Errorf("leader: Config.RetryPeriod %v is not between 0 and RenewDeadline/%v (%v)",
			c.RetryPeriod, leaderelection.JitterFactor, time.Duration(float64(c.RenewDeadline)/leaderelection.JitterFactor)))
	}
	return errors.Join(errs...)
}

// Run campaigns for the lease until ctx is done. While this replica holds the lease, Run
// calls lead with a context that is cancelled when leadership ends; after that it campaigns
// again, for a worker must keep trying to lead. Run returns nil once ctx is done and lead
// has returned, and an error if the configuration is invalid or the Kubernetes client
// cannot be built.
//
// Leadership ends, and lead's context is cancelled, when:
//   - ctx is done (SIGTERM): once lead returns, the lease is released at once, so another
//     replica takes over within RetryPeriod instead of LeaseDuration;
//   - the lease has not been renewed for RenewDeadline (API server unreachable, the lease
//     taken over): lead's context is cancelled then, before client-go's attempt to release
//     the lease, which against a hung API server could take another RenewDeadline, past
//     LeaseDuration, when other replicas may already lead;
//   - lead returns on its own: the lease is released and Run campaigns again after
//     RetryPeriod.
//
// Run never starts lead again before the previous call has returned. It logs leadership
// changes to log (nil means no logs); client-go's own messages go to log too, named
// "client-go", at debug level (its errors at warn level), not to klog.
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
	if restCfg.Timeout == 0 {
		restCfg.Timeout = max(time.Second, cfg.RenewDeadline/2)
	}
	client, err := coordinationv1client.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("leader: Kubernetes coordination/v1 client: %w", err)
	}

	r := &runner{cfg: cfg, client: client, log: log, lead: lead}
	for ctx.Err() == nil {
		if err := r.campaign(ctx); err != nil {
			return err
		}
		t := time.NewTimer(cfg.RetryPeriod)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return nil
}

// runner holds what the campaigns of one Run share.
type runner struct {
	cfg    Config
	client coordinationv1client.LeasesGetter
	log    *zap.Logger
	lead   func(context.Context)
}

var (
	errShutdown     = errors.New("shutting down")
	errNotRenewed   = errors.New("lease not renewed within RenewDeadline")
	errLeadReturned = errors.New("lead returned")
)

// campaign runs one client-go LeaderElector (fresh lock, fresh observed state) until it
// stops: when ctx is done, or after this replica led and lost or gave up the lease. It
// returns only after the lead call it made, and every log it writes, are done.
func (r *runner) campaign(ctx context.Context) error {
	lock := &renewLock{
		Interface: &rl.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: r.cfg.Namespace, Name: r.cfg.Name},
			Client:     r.client,
			LockConfig: rl.ResourceLockConfig{Identity: r.cfg.Identity}, // no EventRecorder: no events
		},
		identity: r.cfg.Identity,
	}

	// The election outlives ctx: on shutdown it is stopped (releasing the lease) only once
	// lead has returned. It logs through r.log rather than klog's global logger.
	electionCtx, stopElection := context.WithCancel(
		klog.NewContext(context.WithoutCancel(ctx), klogToZap(r.log.Named("client-go"))))
	defer stopElection()

	var (
		mu      sync.Mutex
		over    bool           // no lead call may start, and no log be written, any more
		leading sync.WaitGroup // the lead call in progress
	)
	stopped := func() {
		mu.Lock()
		over = true
		mu.Unlock()
		leading.Wait()
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   r.cfg.LeaseDuration,
		RenewDeadline:   r.cfg.RenewDeadline,
		RetryPeriod:     r.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            r.cfg.Namespace + "/" + r.cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaderCtx context.Context) {
				mu.Lock()
				if over {
					mu.Unlock()
					return
				}
				leading.Add(1)
				mu.Unlock()
				defer leading.Done()
				r.leadWhileHolding(ctx, leaderCtx, lock)
				stopElection() // release the lease (ReleaseOnCancel), unless already lost
			},
			OnStoppedLeading: func() {}, // leadWhileHolding logs the end of leadership
			OnNewLeader: func(identity string) {
				mu.Lock()
				defer mu.Unlock()
				if !over && identity != "" && identity != r.cfg.Identity {
					r.log.Info("new leader observed", zap.String("leader", identity))
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader: leader election config: %w", err)
	}

	stopOnShutdown := context.AfterFunc(ctx, func() {
		stopped()      // let lead finish before the lease is released
		stopElection() // stop campaigning (or release the lease)
	})
	defer stopOnShutdown()
	le.Run(electionCtx)
	stopped()
	return nil
}

// leadWhileHolding calls lead with a context that ends with leadership (leaderCtx, which
// client-go cancels after it stops renewing), with ctx, or when the lease has not been
// renewed for RenewDeadline, and logs why leadership ended.
func (r *runner) leadWhileHolding(ctx, leaderCtx context.Context, lock *renewLock) {
	leadCtx, cancel := context.WithCancelCause(leaderCtx)
	defer cancel(nil)
	stopOnShutdown := context.AfterFunc(ctx, func() { cancel(errShutdown) })
	defer stopOnShutdown()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		r.watchRenewals(leadCtx, cancel, lock)
	}()

	r.log.Info("became leader")
	r.lead(leadCtx)
	cancel(errLeadReturned) // no-op if leadership had already ended
	<-watched

	switch cause := context.Cause(leadCtx); {
	case errors.Is(cause, errShutdown):
		r.log.Info("stopped leading: shutting down; releasing the lease")
	case errors.Is(cause, errLeadReturned):
		r.log.Warn("stopped leading: lead returned while holding the lease; releasing it")
	case errors.Is(cause, errNotRenewed):
		r.log.Warn("lost leadership: lease not renewed within RenewDeadline", zap.Duration("renewDeadline", r.cfg.RenewDeadline))
	default:
		r.log.Warn("lost leadership: lease not renewed", zap.NamedError("cause", cause))
	}
}

// watchRenewals cancels ctx with errNotRenewed once the lease has not been renewed for
// RenewDeadline. client-go gives up renewing a little later (after RetryPeriod more) and
// cancels lead's context later still, after trying to release the lease.
func (r *runner) watchRenewals(ctx context.Context, cancel context.CancelCauseFunc, lock *renewLock) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Until(lock.lastRenewal().Add(r.cfg.RenewDeadline))
		if wait <= 0 {
			cancel(errNotRenewed)
			return
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// renewLock is a resource lock that remembers when this replica last wrote the lease
// naming itself holder: the start of that request, since other replicas start counting
// LeaseDuration only once they see the write.
type renewLock struct {
	rl.Interface
	identity string

	mu   sync.Mutex
	last time.Time
}

func (l *renewLock) Create(ctx context.Context, ler rl.LeaderElectionRecord) error {
	start := time.Now()
	err := l.Interface.Create(ctx, ler)
	l.record(start, ler, err)
	return err
}

func (l *renewLock) Update(ctx context.Context, ler rl.LeaderElectionRecord) error {
	start := time.Now()
	err := l.Interface.Update(ctx, ler)
	l.record(start, ler, err)
	return err
}

func (l *renewLock) record(start time.Time, ler rl.LeaderElectionRecord, err error) {
	if err != nil || ler.HolderIdentity != l.identity {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if start.After(l.last) {
		l.last = start
	}
}

func (l *renewLock) lastRenewal() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
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
