package events

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
)

// Drift created through the sandbox's compute API is fixed live by the unattended playbook
// within seconds, and the ledger shows one decision and one change.
func TestDriftIsFixedLive(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c := h.start(4, nil)
	start := time.Now()
	h.openSSH("evt-open-ssh")
	eventually(t, 5*time.Second, "the open firewall was not fixed", func() bool {
		return !slices.Contains(h.sourceRanges("evt-open-ssh"), "0.0.0.0/0")
	})
	t.Logf("drift fixed in %s", time.Since(start))
	if got := h.sourceRanges("evt-open-ssh"); !slices.Equal(got, []string{"35.235.240.0/20"}) {
		t.Fatalf("sourceRanges %v, want the trusted range", got)
	}
	msgs := h.feedOf(firewallBase + "evt-open-ssh")
	if len(msgs) != 2 {
		t.Fatalf("%d feed messages for the firewall, want the drift and the fix", len(msgs))
	}
	// The decision is recorded once the fix is verified.
	eventually(t, 5*time.Second, "no decision recorded", func() bool { return len(h.decisionsOf(msgs[0])) > 0 })
	ds := h.decisionsOf(msgs[0])
	if len(ds) != 1 || ds[0].Action != engine.ActionFix || ds[0].Playbook != "firewall-restrict-sources" {
		t.Fatalf("decisions: %+v", ds)
	}
	cs := h.changesOf(firewallBase + "evt-open-ssh")
	if len(cs) != 1 || cs[0].Status != ledger.StatusVerified || cs[0].ID != ds[0].ChangeID {
		t.Fatalf("changes: %+v", cs)
	}
	// The fix's own change is judged clean: nothing recorded.
	eventually(t, 5*time.Second, "the fix's own message was not handled", func() bool { return c.Stats().Clean >= 1 })
	if ds := h.decisionsOf(msgs[1]); len(ds) != 0 {
		t.Fatalf("the fix's own change was decided: %+v", ds)
	}
}

// A duplicate message changes nothing: neither while the consumer remembers the change,
// nor after a restart, when only the ledger does.
func TestDuplicateMessageChangesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c := h.start(4, nil)
	h.openSSH("evt-dup")
	name := firewallBase + "evt-dup"
	eventually(t, 5*time.Second, "not fixed", func() bool { return len(h.changesOf(name)) == 1 && c.Stats().Clean == 1 })
	msgs := h.feedOf(name)
	if len(msgs) != 2 {
		t.Fatalf("%d feed messages, want the drift and the fix", len(msgs))
	}
	drift, fixed := msgs[0], msgs[1]
	ctx := context.Background()

	// The fix's own message again: the newest change handled, a duplicate.
	if err := h.publish(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the duplicate was not dropped", func() bool { return c.Stats().Duplicate == 1 })
	// The drift again: older than the fix, dropped as stale.
	if err := h.publish(ctx, drift); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the older duplicate was not dropped", func() bool { return c.Stats().Stale == 1 })

	// A new consumer has no memory of the change: the ledger knows it was decided.
	c.stop(t)
	restarted := h.start(4, nil)
	if err := h.publish(context.Background(), drift); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the duplicate was not dropped after a restart", func() bool { return restarted.Stats().Duplicate == 1 })
	if ds := h.decisionsOf(drift); len(ds) != 1 {
		t.Fatalf("decisions: %+v", ds)
	}
	if cs := h.changesOf(name); len(cs) != 1 {
		t.Fatalf("changes: %+v", cs)
	}
	if st := restarted.Stats(); st.Decided != 0 || st.Retried != 0 {
		t.Fatalf("restarted consumer stats: %+v", st)
	}
}

