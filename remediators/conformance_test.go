package remediators_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/firewall"
	"github.com/zerodrift/zerodrift/remediators/iampolicy"
	"github.com/zerodrift/zerodrift/remediators/instance"
	"github.com/zerodrift/zerodrift/remediators/network"
	"github.com/zerodrift/zerodrift/remediators/sakey"
	"github.com/zerodrift/zerodrift/remediators/subnetwork"
	"github.com/zerodrift/zerodrift/rules"
)

// conformanceCase is one action run over a resource of the scenario that drifts. Every
// action passes the same suite (runConformance): snapshot, plan, apply, a fresh snapshot
// shows the change and the rule no longer finds the drift, planning again has nothing to
// do, applying the old plan again changes nothing, restore brings back the touched fields
// byte for byte (and the rule finds the drift again), and restoring again changes nothing.
type conformanceCase struct {
	name     string
	action   string
	resource string
	params   map[string]any
	// seed, when set, makes the drift the scenario lacks before the first snapshot.
	seed func(t *testing.T, e *env)
	// rule, when set, finds the drift: its finding (the one pick selects, or the only one)
	// supplies Request.Evidence, as the engine's does, and must be gone after Apply.
	rule string
	pick func(rules.Finding) bool
	// touched lists the top-level fields of Snapshot.Data the action changes.
	touched []string
	// gone says Apply deletes the resource.
	gone bool
	// applied checks the fresh snapshot after Apply (not called when gone).
	applied func(t *testing.T, e *env, fresh *remediators.Snapshot, plan *remediators.Plan)
	// restored checks more after Restore.
	restored func(t *testing.T, e *env, orig, now *remediators.Snapshot, plan *remediators.Plan)
}

