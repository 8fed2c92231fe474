package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/playbooks"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/registry"
	"github.com/zerodrift/zerodrift/sandbox"
)

const (
	psProject    = "zd-events"
	topicName    = "projects/" + psProject + "/topics/asset-feed"
	subName      = "projects/" + psProject + "/subscriptions/zerodrift"
	prodProject  = "acme-prod"
	firewallBase = "//compute.googleapis.com/projects/" + prodProject + "/global/firewalls/"
)

// harness wires what event-driven mode needs in one process: the sandbox, publishing its
// asset feed to a Pub/Sub fake (pstest) through the real Pub/Sub client; the engine,
// fixing through the real Google clients pointed at the sandbox; a SQLite ledger; and
// consumers of the feed's subscription.
type harness struct {
	tb    testing.TB
	srv   *sandbox.Server
	url   string
	ps    *pstest.Server
	copts []option.ClientOption
	admin *pubsub.Client
	pub   *pubsub.Publisher
	store ledger.Store
	h     *engine.EventHandler
	log   *zap.Logger

	// manual, when set, keeps the feed's messages from the topic: tests publish them.
	manual bool
	// onFeed sees every feed message the sandbox publishes, with when it was published.
	onFeed func(sandbox.FeedMessage, time.Time)

	mu   sync.Mutex
	feed [][]byte // every feed message, in order
}

type harnessOptions struct {
	config     string // zerodrift.yaml
	manual     bool
	maxChanges int // per window; 0: unbounded
	ledgerFile bool
	quiet      bool
	onFeed     func(sandbox.FeedMessage, time.Time)
}

func newHarness(tb testing.TB, o harnessOptions) *harness {
	tb.Helper()
	ctx := context.Background()
	h := &harness{tb: tb, manual: o.manual, onFeed: o.onFeed}
	if o.quiet {
		h.log = zap.NewNop()
	} else {
		h.log = zaptest.NewLogger(tb, zaptest.Level(zap.WarnLevel))
	}

	// Pub/Sub: the fake, a topic and the subscription zerodrift consumes.
	h.ps = pstest.NewServer()
	tb.Cleanup(func() { _ = h.ps.Close() })
	h.copts = []option.ClientOption{option.WithEndpoint(h.ps.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	admin, err := pubsub.NewClient(ctx, psProject, h.copts...)
	if err != nil {
		tb.Fatal(err)
	}
	h.admin = admin
	tb.Cleanup(func() { _ = admin.Close() })
	if _, err := admin.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName}); err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: subName, Topic: topicName,
		AckDeadlineSeconds: 10}); err != nil {
		tb.Fatal(err)
	}
	h.pub = admin.Publisher(topicName)
	h.pub.PublishSettings.CountThreshold = 1
	h.pub.PublishSettings.DelayThreshold = time.Millisecond
	tb.Cleanup(h.pub.Stop)

	// The sandbox, publishing its feed.
	sc, err := sandbox.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	if h.srv, err = sandbox.New(sc); err != nil {
		tb.Fatal(err)
	}
	if h.url, err = h.srv.Start(""); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.srv.Close() })
	h.srv.SetFeed(h.publishFeed)

	// The engine.
	cfg, err := config.Parse("zerodrift.yaml", []byte(o.config))
	if err != nil {
		tb.Fatal(err)
	}
	url := "sqlite://:memory:"
	if o.ledgerFile {
		url = "sqlite://" + filepath.Join(tb.TempDir(), "ledger.db")
	}
	if h.store, err = ledger.Open(ctx, url); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.store.Close() })
	reg, err := registry.New(ctx, remediators.Config{Endpoint: h.url,
		Settings: remediators.Settings{PollInterval: 5 * time.Millisecond, ConflictBackoff: 5 * time.Millisecond}}, cfg.GCP.Identity, h.log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = reg.Close() })
	set, err := playbooks.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	if set, err = set.WithUnattended(cfg.UnattendedPlaybooks); err != nil {
		tb.Fatal(err)
	}
	env, err := cfg.Env(time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	eng := engine.New(engine.Deps{Config: cfg, Rules: cfg.Rules(), Env: env, Playbooks: set, Actions: reg,
		Defaults: playbooks.ConfigDefaults(env), Ledger: h.store, Log: h.log, Version: "test"})
	maxChanges := o.maxChanges
	if maxChanges == 0 {
		maxChanges = 1 << 30
	}
	h.h = eng.NewEventHandler(engine.EventOptions{Apply: true, MaxChanges: maxChanges, Window: time.Hour})
	return h
}