// A message older than one already handled for the same asset is dropped, not decided.
func TestOutOfOrderMessageIsIgnored(t *testing.T) {
	h := newHarness(t, harnessOptions{manual: true})
	c := h.start(4, nil)
	name := firewallBase + "evt-order"
	h.openSSH("evt-order")                                                                                     // T1: drift
	h.do(http.MethodPatch, firewallsPath+"/evt-order", map[string]any{"sourceRanges": []string{"10.0.0.0/8"}}) // T2: fixed by someone
	msgs := h.feedOf(name)
	if len(msgs) != 2 {
		t.Fatalf("%d feed messages, want 2", len(msgs))
	}
	ctx := context.Background()
	if err := h.publish(ctx, msgs[1]); err != nil { // the newer first
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the newer message was not handled", func() bool { return c.Stats().Clean == 1 })
	if err := h.publish(ctx, msgs[0]); err != nil { // then the older
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the older message was not dropped", func() bool { return c.Stats().Stale == 1 })
	if ds := h.decisionsOf(msgs[0]); len(ds) != 0 {
		t.Fatalf("the stale change was decided: %+v", ds)
	}
	if cs := h.changesOf(name); len(cs) != 0 {
		t.Fatalf("changes: %+v", cs)
	}
	if got := h.sourceRanges("evt-order"); !slices.Equal(got, []string{"10.0.0.0/8"}) {
		t.Fatalf("sourceRanges %v", got)
	}
}

// A message for an exempt resource records the exemption and changes nothing, whether a
// configured exemption or its project's label exempts it.
func TestExemptResourceDoesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{config: `exemptions:
  - resource: ` + firewallBase + `evt-exempt
    rules: [firewall-open-ingress]
    reason: migration bastion
    owner: netsec@acme.example
    expires: 2099-12-31
`})
	c := h.start(4, nil)
	h.openSSH("evt-exempt")
	eventually(t, 5*time.Second, "the exempt firewall's change was not decided", func() bool { return c.Stats().Decided == 1 })
	msgs := h.feedOf(firewallBase + "evt-exempt")
	if len(msgs) != 1 {
		t.Fatalf("%d feed messages: the exempt firewall was changed", len(msgs))
	}
	ds := h.decisionsOf(msgs[0])
	if len(ds) != 1 || ds[0].Action != engine.ActionExempt || !strings.Contains(ds[0].Reason, "migration bastion") {
		t.Fatalf("decisions: %+v", ds)
	}
	if cs := h.changesOf(firewallBase + "evt-exempt"); len(cs) != 0 {
		t.Fatalf("changes: %+v", cs)
	}

	// The dev project gets the zerodrift-exempt label (its change reaches the consumer's
	// project context through the feed); then drift in it is exempt.
	var project *inventory.Asset
	for _, a := range h.srv.Assets() {
		if a.AssetType == inventory.TypeProject && a.Project() == "acme-dev" {
			project = a
		}
	}
	var data map[string]any
	if err := json.Unmarshal(project.Resource.Data, &data); err != nil {
		t.Fatal(err)
	}
	data["labels"] = map[string]any{"zerodrift-exempt": "workshop"}
	h.do(http.MethodPost, "sandbox/v1/drift", map[string]any{"name": project.Name, "assetType": project.AssetType,
		"resource": map[string]any{"data": data}})
	eventually(t, 5*time.Second, "the project's change was not handled", func() bool { return c.Stats().Clean+c.Stats().Decided >= 2 })
	h.do(http.MethodPost, "compute/v1/projects/acme-dev/global/firewalls", map[string]any{"name": "evt-labelled",
		"network": "global/networks/default", "sourceRanges": []string{"0.0.0.0/0"},
		"allowed": []map[string]any{{"IPProtocol": "tcp", "ports": []string{"22"}}}, "logConfig": map[string]any{"enable": true}})
	labelled := h.feedOf("//compute.googleapis.com/projects/acme-dev/global/firewalls/evt-labelled")
	if len(labelled) != 1 {
		t.Fatalf("%d feed messages for the labelled project's firewall", len(labelled))
	}
	eventually(t, 5*time.Second, "the labelled project's drift was not decided", func() bool { return len(h.decisionsOf(labelled[0])) > 0 })
	if n := len(h.feedOf("//compute.googleapis.com/projects/acme-dev/global/firewalls/evt-labelled")); n != 1 {
		t.Fatalf("%d feed messages: the firewall of the exempt project was changed", n)
	}
	if ds := h.decisionsOf(labelled[0]); len(ds) != 1 || ds[0].Action != engine.ActionExempt || !strings.Contains(ds[0].Reason, "workshop") {
		t.Fatalf("decisions: %+v", ds)
	}
}

