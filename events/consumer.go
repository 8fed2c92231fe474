// Package events is zerodrift's event-driven mode: it consumes the Pub/Sub subscription of
// a Cloud Asset Inventory real-time feed and has the engine decide each changed asset as
// soon as the feed reports it, with the rails of a run (engine.EventHandler). Scheduled
// runs stay the safety net for whatever the feed misses.
//
// Messages are acknowledged only once the ledger records the decision. A message that
// could not be handled (the ledger or an API unreachable, another replica on the same
// asset for too long) is nacked and redelivered. Duplicates and changes older than one
// already handled are dropped: in memory by the newest update time handled per asset
// (bounded), and durably because the ledger run of a change is named after the change
// (engine.EventRunID), so a change decided once is never decided again, even when a
// replica crashed between the ledger write and the acknowledgement. Deletions are logged
// and acknowledged: they neither fix nor close anything.
package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
)

// Defaults of Consumer.
const (
	DefaultConcurrency     = 16
	DefaultSeenAssets      = 100_000
	DefaultProcessTimeout  = 10 * time.Minute
	DefaultShutdownTimeout = 30 * time.Second
	DefaultBusyWait        = 30 * time.Second
	DefaultRetryDelay      = time.Second
)

// Handler decides one event; *engine.EventHandler is one.
type Handler interface {
	Handle(ctx context.Context, ev engine.Event) (*engine.EventResult, error)
}

// ContextFunc returns the assets that give an asset its context without being judged: at
// least its project, whose zerodrift-exempt label exempts the asset (ProjectContext).
type ContextFunc func(ctx context.Context, a *inventory.Asset) ([]*inventory.Asset, error)

// Outcome is what became of one message.
type Outcome string

// Outcomes of a message. All but OutcomeRetry are acknowledged.
const (
	// OutcomeDecided: the asset's findings were decided and recorded in the ledger.
	OutcomeDecided Outcome = "decided"
	// OutcomeClean: the asset has no findings; nothing to record.
	OutcomeClean Outcome = "clean"
	// OutcomeDuplicate: this change was handled before (in memory, or in the ledger).
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeStale: a newer change of the asset was handled already.
	OutcomeStale Outcome = "stale"
	// OutcomeDeleted: the asset was deleted; nothing to fix, nothing closed.
	OutcomeDeleted Outcome = "deleted"
	// OutcomeInvalid: the message is not a feed message; dropped, logged.
	OutcomeInvalid Outcome = "invalid"
	// OutcomeRetry: the change could not be handled now; nacked, to be redelivered.
	OutcomeRetry Outcome = "retry"
)

// Stats counts the messages a consumer handled, by outcome.
type Stats struct {
	Received, Decided, Clean, Duplicate, Stale, Deleted, Invalid, Retried int64
}

// Consumer consumes a feed subscription. Set its fields, then Run it.
type Consumer struct {
	// Project is the project of the subscription; it may be left out when Subscription is
	// a full name (projects/P/subscriptions/S).
	Project string
	// Subscription is the subscription's ID, or its full name.
	Subscription string
	// ClientOptions configure the Pub/Sub client (endpoint, credentials).
	ClientOptions []option.ClientOption
	// Handler decides events (required).
	Handler Handler
	// Context gives events their context (their project); nil judges each asset alone, so
	// a project's zerodrift-exempt label is not seen: set it in production.
	Context ContextFunc
	// Concurrency bounds the messages handled at once (DefaultConcurrency when zero).
	Concurrency int
	// Streams is the number of StreamingPull streams (ReceiveSettings.NumGoroutines; 1
	// when zero). One stream carries thousands of messages a second from Pub/Sub; the
	// pstest fake sends one message per response, about a hundred a second per stream.
	// Concurrency bounds the messages handled at once, whatever the number of streams.
	Streams int
	// SeenAssets bounds the assets whose newest change is remembered (DefaultSeenAssets).
	SeenAssets int
	// ProcessTimeout bounds the handling of one message (DefaultProcessTimeout).
	ProcessTimeout time.Duration
	// ShutdownTimeout is how long, once Run's context is done, messages being handled
	// may take to finish (DefaultShutdownTimeout); those not started are nacked at once.
	ShutdownTimeout time.Duration
	// BusyWait is how long a message waits for another replica deciding a change of the
	// same asset before it is nacked (DefaultBusyWait).
	BusyWait time.Duration
	// RetryDelay is how long a message that could not be handled is held before it is
	// nacked, so a lasting failure (the ledger down) does not spin (DefaultRetryDelay).
	// The subscription's retry policy and dead-letter topic govern redelivery after that.
	RetryDelay time.Duration
	// Log receives the consumer's logs; nop when nil.
	Log *zap.Logger

	// beforeAck, in tests, runs once a message is handled and before it is acknowledged;
	// returning true drops the message unacknowledged, as a crash there would.
	beforeAck func(*pubsub.Message, Outcome) bool

	initOnce sync.Once
	log      *zap.Logger
	seen     *seen
	locks    *assetLocks
	stats    struct{ received, decided, clean, duplicate, stale, deleted, invalid, retried atomic.Int64 }
}