// publishFeed is the sandbox's feed: every message is kept, and published to the topic
// unless the test publishes by hand.
func (h *harness) publishFeed(ctx context.Context, data []byte) error {
	h.mu.Lock()
	h.feed = append(h.feed, bytes.Clone(data))
	h.mu.Unlock()
	if h.onFeed != nil {
		var m sandbox.FeedMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		h.onFeed(m, time.Now())
	}
	if h.manual {
		return nil
	}
	return h.publish(ctx, data)
}

func (h *harness) publish(ctx context.Context, data []byte) error {
	if _, err := h.pub.Publish(ctx, &pubsub.Message{Data: data}).Get(ctx); err != nil {
		return fmt.Errorf("publishing to %s: %w", topicName, err)
	}
	return nil
}

// feedOf returns the feed's messages about asset name, in order.
func (h *harness) feedOf(name string) [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][]byte
	for _, d := range h.feed {
		var m sandbox.FeedMessage
		if json.Unmarshal(d, &m) == nil && m.Asset != nil && m.Asset.Name == name {
			out = append(out, d)
		}
	}
	return out
}

// projects is the events' project context, read from the sandbox.
func (h *harness) projects() *ProjectContext {
	return &ProjectContext{Read: func(_ context.Context, project string) (*inventory.Asset, error) {
		for _, a := range h.srv.Assets() {
			if a.AssetType == inventory.TypeProject && a.Project() == project {
				return a, nil
			}
		}
		return nil, nil
	}}
}

// consumer is a running Consumer.
type consumer struct {
	*Consumer
	cancel context.CancelFunc
	done   chan error
}

// start runs a consumer of the subscription until stop or the test's end.
func (h *harness) start(concurrency int, edit func(*Consumer)) *consumer {
	h.tb.Helper()
	c := &Consumer{Subscription: subName, ClientOptions: h.copts, Handler: h.h, Context: h.projects().Context,
		Concurrency: concurrency, ShutdownTimeout: 5 * time.Second, Log: h.log}
	if edit != nil {
		edit(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &consumer{Consumer: c, cancel: cancel, done: make(chan error, 1)}
	go func() { rc.done <- c.Run(ctx) }()
	h.tb.Cleanup(func() { rc.stop(h.tb) })
	return rc
}

// stop stops the consumer and waits for Run to return.
func (c *consumer) stop(tb testing.TB) {
	c.cancel()
	select {
	case err, ok := <-c.done:
		if ok && err != nil {
			tb.Errorf("consumer: %v", err)
		}
		if ok {
			close(c.done)
		}
	case <-time.After(30 * time.Second):
		tb.Error("the consumer did not stop")
	}
}

// do calls the sandbox's REST API.
func (h *harness) do(method, path string, body any) {
	h.tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		h.tb.Fatal(err)
	}
	req, err := http.NewRequest(method, h.url+"/"+path, bytes.NewReader(b))
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.tb.Fatalf("%s %s: %d", method, path, resp.StatusCode)
	}
}

const firewallsPath = "compute/v1/projects/" + prodProject + "/global/firewalls"

// openSSH creates drift through the compute API: a firewall admitting SSH from anywhere
// (logging on, so that is its only drift).
func (h *harness) openSSH(name string) {
	h.tb.Helper()
	h.do(http.MethodPost, firewallsPath, map[string]any{"name": name, "network": "global/networks/prod-vpc",
		"sourceRanges": []string{"0.0.0.0/0"}, "allowed": []map[string]any{{"IPProtocol": "tcp", "ports": []string{"22"}}},
		"logConfig": map[string]any{"enable": true}})
}

// sourceRanges reads a firewall's source ranges from the sandbox.
func (h *harness) sourceRanges(name string) []string {
	h.tb.Helper()
	resp, err := http.Get(h.url + "/" + firewallsPath + "/" + name)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer resp.Body.Close()
	var fw struct {
		SourceRanges []string `json:"sourceRanges"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&fw); err != nil {
		h.tb.Fatal(err)
	}
	return fw.SourceRanges
}

// eventually waits up to d for cond.
func eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// decisionsOf returns the ledger's decisions on the event that change is.
func (h *harness) decisionsOf(change []byte) []ledger.Decision {
	h.tb.Helper()
	ch, err := Decode(change)
	if err != nil {
		h.tb.Fatal(err)
	}
	ds, err := h.store.Decisions(context.Background(), engine.EventRunID(ch.Key))
	if errors.Is(err, ledger.ErrNotFound) {
		return nil
	}
	if err != nil {
		h.tb.Fatal(err)
	}
	return ds
}

// changesOf returns the ledger's live changes to a resource.
func (h *harness) changesOf(resource string) []ledger.Change {
	h.tb.Helper()
	cs, err := h.store.Changes(context.Background(), ledger.ChangeFilter{Resource: resource})
	if err != nil {
		h.tb.Fatal(err)
	}
	return cs
}
