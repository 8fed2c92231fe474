package events

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestDecodeFeedMessages(t *testing.T) {
	const fw = "//compute.googleapis.com/projects/p1/global/firewalls/ssh"
	camel := `{"asset": {"name": "` + fw + `", "assetType": "compute.googleapis.com/Firewall",
		"ancestors": ["projects/1"], "updateTime": "2026-11-01T10:00:00.5Z",
		"resource": {"version": "v1", "discoveryName": "Firewall", "data": {"name": "ssh", "sourceRanges": ["0.0.0.0/0"]}}},
	  "priorAsset": {"name": "` + fw + `", "assetType": "compute.googleapis.com/Firewall", "resource": {"data": {"name": "ssh"}}},
	  "priorAssetState": "PRESENT", "window": {"startTime": "2026-11-01T10:00:00.5Z"}}`
	c, err := Decode([]byte(camel))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 10, 0, 0, 5e8, time.UTC)
	if c.Asset.Name != fw || c.Asset.AssetType != inventory.TypeFirewall || c.Prior == nil || c.PriorState != PriorPresent ||
		c.Deleted || !c.Time.Equal(at) || c.Content != "RESOURCE" || c.Key != fw+"|RESOURCE@2026-11-01T10:00:00.5Z" {
		t.Fatalf("camelCase: %+v", c)
	}
	if f, err := c.Asset.Firewall(); err != nil || len(f.SourceRanges) != 1 {
		t.Fatalf("firewall: %+v, %v", f, err)
	}

	// snake_case, a deletion, the time from the window.
	snake := `{"asset": {"name": "` + fw + `", "asset_type": "compute.googleapis.com/Firewall", "update_time": "2026-11-01T09:00:00Z"},
	  "prior_asset_state": "PRESENT", "window": {"start_time": "2026-11-01T11:00:00Z"}, "deleted": true}`
	c, err = Decode([]byte(snake))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Deleted || c.Prior != nil || c.PriorState != PriorPresent || !c.Time.Equal(time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("snake_case: %+v", c)
	}

	// No window: the asset's update time. No time at all: a digest of the message.
	c, err = Decode([]byte(`{"asset": {"name": "` + fw + `", "assetType": "x", "updateTime": "2026-11-01T08:00:00Z"}}`))
	if err != nil || !c.Time.Equal(time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("update time: %+v, %v", c, err)
	}
	a, _ := Decode([]byte(`{"asset": {"name": "` + fw + `", "assetType": "x"}}`))
	b, _ := Decode([]byte(`{"asset": {"name": "` + fw + `", "assetType": "x"}}`))
	d, _ := Decode([]byte(`{"asset": {"name": "` + fw + `", "assetType": "x", "resource": {"data": {}}}}`))
	if a == nil || !a.Time.IsZero() || a.Key != b.Key || a.Key == d.Key || !strings.HasPrefix(a.Key, fw+"|NONE#") {
		t.Fatalf("keys without a time: %+v %+v %+v", a, b, d)
	}

	// Feeds of different content types report one change in separate messages.
	res, _ := Decode([]byte(`{"asset": {"name": "` + fw + `", "assetType": "x", "resource": {"data": {}}}, "window": {"startTime": "2026-11-01T08:00:00Z"}}`))
	pol, _ := Decode([]byte(`{"asset": {"name": "` + fw + `", "assetType": "x", "iamPolicy": {"bindings": []}}, "window": {"startTime": "2026-11-01T08:00:00Z"}}`))
	if res == nil || pol == nil || res.Content != "RESOURCE" || pol.Content != "IAM_POLICY" || res.Key == pol.Key || res.stream() == pol.stream() {
		t.Fatalf("content types: %+v %+v", res, pol)
	}

	for _, bad := range []string{
		`not json`,
		`{}`,
		`{"asset": null}`,
		`{"asset": {"assetType": "x"}}`,
		`{"asset": {"name": "n"}}`,
		`{"asset": {"name": "n", "assetType": "x", "updateTime": "yesterday"}}`,
		`{"asset": {"name": "n", "assetType": "x"}, "window": {"startTime": "soon"}}`,
		`{"asset": {"name": "n", "assetType": "x"}, "priorAsset": {"name": ""}}`,
		`{"asset": {"name": "n", "assetType": "x", "resource": {"data": [1]}}}`,
	} {
		if c, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) = %+v, want an error", bad, c)
		}
	}
}

