package main

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pubsubpb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/events"
	"github.com/zerodrift/zerodrift/inventory"
)

// eventFlags choose the Cloud Asset Inventory feed serve consumes.
type eventFlags struct {
	subscription string
	project      string
	concurrency  int
	reload       time.Duration
}

func (e *eventFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&e.subscription, "events", "", "also fix drift as it happens: the Pub/Sub subscription (ID or projects/P/subscriptions/S) fed by a Cloud Asset Inventory feed (default events.subscription)")
	fl.StringVar(&e.project, "events-project", "", "project of the subscription, when --events is an ID (default events.project)")
	fl.IntVar(&e.concurrency, "events-concurrency", 0, "changes evaluated at once (default events.concurrency, else 16)")
	fl.DurationVar(&e.reload, "events-reload", 30*time.Second, "how often event mode reads the configuration file again (0: only at start)")
}

// resolve fills the flags from the configuration.
func (e *eventFlags) resolve(c config.Events) {
	if e.subscription == "" {
		e.subscription = c.Subscription
	}
	if e.project == "" {
		e.project = c.Project
	}
	if e.concurrency == 0 {
		e.concurrency = c.Concurrency
	}
}

// sandboxFeed runs an in-process Pub/Sub fake fed by the sandbox's changes, so serve
// --sandbox --events shows event mode with nothing outside the machine. It returns the
// subscription's full name and the client options that reach the fake.
func sandboxFeed(ctx context.Context, sb *startedSandbox, subscription string, log *zap.Logger) (string, []option.ClientOption, func(), error) {
	const project = "zerodrift-sandbox"
	topic := "projects/" + project + "/topics/asset-feed"
	sub := subscription
	if sub == "" || sub[0] != 'p' {
		sub = "projects/" + project + "/subscriptions/" + subscription
	}
	ps := pstest.NewServer()
	opts := []option.ClientOption{option.WithEndpoint(ps.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		_ = ps.Close()
		return "", nil, nil, fmt.Errorf("connecting to the sandbox's Pub/Sub: %w", err)
	}
	cleanup := func() { _ = client.Close(); _ = ps.Close() }
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		cleanup()
		return "", nil, nil, fmt.Errorf("creating the sandbox's feed topic: %w", err)
	}
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic, AckDeadlineSeconds: 60}); err != nil {
		cleanup()
		return "", nil, nil, fmt.Errorf("creating the sandbox's feed subscription: %w", err)
	}
	pub := client.Publisher(topic)
	pub.PublishSettings.DelayThreshold = time.Millisecond
	sb.srv.SetFeed(func(ctx context.Context, data []byte) error {
		_, err := pub.Publish(ctx, &pubsub.Message{Data: data}).Get(ctx)
		return err
	})
	log.Info("the sandbox publishes its changes to an in-process Pub/Sub", zap.String("subscription", sub))
	return sub, opts, func() { sb.srv.SetFeed(nil); pub.Stop(); cleanup() }, nil
}

// consumeEvents evaluates the feed's changes with the engine of one runtime, on every
// replica (Pub/Sub shares the messages out; the ledger's locks keep replicas apart) until
// ctx ends. A consumer that fails is restarted after a pause: cron runs are the safety net.
// It starts with the configuration in state; every f.reload it reads the file again
// (reload) and, when the configuration changed, decides the next events with a runtime
// built from the new one.
func (g *globals) consumeEvents(ctx context.Context, s streams, f *eventFlags, o runtimeOptions,
	state *configState, reload func(), log *zap.Logger) error {
	log = log.Named("events")
	var copts []option.ClientOption
	if o.started != nil {
		sub, opts, stop, err := sandboxFeed(ctx, o.started, f.subscription, log)
		if err != nil {
			return err
		}
		defer stop()
		copts, f.subscription, f.project = opts, sub, ""
	}
	cfg, gen := state.generation()
	first, err := g.newEventGeneration(ctx, s, o, cfg, gen, nil)
	if err != nil {
		return err
	}
	h := &reloadingHandler{cur: first}
	defer h.close()
	if f.reload > 0 {
		stopReloading := make(chan struct{})
		reloaded := make(chan struct{})
		go func() {
			defer close(reloaded)
			current := func() (*config.Config, uint64) { reload(); return state.generation() }
			h.keepReloading(ctx, stopReloading, f.reload, current, func(cfg *config.Config, gen uint64, prev *eventGeneration) (*eventGeneration, error) {
				return g.newEventGeneration(ctx, s, o, cfg, gen, prev)
			}, log)
		}()
		defer func() { close(stopReloading); <-reloaded }()
	}
	projects := &events.ProjectContext{Read: h.project}
	for {
		c := &events.Consumer{Project: f.project, Subscription: f.subscription, ClientOptions: copts, Handler: h,
			Context: projects.Context, Concurrency: f.concurrency, Log: log}
		err := c.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		log.Error("consuming the feed failed; retrying in 30s (cron runs go on)", zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(30 * time.Second):
		}
	}
}

