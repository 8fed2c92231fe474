package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// The asset feed: like a Cloud Asset Inventory real-time feed, the sandbox can publish a
// message for every change to its state. Each message is a TemporalAsset as CAI writes it
// to Pub/Sub (camelCase JSON):
//
//	{"asset": {...}, "priorAsset": {...}, "priorAssetState": "PRESENT", "window": {"startTime": "..."}, "deleted": false}
//
// The asset carries its resource and its IAM policy together. Messages are published after
// the change, outside the state's lock, in the order of the changes, before the call that
// made the change is answered; the update times of one asset strictly increase from one
// message to the next. A call that changes nothing (a failed operation, an error) publishes
// nothing.

// FeedPublisher publishes one feed message, e.g. to a Pub/Sub topic.
type FeedPublisher func(ctx context.Context, data []byte) error

// Prior asset states of a feed message, as CAI names them.
const (
	PriorAssetPresent      = "PRESENT"
	PriorAssetDoesNotExist = "DOES_NOT_EXIST"
	PriorAssetDeleted      = "DELETED"
)

// FeedMessage is one message of the asset feed (google.cloud.asset.v1.TemporalAsset).
type FeedMessage struct {
	Asset           *inventory.Asset `json:"asset"`
	PriorAsset      *inventory.Asset `json:"priorAsset,omitempty"`
	PriorAssetState string           `json:"priorAssetState"`
	Window          FeedWindow       `json:"window"`
	Deleted         bool             `json:"deleted,omitempty"`
}

// FeedWindow is when the change happened.
type FeedWindow struct {
	StartTime time.Time `json:"startTime"`
}

// FeedStats counts the feed's messages.
type FeedStats struct {
	Published int64
	Failed    int64
	// LastError is the last publishing error, if any.
	LastError string
}

// assetFeed is the server's asset feed. publish and last are guarded by Server.mu; the queue by
// qmu. pubMu serialises publishing, so messages leave in the order they were queued.
type assetFeed struct {
	publish FeedPublisher
	last    map[string]time.Time // the time of the last message per asset
	gone    map[string]bool      // assets deleted since the feed was set

	enabled atomic.Bool

	qmu   sync.Mutex
	queue []feedItem

	pubMu     sync.Mutex
	published atomic.Int64
	failed    atomic.Int64
	lastErr   atomic.Value // string
}

type feedItem struct {
	publish FeedPublisher
	data    []byte
}

// SetFeed makes the server publish a feed message after each change to its state, through
// publish; nil stops the feed. Publishing errors are counted (FeedStats), not answered.
func (s *Server) SetFeed(publish FeedPublisher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feed.publish = publish
	if s.feed.last == nil {
		s.feed.last = map[string]time.Time{}
		s.feed.gone = map[string]bool{}
	}
	s.feed.enabled.Store(publish != nil)
}

// FeedStats says how many feed messages were published and how many failed.
func (s *Server) FeedStats() FeedStats {
	st := FeedStats{Published: s.feed.published.Load(), Failed: s.feed.failed.Load()}
	if v, ok := s.feed.lastErr.Load().(string); ok {
		st.LastError = v
	}
	return st
}

// feedMethods are the methods that change state, by the last part of their name.
var feedMethods = map[string]bool{"insert": true, "patch": true, "update": true, "delete": true,
	"setIamPolicy": true, "disable": true, "enable": true, "drift": true,
	"setCommonInstanceMetadata": true, "setMetadata": true, "deleteAccessConfig": true, "addAccessConfig": true,
	"setPrivateIpGoogleAccess": true}

func feedMutating(rt *route) bool {
	return rt.httpMethod != http.MethodGet && feedMethods[rt.method[strings.LastIndexByte(rt.method, '.')+1:]]
}

// handleFed runs a call's method and, when the feed is on and the method changes state,
// queues a message for each asset it changed. The caller holds s.mu.
func (s *Server) handleFed(c *call) response {
	if s.feed.publish == nil || !feedMutating(c.route) {
		return c.route.handle(s, c)
	}
	names := s.feedTargets(c)
	before := make([]*inventory.Asset, len(names))
	for i, n := range names {
		if e := s.st.entries[n]; e != nil {
			before[i] = feedAsset(e)
		}
	}
	resp := c.route.handle(s, c)
	for i, n := range names {
		var after *inventory.Asset
		if e := s.st.entries[n]; e != nil {
			after = feedAsset(e)
		}
		s.queueFeed(n, before[i], after)
	}
	return resp
}

