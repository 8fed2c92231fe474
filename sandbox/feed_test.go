package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

// feedRecorder collects the feed's messages.
type feedRecorder struct {
	mu   sync.Mutex
	msgs []FeedMessage
	fail error
}

func (r *feedRecorder) publish(_ context.Context, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	var m FeedMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	r.msgs = append(r.msgs, m)
	return nil
}

// take returns the messages published since the last take.
func (r *feedRecorder) take() []FeedMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

func feedCall(t *testing.T, method, url string, body any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func feedRanges(t *testing.T, a *inventory.Asset) string {
	t.Helper()
	fw, err := a.Firewall()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(fw.SourceRanges, ",")
}

func TestFeedFirewallLifecycle(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	rec := &feedRecorder{}
	srv.SetFeed(rec.publish)
	fws := url + "/compute/v1/projects/" + prodID + "/global/firewalls"
	name := computePrefix + "projects/" + prodID + "/global/firewalls/feed-ssh"

	if code := feedCall(t, http.MethodPost, fws, map[string]any{"name": "feed-ssh", "sourceRanges": []string{"0.0.0.0/0"},
		"allowed": []map[string]any{{"IPProtocol": "tcp", "ports": []string{"22"}}}}); code != http.StatusOK {
		t.Fatalf("insert: %d", code)
	}
	// The message is out before the call is answered.
	msgs := rec.take()
	if len(msgs) != 1 {
		t.Fatalf("insert published %d messages, want 1", len(msgs))
	}
	ins := msgs[0]
	if ins.Asset.Name != name || ins.Asset.AssetType != inventory.TypeFirewall || ins.PriorAsset != nil ||
		ins.PriorAssetState != PriorAssetDoesNotExist || ins.Deleted || feedRanges(t, ins.Asset) != "0.0.0.0/0" {
		t.Fatalf("insert message: %+v", ins)
	}
	if !ins.Asset.UpdateTime.Equal(ins.Window.StartTime) || ins.Asset.UpdateTime.IsZero() || len(ins.Asset.Ancestors) == 0 {
		t.Fatalf("insert message times/ancestors: update %v window %v ancestors %v", ins.Asset.UpdateTime, ins.Window.StartTime, ins.Asset.Ancestors)
	}

	if code := feedCall(t, http.MethodPatch, fws+"/feed-ssh", map[string]any{"sourceRanges": []string{"35.235.240.0/20"}}); code != http.StatusOK {
		t.Fatalf("patch: %d", code)
	}
	msgs = rec.take()
	if len(msgs) != 1 || msgs[0].PriorAssetState != PriorAssetPresent || msgs[0].PriorAsset == nil ||
		feedRanges(t, msgs[0].PriorAsset) != "0.0.0.0/0" || feedRanges(t, msgs[0].Asset) != "35.235.240.0/20" {
		t.Fatalf("patch messages: %+v", msgs)
	}
	patched := msgs[0]
	if !patched.Window.StartTime.After(ins.Window.StartTime) {
		t.Fatalf("times do not increase: %v then %v", ins.Window.StartTime, patched.Window.StartTime)
	}

	// Reads, refused writes and writes that change nothing publish nothing.
	feedCall(t, http.MethodGet, fws+"/feed-ssh", nil)
	feedCall(t, http.MethodGet, fws, nil)
	if code := feedCall(t, http.MethodPatch, fws+"/feed-ssh", map[string]any{"sourceRanges": []string{"not-a-range"}}); code != http.StatusBadRequest {
		t.Fatalf("invalid patch: %d", code)
	}
	if code := feedCall(t, http.MethodPatch, fws+"/missing", map[string]any{"disabled": true}); code != http.StatusNotFound {
		t.Fatalf("patch of a missing firewall: %d", code)
	}
	if msgs := rec.take(); len(msgs) != 0 {
		t.Fatalf("reads and refused writes published %+v", msgs)
	}

	if code := feedCall(t, http.MethodDelete, fws+"/feed-ssh", nil); code != http.StatusOK {
		t.Fatalf("delete: %d", code)
	}
	msgs = rec.take()
	if len(msgs) != 1 || !msgs[0].Deleted || msgs[0].Asset == nil || msgs[0].Asset.Name != name ||
		msgs[0].PriorAssetState != PriorAssetPresent || !msgs[0].Window.StartTime.After(patched.Window.StartTime) {
		t.Fatalf("delete messages: %+v", msgs)
	}
	if code := feedCall(t, http.MethodPost, fws, map[string]any{"name": "feed-ssh", "sourceRanges": []string{"10.0.0.0/8"},
		"allowed": []map[string]any{{"IPProtocol": "tcp"}}}); code != http.StatusOK {
		t.Fatalf("insert again: %d", code)
	}
	if msgs = rec.take(); len(msgs) != 1 || msgs[0].PriorAssetState != PriorAssetDeleted {
		t.Fatalf("re-insert messages: %+v", msgs)
	}
	if st := srv.FeedStats(); st.Published != 4 || st.Failed != 0 {
		t.Fatalf("stats: %+v", st)
	}

	// Without a feed nothing is published.
	srv.SetFeed(nil)
	feedCall(t, http.MethodDelete, fws+"/feed-ssh", nil)
	if msgs := rec.take(); len(msgs) != 0 {
		t.Fatalf("published without a feed: %+v", msgs)
	}
}

func TestFeedPoliciesKeysAndDrift(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	rec := &feedRecorder{}
	srv.SetFeed(rec.publish)

	// A project's setIamPolicy: the message names the project as CAI does, by number.
	policy := map[string]any{"policy": map[string]any{"bindings": []map[string]any{
		{"role": "roles/editor", "members": []string{"user:mallory@example.com"}}}}}
	if code := feedCall(t, http.MethodPost, url+"/v3/projects/"+prodID+":setIamPolicy", policy); code != http.StatusOK {
		t.Fatalf("setIamPolicy: %d", code)
	}
	msgs := rec.take()
	if len(msgs) != 1 || msgs[0].Asset.Name != crmPrefix+"projects/"+prodNumber || msgs[0].Asset.IAMPolicy == nil ||
		len(msgs[0].Asset.IAMPolicy.Bindings) != 1 || msgs[0].PriorAsset == nil {
		t.Fatalf("setIamPolicy messages: %+v", msgs)
	}

	// A key disabled.
	keyPath := url + "/v1/projects/" + prodID + "/serviceAccounts/" + appEmail + "/keys/1a2b3c4d5e:disable"
	if code := feedCall(t, http.MethodPost, keyPath, map[string]any{}); code != http.StatusOK {
		t.Fatalf("disable: %d", code)
	}
	msgs = rec.take()
	if len(msgs) != 1 || msgs[0].Asset.AssetType != inventory.TypeServiceAccountKey || !strings.HasSuffix(msgs[0].Asset.Name, "/keys/1a2b3c4d5e") {
		t.Fatalf("disable messages: %+v", msgs)
	}
	if k, err := msgs[0].Asset.ServiceAccountKey(); err != nil || !k.Disabled {
		t.Fatalf("disabled key: %+v, %v", k, err)
	}

	// Drift: a new user-managed key, then a firewall changed outside the APIs.
	key := iamPrefix + "projects/" + prodID + "/serviceAccounts/" + appUID + "/keys/77drift77"
	drift := map[string]any{"name": key, "assetType": inventory.TypeServiceAccountKey,
		"resource": map[string]any{"data": map[string]any{"keyType": "USER_MANAGED", "validAfterTime": "2020-01-01T00:00:00Z"}}}
	if code := feedCall(t, http.MethodPost, url+"/sandbox/v1/drift", drift); code != http.StatusOK {
		t.Fatalf("drift (new key): %d", code)
	}
	msgs = rec.take()
	if len(msgs) != 1 || msgs[0].Asset.Name != key || msgs[0].PriorAssetState != PriorAssetDoesNotExist {
		t.Fatalf("drift (new key) messages: %+v", msgs)
	}
	fw := computePrefix + "projects/" + prodNumber + "/global/firewalls/allow-internal" // named by number: canonicalised
	drift = map[string]any{"name": fw, "assetType": inventory.TypeFirewall,
		"resource": map[string]any{"data": map[string]any{"sourceRanges": []string{"0.0.0.0/0"}, "allowed": []map[string]any{{"IPProtocol": "all"}}}}}
	if code := feedCall(t, http.MethodPost, url+"/sandbox/v1/drift", drift); code != http.StatusOK {
		t.Fatalf("drift (firewall): %d", code)
	}
	msgs = rec.take()
	if len(msgs) != 1 || msgs[0].Asset.Name != computePrefix+"projects/"+prodID+"/global/firewalls/allow-internal" ||
		feedRanges(t, msgs[0].Asset) != "0.0.0.0/0" || msgs[0].PriorAsset == nil {
		t.Fatalf("drift (firewall) messages: %+v", msgs)
	}
	if d := msgs[0].Asset.Resource.Data; !bytes.Contains(d, []byte(`"selfLink"`)) || !bytes.Contains(d, []byte(`"id"`)) {
		t.Fatalf("drift dropped the firewall's identity: %s", d)
	}
	if code := feedCall(t, http.MethodPost, url+"/sandbox/v1/drift", map[string]any{"name": crmPrefix + "projects/999", "assetType": inventory.TypeProject}); code != http.StatusBadRequest {
		t.Fatalf("drift creating a project: %d", code)
	}
	if msgs := rec.take(); len(msgs) != 0 {
		t.Fatalf("a refused drift published %+v", msgs)
	}
}

// Messages leave in the order of the changes, with strictly increasing times per asset,
// however many calls change the state at once.
func TestFeedOrderUnderConcurrency(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	rec := &feedRecorder{}
	srv.SetFeed(rec.publish)
	fw := url + "/compute/v1/projects/" + prodID + "/global/firewalls/allow-internal"
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			feedCall(t, http.MethodPatch, fw, map[string]any{"description": fmt.Sprintf("change %d", i)})
		})
	}
	wg.Wait()
	msgs := rec.take()
	if len(msgs) != 40 {
		t.Fatalf("%d messages, want 40", len(msgs))
	}
	for i := 1; i < len(msgs); i++ {
		if !msgs[i].Window.StartTime.After(msgs[i-1].Window.StartTime) {
			t.Fatalf("message %d at %v is not after message %d at %v", i, msgs[i].Window.StartTime, i-1, msgs[i-1].Window.StartTime)
		}
		// Each message's prior state is the previous message's state.
		prev, _ := json.Marshal(msgs[i-1].Asset.Resource)
		prior, _ := json.Marshal(msgs[i].PriorAsset.Resource)
		if !bytes.Equal(prev, prior) {
			t.Fatalf("message %d's prior state is not message %d's state", i, i-1)
		}
	}
}

func TestFeedPublishErrorsAreCounted(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	rec := &feedRecorder{fail: errors.New("topic gone")}
	srv.SetFeed(rec.publish)
	code := feedCall(t, http.MethodPatch, url+"/compute/v1/projects/"+prodID+"/global/firewalls/allow-internal", map[string]any{"description": "x"})
	if code != http.StatusOK {
		t.Fatalf("patch: %d", code)
	}
	if st := srv.FeedStats(); st.Failed != 1 || st.Published != 0 || !strings.Contains(st.LastError, "topic gone") {
		t.Fatalf("stats: %+v", st)
	}
}