func (c *Consumer) init() {
	c.initOnce.Do(func() {
		c.seen = newSeen(orDefault(c.SeenAssets, DefaultSeenAssets))
		c.locks = newAssetLocks()
		c.log = c.Log
		if c.log == nil {
			c.log = zap.NewNop()
		}
	})
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Stats returns the counts of messages handled so far.
func (c *Consumer) Stats() Stats {
	s := &c.stats
	return Stats{Received: s.received.Load(), Decided: s.decided.Load(), Clean: s.clean.Load(), Duplicate: s.duplicate.Load(),
		Stale: s.stale.Load(), Deleted: s.deleted.Load(), Invalid: s.invalid.Load(), Retried: s.retried.Load()}
}

// projectAndName returns the client's project and the subscription's name.
func (c *Consumer) projectAndName() (string, string, error) {
	sub := strings.TrimSpace(c.Subscription)
	if sub == "" {
		return "", "", errors.New("consuming the asset feed: no subscription")
	}
	project := c.Project
	if parts := strings.Split(sub, "/"); len(parts) == 4 && parts[0] == "projects" && parts[2] == "subscriptions" {
		if project == "" {
			project = parts[1]
		}
	} else if strings.Contains(sub, "/") {
		return "", "", fmt.Errorf("consuming the asset feed: subscription %q is neither an ID nor projects/P/subscriptions/S", sub)
	}
	if project == "" {
		return "", "", fmt.Errorf("consuming the asset feed: subscription %q needs a project", sub)
	}
	return project, sub, nil
}

// Run consumes the subscription until ctx is done, then stops pulling, nacks the messages
// not yet handled, lets those being handled finish (within ShutdownTimeout) and returns
// nil. It returns an error when the subscription cannot be consumed.
func (c *Consumer) Run(ctx context.Context) error {
	if c.Handler == nil {
		return errors.New("consuming the asset feed: no handler")
	}
	c.init()
	project, name, err := c.projectAndName()
	if err != nil {
		return err
	}
	client, err := pubsub.NewClient(ctx, project, c.ClientOptions...)
	if err != nil {
		return fmt.Errorf("connecting to Pub/Sub for subscription %s: %w", name, err)
	}
	defer client.Close()
	sub := client.Subscriber(name)
	concurrency := orDefault(c.Concurrency, DefaultConcurrency)
	processTimeout := orDefault(c.ProcessTimeout, DefaultProcessTimeout)
	shutdownTimeout := orDefault(c.ShutdownTimeout, DefaultShutdownTimeout)
	sub.ReceiveSettings.MaxOutstandingMessages = concurrency
	sub.ReceiveSettings.NumGoroutines = orDefault(c.Streams, 1)
	sub.ReceiveSettings.MaxExtension = processTimeout + orDefault(c.BusyWait, DefaultBusyWait) + time.Minute
	sub.ReceiveSettings.ShutdownOptions = &pubsub.ShutdownOptions{Behavior: pubsub.ShutdownBehaviorNackImmediately, Timeout: shutdownTimeout}

	// Handling outlives ctx, so a change in flight is finished, not cut: it stops only
	// ShutdownTimeout after ctx is done.
	hard, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownTimeout, hardStop) })
	defer stopAfter()

	log := c.log.With(zap.String("subscription", sub.String()))
	log.Info("consuming the asset feed", zap.Int("concurrency", concurrency), zap.Int("streams", sub.ReceiveSettings.NumGoroutines))
	in := &inflight{}
	err = sub.Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		if !in.enter() {
			m.Nack()
			return
		}
		defer in.leave()
		pctx, cancel := context.WithTimeout(hard, processTimeout)
		defer cancel()
		c.deliver(pctx, log, m)
	})
	in.closeAndWait()
	if err != nil {
		return fmt.Errorf("receiving from subscription %s: %w", name, err)
	}
	log.Info("stopped consuming the asset feed", zap.Any("stats", c.Stats()))
	return nil
}