// A crash after the ledger recorded the decision and before the acknowledgement: the
// message is redelivered, and the ledger still shows one decision and one change.
func TestCrashBeforeAckRedelivers(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var crashed atomic.Bool
	var crashedID atomic.Value
	crash := make(chan struct{}, 1)
	first := h.start(4, func(c *Consumer) {
		c.beforeAck = func(m *pubsub.Message, out Outcome) bool {
			if out != OutcomeDecided || !crashed.CompareAndSwap(false, true) {
				return false
			}
			crashedID.Store(m.ID)
			crash <- struct{}{} // the process dies here: no ack
			return true
		}
	})
	h.openSSH("evt-crash")
	name := firewallBase + "evt-crash"
	select {
	case <-crash:
		first.cancel()
	case <-time.After(10 * time.Second):
		t.Fatal("the change was not decided")
	}
	select {
	case err := <-first.done:
		if err != nil {
			t.Fatalf("first consumer: %v", err)
		}
		close(first.done)
	case <-time.After(20 * time.Second):
		t.Fatal("the first consumer did not stop")
	}
	if !crashed.Load() {
		t.Fatal("no crash")
	}
	drift := h.feedOf(name)[0]
	if ds := h.decisionsOf(drift); len(ds) != 1 {
		t.Fatalf("decisions before the restart: %+v", ds)
	}

	var redelivered atomic.Bool
	second := h.start(4, func(c *Consumer) {
		c.beforeAck = func(m *pubsub.Message, _ Outcome) bool {
			if m.ID == crashedID.Load() {
				redelivered.Store(true)
			}
			return false
		}
	})
	// The crashed consumer's shutdown nacks what it held, so the message comes back at
	// once; had it already been sent down the dying stream, it comes back when its ack
	// deadline passes, which the fake's clock is moved past.
	deadline := time.Now().Add(3 * time.Second)
	for !redelivered.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !redelivered.Load() {
		t.Log("not nacked: waiting for the ack deadline to pass")
		h.ps.SetTimeNowFunc(func() time.Time { return time.Now().Add(5 * time.Minute) })
	}
	eventually(t, 15*time.Second, "the unacknowledged message was not redelivered", redelivered.Load)
	// The redelivered drift is a duplicate for the ledger, or stale when the fix's own
	// message (nacked at the crash too) reached the new consumer first: never decided again.
	if st := second.Stats(); st.Duplicate+st.Stale < 1 || st.Decided != 0 || st.Retried != 0 {
		t.Fatalf("second consumer stats: %+v", st)
	}
	if ds := h.decisionsOf(drift); len(ds) != 1 || ds[0].Action != engine.ActionFix {
		t.Fatalf("decisions after the redelivery: %+v", ds)
	}
	if cs := h.changesOf(name); len(cs) != 1 || cs[0].Status != ledger.StatusVerified {
		t.Fatalf("changes: %+v", cs)
	}
}

// countingHandler counts the events handled at once.
type countingHandler struct {
	Handler
	now, peak atomic.Int64
}

func (c *countingHandler) Handle(ctx context.Context, ev engine.Event) (*engine.EventResult, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return c.Handler.Handle(ctx, ev)
}

// A burst of drift is fixed whole, never handling more than Concurrency messages at once.
func TestBurstWithBoundedConcurrency(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	counting := &countingHandler{Handler: h.h}
	c := h.start(3, func(c *Consumer) { c.Handler = counting })
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { h.openSSH("evt-burst-" + string(rune('a'+i%26)) + string(rune('a'+i/26))) })
	}
	wg.Wait()
	eventually(t, 20*time.Second, "the burst was not fixed", func() bool { return c.Stats().Decided == n })
	for i := range n {
		name := "evt-burst-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if got := h.sourceRanges(name); slices.Contains(got, "0.0.0.0/0") {
			t.Errorf("%s still open: %v", name, got)
		}
	}
	if p := counting.peak.Load(); p > 3 || p < 1 {
		t.Fatalf("peak concurrency %d, want 1..3", p)
	}
	t.Logf("peak concurrency %d", counting.peak.Load())
}

