package leader

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
)

// leaseClient reads and writes one Lease with client-go's generic REST client, in JSON,
// through a scheme that holds only coordination.k8s.io/v1 (and the metav1 types it
// registers, such as the Status of error responses).
type leaseClient struct {
	rest            *rest.RESTClient
	namespace, name string
	// base is the context of every request: it outlives Run's context and carries the
	// REST client's logger. Each request adds timeout to it.
	base    context.Context
	timeout time.Duration
}

// newLeaseClient sets up cfg, which it owns, for coordination.k8s.io/v1 and builds the
// client.
func newLeaseClient(cfg *rest.Config, namespace, name string, base context.Context, timeout time.Duration) (*leaseClient, error) {
	scheme := runtime.NewScheme()
	if err := coordinationv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("registering coordination.k8s.io/v1: %w", err)
	}
	gv := coordinationv1.SchemeGroupVersion
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	cfg.ContentType = runtime.ContentTypeJSON
	cfg.AcceptContentTypes = runtime.ContentTypeJSON
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	c, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &leaseClient{rest: c, namespace: namespace, name: name, base: base, timeout: timeout}, nil
}

func (c *leaseClient) get() (*coordinationv1.Lease, error) {
	ctx, cancel := context.WithTimeout(c.base, c.timeout)
	defer cancel()
	out := &coordinationv1.Lease{}
	if err := c.rest.Get().Namespace(c.namespace).Resource("leases").Name(c.name).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *leaseClient) create(l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	ctx, cancel := context.WithTimeout(c.base, c.timeout)
	defer cancel()
	out := &coordinationv1.Lease{}
	if err := c.rest.Post().Namespace(c.namespace).Resource("leases").Body(l).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

// update writes l, which must carry the resourceVersion it was read with: the API server
// answers 409 Conflict if the lease changed since.
func (c *leaseClient) update(l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	ctx, cancel := context.WithTimeout(c.base, c.timeout)
	defer cancel()
	out := &coordinationv1.Lease{}
	if err := c.rest.Put().Namespace(c.namespace).Resource("leases").Name(c.name).Body(l).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

// elector is the state of one Run. Only Run's goroutine uses it.
type elector struct {
	cfg    Config
	client *leaseClient
	log    *zap.Logger
	lead   func(context.Context)

	// lease is the Lease as last read or written, nil before that.
	lease *coordinationv1.Lease
	// observed is when lease's spec was last seen to change, on this replica's clock: the
	// lease expires its spec.leaseDurationSeconds later, unless it changes again.
	observed time.Time
	// reported is the holder last seen, so that a new one is logged once.
	reported string
	// lastErr is the last failure logged at warn level, "" after a success: a failure that
	// repeats is logged at debug level.
	lastErr string
}

// observe records l, just read or written.
func (e *elector) observe(l *coordinationv1.Lease) {
	if e.lease == nil || !sameSpec(&e.lease.Spec, &l.Spec) {
		e.observed = time.Now()
	}
	e.lease = l
	e.lastErr = ""
	if h := holderOf(l); h != e.reported {
		e.reported = h
		if h != "" && h != e.cfg.Identity {
			e.log.Info("new leader observed", zap.String("leader", h))
		}
	}
}

// expired reports whether the observed lease has gone unchanged for its lease duration.
func (e *elector) expired() bool {
	d := e.cfg.LeaseDuration
	if s := e.lease.Spec.LeaseDurationSeconds; s != nil && *s > 0 {
		d = time.Duration(*s) * time.Second
	}
	return !time.Now().Before(e.observed.Add(d))
}

// tryAcquire makes one attempt to acquire the lease: it creates the lease if there is
// none, and takes it over if it names no holder, names this replica, or has expired. It
// reports whether it did, and the start of the write that did.
func (e *elector) tryAcquire() (time.Time, bool) {
	l, err := e.client.get()
	if apierrors.IsNotFound(err) {
		start := time.Now()
		created, err := e.client.create(e.newLease(start))
		if err != nil {
			e.failed("creating the lease", err)
			return time.Time{}, false
		}
		e.observe(created)
		return start, true
	}
	if err != nil {
		e.failed("reading the lease", err)
		return time.Time{}, false
	}
	e.observe(l)
	if h := holderOf(l); h != "" && h != e.cfg.Identity && !e.expired() {
		return time.Time{}, false
	}
	start := time.Now()
	updated, err := e.client.update(e.claim(l, start))
	if err != nil {
		e.failed("taking the lease", err)
		return time.Time{}, false
	}
	e.observe(updated)
	return start, true
}

// renew makes one attempt to renew the lease this replica holds, writing over the version
// it last wrote. It reports whether it did and the start of the write that did, or, when
// the lease changed and no longer names this replica, why leadership is lost.
func (e *elector) renew() (time.Time, bool, *lostError) {
	start := time.Now()
	updated, err := e.client.update(e.claim(e.lease, start))
	if err == nil {
		e.observe(updated)
		return start, true, nil
	}
	if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		e.failed("renewing the lease", err)
		return time.Time{}, false, nil
	}
	// The lease changed since this replica last wrote it: see who holds it now.
	l, err := e.client.get()
	if apierrors.IsNotFound(err) {
		return time.Time{}, false, &lostError{}
	}
	if err != nil {
		e.failed("reading the lease", err)
		return time.Time{}, false, nil
	}
	e.observe(l)
	if h := holderOf(l); h != e.cfg.Identity {
		return time.Time{}, false, &lostError{holder: h}
	}
	// Still this replica's: a renewal that seemed to fail took effect, or another client
	// changed something else. Renew on top of it.
	start = time.Now()
	updated, err = e.client.update(e.claim(l, start))
	if err != nil {
		e.failed("renewing the lease", err)
		return time.Time{}, false, nil
	}
	e.observe(updated)
	return start, true, nil
}

// release gives the lease up, if this replica holds it as far as it knows, so that
// another replica can take it over at once: like client-go's ReleaseOnCancel, it clears
// the holder and sets the lease duration to one second. The write carries the version
// last read or written, so it cannot clear another replica's claim.
func (e *elector) release() {
	for range 2 {
		if e.lease == nil || holderOf(e.lease) != e.cfg.Identity {
			return
		}
		l := e.lease.DeepCopy()
		now := metav1.NewMicroTime(time.Now())
		l.Spec.HolderIdentity = ptr("")
		l.Spec.LeaseDurationSeconds = ptr(int32(1))
		l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
		updated, err := e.client.update(l)
		if err == nil {
			e.observe(updated)
			e.log.Debug("released the lease")
			return
		}
		if !apierrors.IsConflict(err) {
			e.log.Warn("could not release the lease; the other replicas take it over once it expires", zap.Error(err))
			return
		}
		// The lease changed: a renewal that seemed to fail took effect, or it is no longer
		// this replica's. Read it again.
		if l, err = e.client.get(); err != nil {
			e.log.Warn("could not release the lease; the other replicas take it over once it expires", zap.Error(err))
			return
		}
		e.observe(l)
	}
	e.log.Warn("could not release the lease: it keeps changing; the other replicas take it over once it expires")
}

// newLease is the Lease this replica creates at now.
func (e *elector) newLease(now time.Time) *coordinationv1.Lease {
	t := metav1.NewMicroTime(now)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr(e.cfg.Identity),
			LeaseDurationSeconds: ptr(e.leaseSeconds()),
			AcquireTime:          &t,
			RenewTime:            &t,
			LeaseTransitions:     ptr(int32(0)),
		},
	}
}

