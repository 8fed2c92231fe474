package remediators_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/instance"
	"github.com/zerodrift/zerodrift/sandbox"
)

func setKey(key, value string) remediators.Request {
	return remediators.Request{Params: map[string]any{"key": key, "value": value}}
}

// Setting a key keeps every other item, in its place; Restore puts the key's value back.
// The zone operations are polled until done.
func TestSetInstanceMetadataKeepsOtherItems(t *testing.T) {
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{PendingOperationPolls: 1}))
	a := e.action(instance.ActionSetMetadata)
	app := instanceName(edgeProject, edgeZone, "app-1")
	snap, p := e.plan(a, app, setKey("block-project-ssh-keys", "FALSE"))
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	after := e.snapshot(a, app)
	wantItems(t, after, "metadata", "startup-script=echo hi", "enable-oslogin=FALSE", "block-project-ssh-keys=FALSE")
	if before, now := field(t, snap.Data, "metadata"), field(t, after.Data, "metadata"); before == now {
		t.Error("the metadata's fingerprint did not change")
	}
	if calls(e.srv, "instances.setMetadata", http.StatusOK) != 1 || calls(e.srv, "zoneOperations.get", http.StatusOK) != 2 {
		t.Errorf("calls %+v", e.srv.Calls())
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	wantItems(t, e.snapshot(a, app), "metadata", "startup-script=echo hi", "enable-oslogin=FALSE", "block-project-ssh-keys=true")
}

// Values Compute Engine reads as the same boolean are the same: nothing to do.
func TestSetMetadataSameBoolean(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionSetMetadata)
	app := instanceName(edgeProject, edgeZone, "app-1")
	proj := computeProjectName(edgeProject)
	for _, c := range []struct{ resource, key, value string }{
		{app, "enable-oslogin", "FALSE"},
		{app, "enable-oslogin", "false"},
		{app, "enable-oslogin", "0"},
		{app, "block-project-ssh-keys", "TRUE"},
		{app, "block-project-ssh-keys", "1"},
		{instanceName(edgeProject, edgeZone, "web-2"), "serial-port-enable", "TRUE"},
		{proj, "serial-port-enable", "true"},
		{proj, "serial-port-enable", "yes"},
	} {
		if err := e.planErr(a, c.resource, setKey(c.key, c.value)); !errors.Is(err, remediators.ErrNothingToDo) {
			t.Errorf("%s %s=%s: %v, want ErrNothingToDo", c.resource, c.key, c.value, err)
		}
	}
	// A different boolean, or the key absent, is a change.
	for _, c := range []struct{ resource, key, value, summary string }{
		{app, "enable-oslogin", "true", "instance metadata enable-oslogin FALSE → true; every other item kept"},
		{proj, "serial-port-enable", "FALSE", "common instance metadata serial-port-enable TRUE → FALSE; every other item kept"},
		{proj, "block-project-ssh-keys", "TRUE", "common instance metadata block-project-ssh-keys (absent) → TRUE; every other item kept"},
	} {
		if _, p := e.plan(a, c.resource, setKey(c.key, c.value)); p.Summary != c.summary {
			t.Errorf("summary %q, want %q", p.Summary, c.summary)
		}
	}
}

func TestSetMetadataInvalidRequests(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionSetMetadata)
	app := instanceName(edgeProject, edgeZone, "app-1")
	for _, req := range []remediators.Request{
		{},
		setKey("", "TRUE"),
		setKey("startup-script", "TRUE"),
		setKey("ssh-keys", "TRUE"),
		setKey("enable-oslogin", ""),
		setKey("enable-oslogin", "maybe"),
		setKey("enable-oslogin", "False"), // not a boolean Compute Engine reads
		{Params: map[string]any{"key": "enable-oslogin", "value": true}},
	} {
		if err := e.planErr(a, app, req); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("request %v: %v, want ErrInvalidRequest", req.Params, err)
		}
	}
	for _, bad := range []string{networkName(edgeProject, "vpc-edge"), "//compute.googleapis.com/projects/", computePrefix + edgeProject + "/zones/z/instances/"} {
		if _, err := a.Snapshot(e.ctx, bad); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("snapshot of %s: %v, want ErrInvalidRequest", bad, err)
		}
	}
	if _, err := a.Snapshot(e.ctx, instanceName(edgeProject, edgeZone, "ghost")); !errors.Is(err, remediators.ErrGone) {
		t.Errorf("snapshot of a missing instance: %v", err)
	}
}