// queueFeed queues the message of one asset's change, if it changed. The caller holds s.mu.
func (s *Server) queueFeed(name string, before, after *inventory.Asset) {
	if before == nil && after == nil {
		return
	}
	if before != nil && after != nil {
		b, errB := json.Marshal(before)
		a, errA := json.Marshal(after)
		if errB == nil && errA == nil && bytes.Equal(a, b) {
			return
		}
	}
	f := &s.feed
	at := s.st.now()
	if after != nil && !after.UpdateTime.IsZero() {
		at = after.UpdateTime
	}
	if last, ok := f.last[name]; ok && !at.After(last) {
		at = last.Add(time.Microsecond)
	}
	f.last[name] = at
	msg := FeedMessage{Asset: after, PriorAsset: before, Window: FeedWindow{StartTime: at.UTC()}}
	switch {
	case before != nil:
		msg.PriorAssetState = PriorAssetPresent
	case f.gone[name]:
		msg.PriorAssetState = PriorAssetDeleted
	default:
		msg.PriorAssetState = PriorAssetDoesNotExist
	}
	if after == nil {
		msg.Asset, msg.Deleted = before, true
		f.gone[name] = true
	} else {
		after.UpdateTime = at.UTC()
		delete(f.gone, name)
	}
	data, err := json.Marshal(msg)
	if err != nil {
		f.failed.Add(1)
		f.lastErr.Store(fmt.Sprintf("encoding the feed message of %s: %v", name, err))
		return
	}
	f.qmu.Lock()
	f.queue = append(f.queue, feedItem{publish: f.publish, data: data})
	f.qmu.Unlock()
}

// flushFeed publishes the queued messages, in order, once the call that changed the state
// has released the lock. A call that changes state waits until its messages are out.
func (s *Server) flushFeed(ctx context.Context, c *call) {
	f := &s.feed
	if !f.enabled.Load() || !feedMutating(c.route) {
		return
	}
	ctx = context.WithoutCancel(ctx) // the change is made: its message goes out
	f.pubMu.Lock()
	defer f.pubMu.Unlock()
	f.qmu.Lock()
	items := f.queue
	f.queue = nil
	f.qmu.Unlock()
	for _, it := range items {
		if err := it.publish(ctx, it.data); err != nil {
			f.failed.Add(1)
			f.lastErr.Store(fmt.Sprintf("publishing a feed message: %v", err))
			continue
		}
		f.published.Add(1)
	}
}

// feedTargets names the entries a state-changing call may change, as they are named in
// the state. The caller holds s.mu.
func (s *Server) feedTargets(c *call) []string {
	switch c.route.service {
	case ServiceCompute:
		return s.computeFeedTargets(c)
	case ServiceResourceManager:
		kind, _, _ := strings.Cut(c.route.method, ".")
		if e, aerr := s.crmPolicyTarget(kind, c, false); aerr == nil && e != nil {
			return []string{e.name}
		}
		switch kind {
		case "folders":
			return []string{crmPrefix + "folders/" + c.params["folder"]}
		case "organizations":
			return []string{crmPrefix + "organizations/" + c.params["organization"]}
		}
	case ServiceIAM:
		if strings.HasPrefix(c.route.method, "projects.serviceAccounts.keys.") {
			if k, aerr := s.findKey(c, ""); aerr == nil {
				return []string{k.name}
			}
			return nil
		}
		if a, aerr := s.findAccount(c, ""); aerr == nil {
			return []string{a.name}
		}
	case serviceSandbox:
		if name, err := s.driftTarget(c.body); err == nil {
			return []string{name}
		}
	}
	return nil
}

// feedCollections are the compute collections the sandbox serves, by plural.
var feedCollections = func() map[string]collection {
	m := map[string]collection{}
	for _, t := range []string{inventory.TypeFirewall, inventory.TypeNetwork, inventory.TypeSubnetwork, inventory.TypeInstance,
		typeInstanceTemplate, typeRoute, typeForwardingRule, typeRouter, typeVpnGateway, typeTargetVpnGateway, typeVpnTunnel} {
		col, _ := collectionOf(t)
		m[col.plural] = col
	}
	return m
}()

func (s *Server) computeFeedTargets(c *call) []string {
	plural, verb, _ := strings.Cut(c.route.method, ".")
	if plural == "projects" { // setCommonInstanceMetadata: the project's compute settings
		if proj, aerr := s.computeProject(c); aerr == nil {
			return []string{computeProjectName(proj)}
		}
		return nil
	}
	col, ok := feedCollections[plural]
	if !ok {
		return nil
	}
	proj, aerr := s.computeProject(c)
	if aerr != nil {
		return nil
	}
	short := c.params["resource"]
	if verb == "insert" {
		var body struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(c.body, &body); err != nil {
			return nil
		}
		short = body.Name
	}
	if short == "" {
		return nil
	}
	name := computeName(proj, col.scopeOf(c), col.plural, short)
	names := []string{name}
	// Deleting a network deletes its subnetworks and the routes Google made for it.
	if e := s.st.entries[name]; e != nil && verb == "delete" && col.assetType == inventory.TypeNetwork {
		for _, u := range s.st.networkUsers(e) {
			if u.assetType == inventory.TypeSubnetwork || u.assetType == typeRoute {
				names = append(names, u.name)
			}
		}
	}
	return names
}