// A deleted asset fixes nothing and closes nothing; a message that is not a feed message
// is dropped, not redelivered forever.
func TestDeletedAndInvalidMessages(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c := h.start(2, nil)
	h.do(http.MethodDelete, firewallsPath+"/allow-https", nil)
	eventually(t, 5*time.Second, "the deletion was not handled", func() bool { return c.Stats().Deleted == 1 })
	if err := h.publish(context.Background(), []byte(`{"not": "a feed message"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the invalid message was not dropped", func() bool { return c.Stats().Invalid == 1 })
	time.Sleep(200 * time.Millisecond)
	if st := c.Stats(); st.Invalid != 1 || st.Retried != 0 || st.Decided != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if cs := h.changesOf(firewallBase + "allow-https"); len(cs) != 0 {
		t.Fatalf("changes: %+v", cs)
	}
}

// A message that cannot be decided now (the project context unreadable) is nacked and
// decided once it can be.
func TestTransientErrorIsRetried(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var fail atomic.Int64
	fail.Store(2)
	projects := h.projects()
	c := h.start(2, func(c *Consumer) {
		c.RetryDelay = 10 * time.Millisecond
		c.Context = func(ctx context.Context, a *inventory.Asset) ([]*inventory.Asset, error) {
			if fail.Add(-1) >= 0 {
				return nil, context.DeadlineExceeded
			}
			return projects.Context(ctx, a)
		}
	})
	h.openSSH("evt-retry")
	eventually(t, 10*time.Second, "not fixed after the retries", func() bool {
		return !slices.Contains(h.sourceRanges("evt-retry"), "0.0.0.0/0")
	})
	if st := c.Stats(); st.Retried != 2 {
		t.Fatalf("stats: %+v", st)
	}
	drift := h.feedOf(firewallBase + "evt-retry")[0]
	eventually(t, 5*time.Second, "no decision recorded", func() bool { return len(h.decisionsOf(drift)) > 0 })
	if ds := h.decisionsOf(drift); len(ds) != 1 {
		t.Fatalf("decisions: %+v", ds)
	}
}

// A feed per content type reports one change of an asset twice, its resource in one
// message and its IAM policy in another: neither is a duplicate of the other.
func TestContentTypesAreSeparateChanges(t *testing.T) {
	h := newHarness(t, harnessOptions{manual: true})
	c := h.start(2, nil)
	h.do(http.MethodPost, "v3/projects/acme-prod:setIamPolicy", map[string]any{"policy": map[string]any{"bindings": []map[string]any{
		{"role": "roles/owner", "members": []string{"group:gcp-admins@acme.example"}},
		{"role": "roles/viewer", "members": []string{"allUsers"}}}}})
	msgs := h.feedOf("//cloudresourcemanager.googleapis.com/projects/100000000001")
	if len(msgs) != 1 {
		t.Fatalf("%d feed messages for the project", len(msgs))
	}
	var whole map[string]any
	if err := json.Unmarshal(msgs[0], &whole); err != nil {
		t.Fatal(err)
	}
	split := func(drop string) []byte {
		asset := map[string]any{}
		for k, v := range whole["asset"].(map[string]any) {
			if k != drop {
				asset[k] = v
			}
		}
		b, err := json.Marshal(map[string]any{"asset": asset, "window": whole["window"], "priorAssetState": "PRESENT"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ctx := context.Background()
	for _, m := range [][]byte{split("iamPolicy"), split("resource")} {
		if err := h.publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "both messages were not handled", func() bool { st := c.Stats(); return st.Clean+st.Decided == 2 })
	if st := c.Stats(); st.Duplicate != 0 || st.Stale != 0 || st.Decided != 1 {
		t.Fatalf("stats: %+v", st)
	}
	// The policy's public member was decided, once.
	ds := h.decisionsOf(split("resource"))
	if len(ds) == 0 || !slices.ContainsFunc(ds, func(d ledger.Decision) bool { return d.Rule == "iam-public-member" }) {
		t.Fatalf("decisions on the policy: %+v", ds)
	}
}