// eventGeneration is what decides events under one configuration: its runtime, the live
// source that reads an event's project, and the handler.
type eventGeneration struct {
	gen      uint64
	cfg      *config.Config
	rt       *runtime
	live     *inventory.Live
	handler  *engine.EventHandler
	inflight sync.WaitGroup // calls into this generation
}

// newEventGeneration builds the generation of configuration cfg; prev, when set, is the
// generation it follows, whose change budget it keeps.
func (g *globals) newEventGeneration(ctx context.Context, s streams, o runtimeOptions, cfg *config.Config, gen uint64,
	prev *eventGeneration) (*eventGeneration, error) {
	o.cfg = cfg
	rt, err := g.newRuntime(ctx, s, o)
	if err != nil {
		return nil, err
	}
	live, err := inventory.NewLive(ctx, rt.live, rt.log)
	if err != nil {
		rt.Close()
		return nil, err
	}
	opts := engine.EventOptions{Apply: cfg.Mode == "apply", MaxChanges: -1, Window: 30 * time.Minute, IaCMaxAge: time.Minute}
	h := rt.engine.NewEventHandler(opts)
	if prev != nil {
		h = prev.handler.Successor(rt.engine, opts)
	}
	return &eventGeneration{gen: gen, cfg: cfg, rt: rt, live: live, handler: h}, nil
}

func (e *eventGeneration) close() {
	if err := e.live.Close(); err != nil {
		e.rt.log.Warn("closing the live source of event mode", zap.Error(err))
	}
	e.rt.Close()
}

// reloadingHandler decides events with the current generation. A generation replaced by
// a reload is closed once the events it was deciding are decided.
type reloadingHandler struct {
	mu      sync.RWMutex
	cur     *eventGeneration
	retired sync.WaitGroup // generations replaced and not yet closed
}

// enter returns the current generation, counted in flight until the caller calls Done.
func (r *reloadingHandler) enter() *eventGeneration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.cur.inflight.Add(1)
	return r.cur
}

func (r *reloadingHandler) Handle(ctx context.Context, ev engine.Event) (*engine.EventResult, error) {
	gen := r.enter()
	defer gen.inflight.Done()
	return gen.handler.Handle(ctx, ev)
}

// project reads an event's project with the current generation's live source.
func (r *reloadingHandler) project(ctx context.Context, project string) (*inventory.Asset, error) {
	gen := r.enter()
	defer gen.inflight.Done()
	return gen.live.Project(ctx, project)
}

func (r *reloadingHandler) current() *eventGeneration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cur
}

// swap makes next the current generation and closes the one it replaces once idle.
func (r *reloadingHandler) swap(next *eventGeneration) {
	r.mu.Lock()
	prev := r.cur
	r.cur = next
	r.mu.Unlock()
	r.retired.Add(1)
	go func() {
		defer r.retired.Done()
		prev.inflight.Wait()
		prev.close()
	}()
}

// close closes every generation; the consumer has stopped calling.
func (r *reloadingHandler) close() {
	r.retired.Wait()
	r.current().close()
}

// keepReloading reloads the configuration every interval until ctx ends or stop is
// closed, and swaps in a generation built (by build) from each new one. A generation that
// cannot be built is reported once and the current one kept; the next change tries again.
func (r *reloadingHandler) keepReloading(ctx context.Context, stop <-chan struct{}, interval time.Duration,
	reload func() (*config.Config, uint64), build func(*config.Config, uint64, *eventGeneration) (*eventGeneration, error), log *zap.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var failed uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-tick.C:
		}
		cfg, gen := reload()
		cur := r.current()
		if gen == cur.gen || gen == failed {
			continue
		}
		next, err := build(cfg, gen, cur)
		if err != nil {
			failed = gen
			log.Error("event mode could not use the reloaded configuration; deciding with the last one", zap.Error(err))
			continue
		}
		if !reflect.DeepEqual(cfg.Events, cur.cfg.Events) {
			log.Warn("the events section of the configuration changed: the subscription and concurrency change at the next restart")
		}
		r.swap(next)
		log.Info("event mode reloaded the configuration", zap.String("mode", cmp.Or(cfg.Mode, "report")))
	}
}
