package main

import (
	"context"
	"fmt"
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
}

func (e *eventFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&e.subscription, "events", "", "also fix drift as it happens: the Pub/Sub subscription (ID or projects/P/subscriptions/S) fed by a Cloud Asset Inventory feed (default events.subscription)")
	fl.StringVar(&e.project, "events-project", "", "project of the subscription, when --events is an ID (default events.project)")
	fl.IntVar(&e.concurrency, "events-concurrency", 0, "changes evaluated at once (default events.concurrency, else 16)")
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
func (g *globals) consumeEvents(ctx context.Context, s streams, f *eventFlags, o runtimeOptions, log *zap.Logger) error {
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
	rt, err := g.newRuntime(ctx, s, o)
	if err != nil {
		return err
	}
	defer rt.Close()
	live, err := inventory.NewLive(ctx, rt.live, log)
	if err != nil {
		return err
	}
	defer live.Close()
	projects := &events.ProjectContext{Read: func(ctx context.Context, project string) (*inventory.Asset, error) {
		return live.Project(ctx, project)
	}}
	h := rt.engine.NewEventHandler(engine.EventOptions{Apply: rt.cfg.Mode == "apply", MaxChanges: -1, Window: 30 * time.Minute,
		IaCMaxAge: time.Minute})
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