// The project-level variant writes the common instance metadata, keeps the other items,
// and Restore removes a key that was absent.
func TestSetProjectMetadata(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionSetMetadata)
	proj := computeProjectName(edgeProject)
	snap, p := e.plan(a, proj, setKey("serial-port-enable", "FALSE"))
	if snap.AssetType != inventory.TypeComputeProject {
		t.Errorf("snapshot asset type %s", snap.AssetType)
	}
	if f := evaluate(t, "compute-serial-port-enabled", snap); len(f) != 1 {
		t.Fatalf("the rule finds %d drifts before, want 1", len(f))
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	after := e.snapshot(a, proj)
	wantItems(t, after, "commonInstanceMetadata", "serial-port-enable=FALSE", "ssh-keys=alice:ssh-ed25519 AAAA alice")
	if f := evaluate(t, "compute-serial-port-enabled", after); len(f) != 0 {
		t.Errorf("findings after Apply: %+v", f)
	}
	if calls(e.srv, "projects.setCommonInstanceMetadata", http.StatusOK) != 1 || calls(e.srv, "instances.setMetadata", http.StatusOK) != 0 {
		t.Errorf("calls %+v", e.srv.Calls())
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	wantItems(t, e.snapshot(a, proj), "commonInstanceMetadata", "serial-port-enable=TRUE", "ssh-keys=alice:ssh-ed25519 AAAA alice")
}

// A stale fingerprint (someone wrote the metadata between Apply's read and its write) is
// read again and planned again once: the other writer's item stays. A writer that keeps
// writing makes Apply give up with ErrChanged, and nothing is written over.
func TestSetMetadataStaleFingerprint(t *testing.T) {
	app := instanceName(edgeProject, edgeZone, "app-1")
	var e *env
	n := 0
	addItem := func() {
		n++
		s := e.snapshot(e.action(instance.ActionSetMetadata), app)
		e.driftData(app, inventory.TypeInstance, s.Data, func(d map[string]any) {
			md := d["metadata"].(map[string]any)
			md["items"] = append(md["items"].([]any), map[string]any{"key": "writer-" + string(rune('0'+n)), "value": "x"})
		})
	}
	isSetMetadata := func(r *http.Request) bool { return hasSuffixPath(r, http.MethodPost, "/instances/app-1/setMetadata") }
	ic := &interceptor{times: 1, match: isSetMetadata, before: addItem}
	e = newInterceptedEnv(t, ic)
	a := e.action(instance.ActionSetMetadata)
	snap, p := e.plan(a, app, setKey("enable-oslogin", "TRUE"))
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatalf("Apply through a stale fingerprint: %v", err)
	}
	if c, ok := calls(e.srv, "instances.setMetadata", http.StatusPreconditionFailed), calls(e.srv, "instances.setMetadata", http.StatusOK); c != 1 || ok != 1 {
		t.Errorf("setMetadata: %d stale and %d written, want 1 and 1", c, ok)
	}
	wantItems(t, e.snapshot(a, app), "metadata", "startup-script=echo hi", "enable-oslogin=TRUE", "block-project-ssh-keys=true", "writer-1=x")
	// Restore goes through a stale fingerprint too, and keeps the writers' items.
	ic.mu.Lock()
	ic.times = 2
	ic.mu.Unlock()
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	wantItems(t, e.snapshot(a, app), "metadata", "startup-script=echo hi", "enable-oslogin=FALSE", "block-project-ssh-keys=true",
		"writer-1=x", "writer-2=x")
	if c := calls(e.srv, "instances.setMetadata", http.StatusPreconditionFailed); c != 2 {
		t.Errorf("%d stale setMetadata calls after Restore, want 2", c)
	}

	// The writer that never stops.
	n = 0
	e = newInterceptedEnv(t, &interceptor{times: -1, match: isSetMetadata, before: addItem})
	a = e.action(instance.ActionSetMetadata)
	snap, p = e.plan(a, app, setKey("enable-oslogin", "TRUE"))
	_, err := a.Apply(e.ctx, snap, p)
	if !errors.Is(err, remediators.ErrChanged) || !strings.Contains(err.Error(), "concurrent writers") {
		t.Fatalf("Apply against a writer that never stops: %v, want ErrChanged", err)
	}
	if c, ok := calls(e.srv, "instances.setMetadata", http.StatusPreconditionFailed), calls(e.srv, "instances.setMetadata", http.StatusOK); c != 2 || ok != 0 {
		t.Errorf("setMetadata: %d stale and %d written, want 2 and 0", c, ok)
	}
	wantItems(t, e.snapshot(a, app), "metadata", "startup-script=echo hi", "enable-oslogin=FALSE", "block-project-ssh-keys=true", "writer-1=x", "writer-2=x")
}

// Apply refuses when the key changed since the plan to something else than asked, and has
// nothing to do when someone set it meanwhile.
func TestSetMetadataApplyRechecks(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionSetMetadata)
	proj := computeProjectName(edgeProject)
	snap, p := e.plan(a, proj, setKey("enable-oslogin", "TRUE"))
	setItems := func(items ...map[string]any) {
		e.driftData(proj, inventory.TypeComputeProject, snap.Data, func(d map[string]any) {
			var list []any
			for _, it := range items {
				list = append(list, it)
			}
			d["commonInstanceMetadata"] = map[string]any{"items": list}
		})
	}
	setItems(map[string]any{"key": "enable-oslogin", "value": "FALSE"})
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrChanged) {
		t.Errorf("Apply after the key changed: %v, want ErrChanged", err)
	}
	setItems(map[string]any{"key": "enable-oslogin", "value": "1"})
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("Apply after someone set the key: %v, want ErrNothingToDo", err)
	}
	if n := calls(e.srv, "projects.setCommonInstanceMetadata", http.StatusOK); n != 0 {
		t.Errorf("%d writes", n)
	}
}