// inflight tracks the messages being handled, so Run returns only after they are.
type inflight struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (in *inflight) enter() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false
	}
	in.wg.Add(1)
	return true
}

func (in *inflight) leave() { in.wg.Done() }

func (in *inflight) closeAndWait() {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	in.wg.Wait()
}

// deliver handles one message and acknowledges it, or nacks it for redelivery.
func (c *Consumer) deliver(ctx context.Context, log *zap.Logger, m *pubsub.Message) {
	c.stats.received.Add(1)
	log = log.With(zap.String("messageId", m.ID))
	out := c.handle(ctx, log, m.Data)
	c.count(out)
	if out == OutcomeRetry {
		t := time.NewTimer(orDefault(c.RetryDelay, DefaultRetryDelay))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		m.Nack()
		return
	}
	if c.beforeAck != nil && c.beforeAck(m, out) {
		return
	}
	m.Ack()
}

func (c *Consumer) count(out Outcome) {
	s := &c.stats
	switch out {
	case OutcomeDecided:
		s.decided.Add(1)
	case OutcomeClean:
		s.clean.Add(1)
	case OutcomeDuplicate:
		s.duplicate.Add(1)
	case OutcomeStale:
		s.stale.Add(1)
	case OutcomeDeleted:
		s.deleted.Add(1)
	case OutcomeInvalid:
		s.invalid.Add(1)
	case OutcomeRetry:
		s.retried.Add(1)
	}
}

// handle decides one message's change; the outcome says whether to acknowledge it.
func (c *Consumer) handle(ctx context.Context, log *zap.Logger, data []byte) Outcome {
	ch, err := Decode(data)
	if err != nil {
		log.Error("dropping a message that is not an asset feed message", zap.Error(err))
		return OutcomeInvalid
	}
	name, stream := ch.Asset.Name, ch.stream()
	log = log.With(zap.String("asset", name), zap.String("eventKey", ch.Key))
	unlock, err := c.locks.lock(ctx, name)
	if err != nil {
		log.Warn("not handled; redelivered later", zap.Error(err))
		return OutcomeRetry
	}
	defer unlock()
	switch c.seen.verdict(stream, ch.Time) {
	case stale:
		log.Debug("dropping a change older than one already handled")
		return OutcomeStale
	case duplicate:
		log.Debug("dropping a change already handled")
		return OutcomeDuplicate
	}
	if ch.Deleted {
		log.Info("asset deleted: nothing to fix, nothing closed")
		c.seen.record(stream, ch.Time)
		return OutcomeDeleted
	}
	ev := engine.Event{Asset: ch.Asset, Key: ch.Key}
	if c.Context != nil {
		if ev.Context, err = c.Context(ctx, ch.Asset); err != nil {
			log.Warn("reading the asset's context failed; redelivered later", zap.Error(err))
			return OutcomeRetry
		}
	}
	res, err := c.decide(ctx, ev)
	if err != nil {
		log.Warn("deciding the change failed; redelivered later", zap.Error(err))
		return OutcomeRetry
	}
	c.seen.record(stream, ch.Time)
	switch {
	case res.Duplicate:
		log.Debug("change already decided (ledger)", zap.String("runId", res.RunID))
		return OutcomeDuplicate
	case len(res.Findings) == 0:
		return OutcomeClean
	}
	log.Info("change decided", zap.String("runId", res.RunID), zap.Int("findings", len(res.Findings)),
		zap.Int("decisions", len(res.Decisions)), zap.Bool("resumed", res.Resumed))
	return OutcomeDecided
}

// decide hands the event to the handler, waiting up to BusyWait while another replica
// decides a change of the same asset.
func (c *Consumer) decide(ctx context.Context, ev engine.Event) (*engine.EventResult, error) {
	deadline := time.Now().Add(orDefault(c.BusyWait, DefaultBusyWait))
	wait := 50 * time.Millisecond
	for {
		res, err := c.Handler.Handle(ctx, ev)
		if !errors.Is(err, engine.ErrEventBusy) || time.Now().Add(wait).After(deadline) {
			return res, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for another replica: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}