func conformanceCases() []conformanceCase {
	sshWorld := firewallName(prodProject, "allow-ssh-world")
	return []conformanceCase{
		{
			name: "restrict sources of 0.0.0.0/0", action: firewall.ActionRestrictSources, resource: sshWorld,
			params: map[string]any{"ranges": []string{trustedRange}}, rule: "firewall-open-ingress", touched: []string{"sourceRanges"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "sourceRanges", `["35.235.240.0/20"]`)
				wantField(t, fresh, "targetTags", `["bastion"]`)
				wantField(t, fresh, "allowed", `[{"IPProtocol":"tcp","ports":["22"]}]`)
			},
		},
		{
			name: "restrict sources of a rule without any", action: firewall.ActionRestrictSources,
			resource: firewallName(prodProject, "allow-nosource"),
			params:   map[string]any{"ranges": []string{trustedRange, "2600:2d00:1:7::/64"}}, rule: "firewall-open-ingress",
			touched: []string{"sourceRanges"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "sourceRanges", `["35.235.240.0/20"]`)
			},
		},
		{
			name: "restrict sources that cover the internet together", action: firewall.ActionRestrictSources,
			resource: firewallName(prodProject, "allow-split"),
			params:   map[string]any{"ranges": []string{trustedRange, "10.0.0.0/8"}}, rule: "firewall-open-ingress",
			touched: []string{"sourceRanges"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "sourceRanges", `["10.0.0.0/8","35.235.240.0/20"]`)
			},
		},
		{
			name: "disable", action: firewall.ActionDisable, resource: sshWorld,
			rule: "firewall-open-ingress", touched: []string{"disabled"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "disabled", "true")
				wantField(t, fresh, "sourceRanges", `["0.0.0.0/0"]`)
			},
		},
		{
			name: "enable logging", action: firewall.ActionEnableLogging, resource: sshWorld, touched: []string{"logConfig"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "logConfig", `{"enable":true,"metadata":"INCLUDE_ALL_METADATA"}`)
			},
		},
		{
			name: "deny ports in front of an open rule", action: firewall.ActionDenyPorts,
			resource: firewallName(prodProject, "allow-all-world"),
			applied: func(t *testing.T, e *env, fresh *remediators.Snapshot, plan *remediators.Plan) {
				wantField(t, fresh, "sourceRanges", `["0.0.0.0/0"]`)
				if len(plan.Creates) != 2 {
					t.Fatalf("Creates = %v, want one rule per address family", plan.Creates)
				}
				for i, src := range []string{`["0.0.0.0/0"]`, `["::/0"]`} {
					d := e.snapshot(e.action(firewall.ActionDisable), plan.Creates[i])
					wantField(t, d, "sourceRanges", src)
					wantField(t, d, "priority", "1999")
					wantField(t, d, "direction", `"INGRESS"`)
					wantField(t, d, "denied", `[{"IPProtocol":"sctp","ports":["22"]},{"IPProtocol":"tcp","ports":["22","3389"]},{"IPProtocol":"udp","ports":["3389"]}]`)
				}
			},
			restored: func(t *testing.T, e *env, _, _ *remediators.Snapshot, plan *remediators.Plan) {
				for _, c := range plan.Creates {
					if _, err := e.action(firewall.ActionDisable).Snapshot(e.ctx, c); !errors.Is(err, remediators.ErrGone) {
						t.Errorf("deny rule %s after restore: %v, want it gone", c, err)
					}
				}
			},
		},
		{
			name: "delete the default network", action: network.ActionDeleteDefault, resource: networkName(prodProject, "default"),
			rule: "network-default", gone: true,
			touched: []string{"name", "description", "autoCreateSubnetworks", "routingConfig", "mtu", "selfLink"},
			restored: func(t *testing.T, e *env, orig, now *remediators.Snapshot, plan *remediators.Plan) {
				if len(plan.Deletes) != 4 || !slices.Equal(slices.Sorted(mapsKeys(orig.Related)), plan.Deletes) {
					t.Errorf("Deletes = %v, Related = %v", plan.Deletes, slices.Sorted(mapsKeys(orig.Related)))
				}
				if !slices.Equal(slices.Sorted(mapsKeys(now.Related)), slices.Sorted(mapsKeys(orig.Related))) {
					t.Fatalf("restored rules %v, want %v", slices.Sorted(mapsKeys(now.Related)), slices.Sorted(mapsKeys(orig.Related)))
				}
				for name, was := range orig.Related {
					for _, k := range []string{"name", "description", "network", "priority", "sourceRanges", "allowed", "direction", "logConfig", "disabled", "selfLink"} {
						if a, b := field(t, was, k), field(t, now.Related[name], k); a != b {
							t.Errorf("restored %s: %s = %s, was %s", name, k, b, a)
						}
					}
				}
			},
		},
		{
			name: "remove a project binding, granting a narrower role", action: iampolicy.ActionRemoveBinding,
			resource: projectName(prodNumber), params: map[string]any{"replaceWith": "roles/viewer"},
			rule: "sa-admin-role", pick: pickGrant("roles/editor", appMember, false),
			touched: []string{"bindings", "auditConfigs", "version"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				p := policyOf(t, fresh)
				if hasGrant(p, "roles/editor", appMember, nil) || !hasGrant(p, "roles/viewer", appMember, nil) ||
					!hasGrant(p, "roles/editor", "user:bob@example.com", nil) || !hasGrant(p, "roles/storage.admin", appMember, nil) {
					t.Errorf("policy after removal = %+v", p.Bindings)
				}
			},
		},
		{
			name: "remove an outside member from every role", action: iampolicy.ActionRemoveBinding, resource: projectName(prodNumber),
			seed: func(_ *testing.T, e *env) { e.grantLive(projectName(prodNumber), outsiderGrants()...) },
			rule: "iam-non-org-member", touched: []string{"bindings", "auditConfigs", "version"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				p := policyOf(t, fresh)
				for _, g := range outsiderGrants() {
					if hasGrant(p, g.role, g.member, g.cond) {
						t.Errorf("%s still holds %s", g.member, g.role)
					}
				}
				if !hasGrant(p, "roles/editor", "user:bob@example.com", nil) || !hasGrant(p, "roles/storage.admin", appMember, until2030()) {
					t.Errorf("policy after removal = %+v", p.Bindings)
				}
			},
		},
		{
			name: "remove a folder binding", action: iampolicy.ActionRemoveBinding, resource: "//cloudresourcemanager.googleapis.com/" + folderName,
			rule: "sa-admin-role", touched: []string{"bindings", "auditConfigs", "version"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "bindings", `[{"role":"roles/viewer","members":["group:auditors@example.com"]}]`)
			},
		},
		{
			name: "enable VPC flow logs", action: subnetwork.ActionEnableFlowLogs, resource: subnetName(edgeProject, "us-central1", "flow-off"),
			rule: "subnet-flow-logs-disabled", touched: []string{"logConfig", "privateIpGoogleAccess", "purpose"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "logConfig", `{"aggregationInterval":"INTERVAL_5_SEC","enable":true,"flowSampling":0.5,"metadata":"INCLUDE_ALL_METADATA"}`)
				wantField(t, fresh, "ipCidrRange", `"10.20.0.0/24"`)
			},
		},
		{
			name: "enable Private Google Access", action: subnetwork.ActionEnablePrivateGoogleAccess,
			resource: subnetName(edgeProject, "us-central1", "flow-off"), rule: "private-google-access-disabled",
			touched: []string{"privateIpGoogleAccess", "logConfig"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "privateIpGoogleAccess", "true")
			},
		},
		{
			name: "turn on Data Access audit logs", action: iampolicy.ActionSetAuditConfig, resource: projectName(prodNumber),
			rule: "audit-logging-disabled", touched: []string{"auditConfigs", "bindings", "version"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "auditConfigs", `[{"service":"allServices","auditLogConfigs":[{"logType":"DATA_READ"},{"logType":"ADMIN_READ"},{"logType":"DATA_WRITE"}]}]`)
				p := policyOf(t, fresh)
				if !hasGrant(p, "roles/editor", appMember, nil) || !hasGrant(p, "roles/storage.admin", appMember, until2030()) || len(p.Bindings) != 5 {
					t.Errorf("bindings after setting the audit config = %+v", p.Bindings)
				}
			},
		},
		{
			name: "create the egress deny-all rule of a network", action: firewall.ActionCreateEgressDeny,
			resource: networkName(prodProject, "vpc-main"), touched: []string{"name", "selfLink", "autoCreateSubnetworks"},
			applied: func(t *testing.T, e *env, _ *remediators.Snapshot, plan *remediators.Plan) {
				if len(plan.Creates) != 1 || plan.Creates[0] != firewallName(prodProject, "zerodrift-deny-all-egress") {
					t.Fatalf("Creates = %v", plan.Creates)
				}
				d := e.snapshot(e.action(firewall.ActionDisable), plan.Creates[0])
				wantField(t, d, "direction", `"EGRESS"`)
				wantField(t, d, "priority", "65535")
				wantField(t, d, "destinationRanges", `["0.0.0.0/0"]`)
				wantField(t, d, "denied", `[{"IPProtocol":"all"}]`)
				wantField(t, d, "logConfig", `{"enable":true}`)
				wantField(t, d, "network", `"https://www.googleapis.com/compute/v1/projects/zd-prod/global/networks/vpc-main"`)
				if !strings.Contains(field(t, d.Data, "description"), "zerodrift") {
					t.Errorf("description = %s", field(t, d.Data, "description"))
				}
			},
			restored: func(t *testing.T, e *env, _, _ *remediators.Snapshot, plan *remediators.Plan) {
				if _, err := e.action(firewall.ActionDisable).Snapshot(e.ctx, plan.Creates[0]); !errors.Is(err, remediators.ErrGone) {
					t.Errorf("egress deny rule after restore: %v, want it gone", err)
				}
			},
		},
		{
			name: "set an instance's metadata key", action: instance.ActionSetMetadata, resource: instanceName(edgeProject, "us-central1-a", "app-1"),
			params: map[string]any{"key": "enable-oslogin", "value": "TRUE"}, rule: "compute-os-login-disabled",
			touched: []string{"networkInterfaces", "name"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantItems(t, fresh, "metadata", "startup-script=echo hi", "enable-oslogin=TRUE", "block-project-ssh-keys=true")
			},
			restored: func(t *testing.T, _ *env, orig, now *remediators.Snapshot, _ *remediators.Plan) {
				wantItems(t, now, "metadata", "startup-script=echo hi", "enable-oslogin=FALSE", "block-project-ssh-keys=true")
			},
		},
		{
			name: "set a project's common instance metadata key", action: instance.ActionSetMetadata, resource: computeProjectName(edgeProject),
			params: map[string]any{"key": "enable-oslogin", "value": "TRUE"}, rule: "compute-os-login-disabled", touched: []string{"name"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantItems(t, fresh, "commonInstanceMetadata", "serial-port-enable=TRUE", "ssh-keys=alice:ssh-ed25519 AAAA alice", "enable-oslogin=TRUE")
			},
			restored: func(t *testing.T, _ *env, orig, now *remediators.Snapshot, _ *remediators.Plan) {
				wantItems(t, now, "commonInstanceMetadata", "serial-port-enable=TRUE", "ssh-keys=alice:ssh-ed25519 AAAA alice")
			},
		},
		{
			name: "remove an instance's external IPv4 addresses", action: instance.ActionRemoveExternalIP,
			resource: instanceName(edgeProject, "us-central1-a", "app-1"), rule: "compute-public-ip", touched: []string{"networkInterfaces", "metadata"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "networkInterfaces", `[{"name":"nic0","network":"https://www.googleapis.com/compute/v1/projects/zd-edge/global/networks/vpc-edge",`+
					`"networkIP":"10.20.0.2","subnetwork":"https://www.googleapis.com/compute/v1/projects/zd-edge/regions/us-central1/subnetworks/flow-off"},`+
					`{"name":"nic1","network":"https://www.googleapis.com/compute/v1/projects/zd-edge/global/networks/vpc-other","networkIP":"10.30.0.2"}]`)
			},
		},
		{
			name: "disable a service account key", action: sakey.ActionDisable,
			resource: keyName("110000000000000000001", "1111aaaa1111"), rule: "sa-user-managed-key", touched: []string{"disabled"},
			applied: func(t *testing.T, _ *env, fresh *remediators.Snapshot, _ *remediators.Plan) {
				wantField(t, fresh, "disabled", "true")
			},
		},
	}
}