// claim is l, as read, renewed at now by this replica: a transition, acquired at now, if
// l names another holder or none.
func (e *elector) claim(l *coordinationv1.Lease, now time.Time) *coordinationv1.Lease {
	c := l.DeepCopy()
	t := metav1.NewMicroTime(now)
	if holderOf(l) != e.cfg.Identity || c.Spec.AcquireTime == nil {
		c.Spec.AcquireTime = &t
	}
	if holderOf(l) != e.cfg.Identity {
		var n int32
		if c.Spec.LeaseTransitions != nil {
			n = *c.Spec.LeaseTransitions
		}
		c.Spec.LeaseTransitions = ptr(n + 1)
	} else if c.Spec.LeaseTransitions == nil {
		c.Spec.LeaseTransitions = ptr(int32(0))
	}
	c.Spec.HolderIdentity = ptr(e.cfg.Identity)
	c.Spec.LeaseDurationSeconds = ptr(e.leaseSeconds())
	c.Spec.RenewTime = &t
	return c
}

func (e *elector) leaseSeconds() int32 { return int32(e.cfg.LeaseDuration / time.Second) }

// failed logs a failed request: a lost race at debug level, other failures at warn level
// the first time and at debug level while the same failure repeats.
func (e *elector) failed(what string, err error) {
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		e.log.Debug(what+": another replica wrote it first", zap.Error(err))
		return
	}
	msg := what + ": " + err.Error()
	if msg == e.lastErr {
		e.log.Debug(what, zap.Error(err))
		return
	}
	e.lastErr = msg
	e.log.Warn(what, zap.Error(err))
}

// lostError is why leadership ends when a renewal finds that the lease no longer names
// this replica: holder took it over, or, if holder is "", it was released or deleted.
type lostError struct{ holder string }

func (e *lostError) Error() string {
	if e.holder == "" {
		return "lease released or deleted by another client"
	}
	return fmt.Sprintf("lease taken over by %q", e.holder)
}

func holderOf(l *coordinationv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// sameSpec reports whether a and b are the same leader election record.
func sameSpec(a, b *coordinationv1.LeaseSpec) bool {
	return equalPtr(a.HolderIdentity, b.HolderIdentity) &&
		equalPtr(a.LeaseDurationSeconds, b.LeaseDurationSeconds) &&
		a.AcquireTime.Equal(b.AcquireTime) &&
		a.RenewTime.Equal(b.RenewTime) &&
		equalPtr(a.LeaseTransitions, b.LeaseTransitions) &&
		equalPtr(a.Strategy, b.Strategy) &&
		equalPtr(a.PreferredHolder, b.PreferredHolder)
}

func equalPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func ptr[T any](v T) *T { return &v }