func TestSeenVerdictsAndBound(t *testing.T) {
	s := newSeen(2)
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	if s.verdict("a", t1) != fresh {
		t.Fatal("unknown asset not fresh")
	}
	s.record("a", t2)
	s.record("a", t1) // an older record never goes back
	for _, c := range []struct {
		t    time.Time
		want verdict
	}{{t1, stale}, {t2, duplicate}, {t2.Add(time.Nanosecond), fresh}, {time.Time{}, fresh}} {
		if got := s.verdict("a", c.t); got != c.want {
			t.Errorf("verdict at %v = %d, want %d", c.t, got, c.want)
		}
	}
	s.record("b", t1)
	s.record("a", t2) // a is the most recent again
	s.record("c", t1) // evicts b
	if s.verdict("b", t1) != fresh || s.verdict("a", t1) != stale || s.verdict("c", t1) != duplicate {
		t.Fatal("the bound evicted the wrong asset")
	}
	if s.order.Len() != 2 || len(s.byKey) != 2 {
		t.Fatalf("seen holds %d/%d assets, want 2", s.order.Len(), len(s.byKey))
	}
}

func TestAssetLocks(t *testing.T) {
	l := newAssetLocks()
	unlock, err := l.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.lock(context.Background(), "b") // another asset does not wait
	if err != nil {
		t.Fatal(err)
	}
	other()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a: %v", err)
	}
	unlock()
	again, err := l.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	again()
	if len(l.m) != 0 {
		t.Fatalf("locks left behind: %v", l.m)
	}
}

func TestProjectContext(t *testing.T) {
	reads := 0
	project := &inventory.Asset{Name: "//cloudresourcemanager.googleapis.com/projects/1", AssetType: inventory.TypeProject,
		Resource: &inventory.Resource{Data: []byte(`{"projectId": "p1", "projectNumber": "1"}`)}}
	now := time.Unix(1000, 0)
	p := &ProjectContext{TTL: time.Minute, Now: func() time.Time { return now },
		Read: func(_ context.Context, id string) (*inventory.Asset, error) {
			reads++
			if id == "broken" {
				return nil, errors.New("unreachable")
			}
			if id != "p1" {
				return nil, nil
			}
			return project, nil
		}}
	ctx := context.Background()
	fw := &inventory.Asset{Name: "//compute.googleapis.com/projects/p1/global/firewalls/x", AssetType: inventory.TypeFirewall}
	for range 3 {
		got, err := p.Context(ctx, fw)
		if err != nil || len(got) != 1 || got[0] != project {
			t.Fatalf("context: %v, %v", got, err)
		}
	}
	if reads != 1 {
		t.Fatalf("%d reads, want 1 (cached)", reads)
	}
	now = now.Add(2 * time.Minute)
	if _, err := p.Context(ctx, fw); err != nil || reads != 2 {
		t.Fatalf("after the TTL: %d reads, %v", reads, err)
	}
	// A project's own change refreshes it, and has no context itself.
	changed := &inventory.Asset{Name: project.Name, AssetType: inventory.TypeProject,
		Resource: &inventory.Resource{Data: []byte(`{"projectId": "p1", "labels": {"zerodrift-exempt": "x"}}`)}}
	if got, err := p.Context(ctx, changed); err != nil || got != nil {
		t.Fatalf("a project's context: %v, %v", got, err)
	}
	if got, _ := p.Context(ctx, fw); len(got) != 1 || got[0] != changed || reads != 2 {
		t.Fatalf("after the project's change: %v (%d reads)", got, reads)
	}
	if got, err := p.Context(ctx, &inventory.Asset{Name: "//compute.googleapis.com/projects/gone/global/firewalls/x"}); err != nil || got != nil {
		t.Fatalf("unknown project: %v, %v", got, err)
	}
	if _, err := p.Context(ctx, &inventory.Asset{Name: "//compute.googleapis.com/projects/broken/global/firewalls/x"}); err == nil {
		t.Fatal("a read error was not returned")
	}
	if got, err := p.Context(ctx, &inventory.Asset{Name: "//cloudresourcemanager.googleapis.com/folders/9", AssetType: inventory.TypeFolder}); err != nil || got != nil {
		t.Fatalf("a folder's context: %v, %v", got, err)
	}
}

func TestConsumerConfiguration(t *testing.T) {
	for _, c := range []struct {
		c           *Consumer
		project, id string
		err         string
	}{
		{&Consumer{Subscription: "projects/p/subscriptions/s"}, "p", "projects/p/subscriptions/s", ""},
		{&Consumer{Project: "q", Subscription: "s"}, "q", "s", ""},
		{&Consumer{Subscription: "s"}, "", "", "needs a project"},
		{&Consumer{Project: "q"}, "", "", "no subscription"},
		{&Consumer{Project: "q", Subscription: "topics/t"}, "", "", "neither an ID"},
	} {
		project, id, err := c.c.projectAndName()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.c.Subscription, err, c.err)
			}
			continue
		}
		if err != nil || project != c.project || id != c.id {
			t.Errorf("%s: %q %q %v", c.c.Subscription, project, id, err)
		}
	}
	if err := (&Consumer{Subscription: "projects/p/subscriptions/s"}).Run(context.Background()); err == nil {
		t.Error("Run without a handler succeeded")
	}
}