func TestConformance(t *testing.T) {
	for _, c := range conformanceCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runConformance(t, c)
		})
	}
}

func runConformance(t *testing.T, c conformanceCase) {
	e := newEnv(t)
	if c.seed != nil {
		c.seed(t, e)
	}
	a := e.action(c.action)
	if a.Name() != c.action {
		t.Fatalf("Name() = %q", a.Name())
	}
	orig := e.snapshot(a, c.resource)
	if orig.Resource != c.resource || !slices.Contains(remediators.AssetTypesOf(a), orig.AssetType) || orig.ReadAt.IsZero() {
		t.Fatalf("snapshot = %+v", orig)
	}
	req := remediators.Request{Params: c.params}
	var finding *rules.Finding
	if c.rule != "" {
		finding = findDrift(t, c, orig)
		req.Evidence = finding.Evidence
	}
	// What the engine keeps in its ledger is JSON: the action must work from that.
	req = roundTrip(t, req)
	plan, err := a.Plan(e.ctx, orig, req)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if plan.Action != c.action || plan.Resource != c.resource || plan.Summary == "" || !json.Valid(plan.Before) || !json.Valid(plan.After) {
		t.Fatalf("plan = %+v", plan)
	}
	t.Logf("plan: %s", plan.Summary)
	snap, plan := roundTrip(t, *orig), ptr(roundTrip(t, *plan))

	detail, err := a.Apply(e.ctx, &snap, plan)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if detail == "" {
		t.Error("Apply returned no detail for the ledger")
	}

	fresh, err := a.Snapshot(e.ctx, c.resource)
	switch {
	case c.gone:
		if !errors.Is(err, remediators.ErrGone) {
			t.Fatalf("snapshot after Apply: %v, want ErrGone", err)
		}
	case err != nil:
		t.Fatalf("snapshot after Apply: %v", err)
	default:
		if c.applied != nil {
			c.applied(t, e, fresh, plan)
		}
		if finding != nil {
			if f := evaluate(t, c.rule, fresh); slices.ContainsFunc(f, func(g rules.Finding) bool { return g.ID == finding.ID }) {
				t.Errorf("rule %s still finds %s after Apply", c.rule, finding.ID)
			}
		}
		if _, err := a.Plan(e.ctx, fresh, req); !errors.Is(err, remediators.ErrNothingToDo) {
			t.Errorf("Plan after Apply: %v, want ErrNothingToDo", err)
		}
	}
	if _, err := a.Apply(e.ctx, &snap, plan); !errors.Is(err, remediators.ErrNothingToDo) && !errors.Is(err, remediators.ErrGone) {
		t.Errorf("Apply of the same plan again: %v, want ErrNothingToDo or ErrGone", err)
	}

	if err := a.Restore(e.ctx, &snap, plan); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	now := e.snapshot(a, c.resource)
	for _, k := range c.touched {
		if was, is := field(t, orig.Data, k), field(t, now.Data, k); was != is {
			t.Errorf("after Restore %s = %s, was %s", k, is, was)
		}
	}
	if c.restored != nil {
		c.restored(t, e, orig, now, plan)
	}
	if finding != nil {
		if f := evaluate(t, c.rule, now); !slices.ContainsFunc(f, func(g rules.Finding) bool { return g.ID == finding.ID }) {
			t.Errorf("rule %s does not find %s again after Restore", c.rule, finding.ID)
		}
	}
	if err := a.Restore(e.ctx, &snap, plan); err != nil {
		t.Errorf("Restore again: %v", err)
	}
	again := e.snapshot(a, c.resource)
	for _, k := range c.touched {
		if was, is := field(t, orig.Data, k), field(t, again.Data, k); was != is {
			t.Errorf("after the second Restore %s = %s, was %s", k, is, was)
		}
	}
}