// feedAsset renders one entry as a CAI asset, as state.assets does.
func feedAsset(e *entry) *inventory.Asset {
	a := &inventory.Asset{
		Name:       e.name,
		AssetType:  e.assetType,
		Ancestors:  append([]string(nil), e.ancestors...),
		UpdateTime: e.updateTime,
		IAMPolicy:  clonePolicy(e.policy),
	}
	if e.data != nil {
		r := e.resource
		if b, err := json.Marshal(e.data); err == nil {
			r.Data = b
		}
		a.Resource = &r
	}
	return a
}

// Drift: the sandbox's own endpoint that changes an asset as a change made outside the
// APIs zerodrift watches would (the console, another tool), and creates compute resources,
// service accounts and keys, which no emulated API creates.
//
//	POST /sandbox/v1/drift   body: one CAI asset (either key style)
//
// An existing asset gets the resource data given (replacing its data) and the IAM policy
// given (replacing its policy); what the body leaves out is kept. A new asset is created
// as a scenario's asset would be. The answer is the asset as it now is.

// decodeDriftAsset reads the body of a drift call: one CAI asset.
func decodeDriftAsset(body []byte) (*inventory.Asset, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, fmt.Errorf("the body is not JSON: %w", err)
	}
	var got *inventory.Asset
	_, err := inventory.DecodeCAI(context.Background(), &compact, inventory.DecodeOptions{Name: "drift"}, func(a *inventory.Asset) error {
		if got != nil {
			return fmt.Errorf("the body holds more than one asset")
		}
		got = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, fmt.Errorf("the body holds no asset")
	}
	return got, nil
}

// driftTarget is the name in the state of the asset a drift call names.
func (s *Server) driftTarget(body []byte) (string, error) {
	a, err := decodeDriftAsset(body)
	if err != nil {
		return "", err
	}
	return s.driftName(a)
}

// driftName canonicalises an asset's name as the state names it: a compute resource named
// with its project's number is named with the project's ID.
func (s *Server) driftName(a *inventory.Asset) (string, error) {
	e := &entry{name: a.Name, assetType: a.AssetType}
	if a.AssetType == inventory.TypeComputeProject {
		p, err := computeProjectOf(a.Name)
		if err != nil {
			return "", err
		}
		return computeProjectName(s.st.projectID(p)), nil
	}
	if _, ok := collectionOf(a.AssetType); !ok {
		return a.Name, nil
	}
	if err := s.st.parseComputeName(e); err != nil {
		return "", err
	}
	return e.name, nil
}

// drift answers POST /sandbox/v1/drift.
func (s *Server) drift(c *call) response {
	a, err := decodeDriftAsset(c.body)
	if err != nil {
		return fail(errBadRequest(err.Error()))
	}
	name, err := s.driftName(a)
	if err != nil {
		return fail(errBadRequest(err.Error()))
	}
	now := s.st.now()
	if e := s.st.entries[name]; e != nil {
		if a.AssetType != e.assetType {
			return fail(errBadRequest(fmt.Sprintf("asset %s is a %s, not a %s", name, e.assetType, a.AssetType)))
		}
		if a.Resource != nil && len(a.Resource.Data) > 0 {
			d, err := decodeObject(a.Resource.Data)
			if err != nil {
				return fail(errBadRequest(fmt.Sprintf("resource.data: %v", err)))
			}
			if d == nil {
				d = map[string]any{}
			}
			for _, k := range []string{"kind", "name", "id", "selfLink", "creationTimestamp"} {
				if _, ok := d[k]; !ok && e.data[k] != nil {
					d[k] = e.data[k]
				}
			}
			before := e.data
			e.data = d
			if _, ok := collectionOf(e.assetType); ok || e.assetType == inventory.TypeComputeProject {
				s.st.refreshMetadataFingerprint(e, before)
			}
			if _, ok := collectionOf(e.assetType); ok {
				s.st.fillCompute(e, now)
			} else if e.assetType == inventory.TypeComputeProject {
				s.st.fillComputeProject(e, now)
			}
		}
		if a.IAMPolicy != nil {
			e.policy = clonePolicy(a.IAMPolicy)
			s.st.bumpEtag(e)
		}
		e.updateTime = now
		return reply(feedAsset(e))
	}
	switch a.AssetType {
	case inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization:
		return fail(errBadRequest(fmt.Sprintf("drift cannot create a %s: only the scenario creates them", a.AssetType)))
	}
	a.UpdateTime = now
	e, err := newEntry(a)
	if err != nil {
		return fail(errBadRequest(err.Error()))
	}
	if err := s.st.addResource(e); err != nil {
		return fail(errBadRequest(err.Error()))
	}
	if len(e.ancestors) == 0 && e.project != "" {
		e.ancestors = s.st.projectAncestors(e.project)
	}
	if e.policy != nil {
		s.st.bumpEtag(e)
	}
	s.st.entries[e.name] = e
	return reply(feedAsset(e))
}