// findDrift runs the case's rule on the snapshot and returns the finding the case fixes.
func findDrift(t *testing.T, c conformanceCase, snap *remediators.Snapshot) *rules.Finding {
	t.Helper()
	var picked []rules.Finding
	for _, f := range evaluate(t, c.rule, snap) {
		if c.pick == nil || c.pick(f) {
			picked = append(picked, f)
		}
	}
	if len(picked) != 1 {
		t.Fatalf("rule %s finds %d matching drifts in the snapshot of %s, want 1: %+v", c.rule, len(picked), c.resource, picked)
	}
	return &picked[0]
}

func evaluate(t *testing.T, ruleID string, snap *remediators.Snapshot) []rules.Finding {
	t.Helper()
	r, ok := rules.ByID(rules.Default())[ruleID]
	if !ok {
		t.Fatalf("no rule %s", ruleID)
	}
	a, err := snap.Asset()
	if err != nil {
		t.Fatalf("Snapshot.Asset: %v", err)
	}
	var out rules.Results
	if err := r.Evaluate(rules.DefaultEnv(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), a, &out); err != nil {
		t.Fatalf("rule %s on %s: %v", ruleID, snap.Resource, err)
	}
	return out.Findings
}

func pickGrant(role, member string, conditional bool) func(rules.Finding) bool {
	return func(f rules.Finding) bool {
		return f.Evidence["role"] == role && f.Evidence["member"] == member && f.Evidence["conditional"] == conditional
	}
}

func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %T: %v", v, err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decoding %T: %v", v, err)
	}
	return out
}

func wantField(t *testing.T, s *remediators.Snapshot, key, want string) {
	t.Helper()
	if got := field(t, s.Data, key); got != want {
		t.Errorf("%s: %s = %s, want %s", s.Resource, key, got, want)
	}
}

func policyOf(t *testing.T, s *remediators.Snapshot) *inventory.Policy {
	t.Helper()
	a, err := s.Asset()
	if err != nil || a.IAMPolicy == nil {
		t.Fatalf("policy of %s: %v", s.Resource, err)
	}
	return a.IAMPolicy
}

func hasGrant(p *inventory.Policy, role, member string, cond *inventory.Condition) bool {
	for _, b := range p.Bindings {
		if b.Role != role || !slices.Contains(b.Members, member) {
			continue
		}
		if cond == nil && b.Condition == nil || cond != nil && b.Condition != nil && *cond == *b.Condition {
			return true
		}
	}
	return false
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
