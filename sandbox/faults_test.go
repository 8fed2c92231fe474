package sandbox

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/iam/apiv1/iampb"
)

func TestFaultErrors(t *testing.T) {
	srv, url := start(t, loadBasic(t), WithFaults(Faults{Seed: 1, ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable, RetryAfter: 1500 * time.Millisecond}))
	c := newClients(t, url)
	ctx := testContext(t)
	// Patch is not retried by the client, so the 503 reaches the caller.
	_, err := c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{Project: prodID, Firewall: "allow-ssh-world", FirewallResource: &computepb.Firewall{}})
	ge := googleErr(t, err, http.StatusServiceUnavailable)
	if ge.Header.Get("Retry-After") != "2" || ge.Errors[0].Reason != "backendError" {
		t.Errorf("injected error = %v, header %v", ge, ge.Header)
	}
	_, err = c.iam.Projects.ServiceAccounts.Get("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do()
	googleErr(t, err, http.StatusServiceUnavailable)

	// 429, limited to one method.
	if err := srv.SetFaults(Faults{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, Match: func(service, method string) bool {
		return service == ServiceIAM && method == "projects.serviceAccounts.keys.list"
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.iam.Projects.ServiceAccounts.Get("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do(); err != nil {
		t.Errorf("unmatched call failed: %v", err)
	}
	_, err = c.iam.Projects.ServiceAccounts.Keys.List("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do()
	googleErr(t, err, http.StatusTooManyRequests)

	want := []CallCount{
		{Service: ServiceCompute, Method: "firewalls.patch", Status: 503, Count: 1},
		{Service: ServiceIAM, Method: "projects.serviceAccounts.get", Status: 200, Count: 1},
		{Service: ServiceIAM, Method: "projects.serviceAccounts.get", Status: 503, Count: 1},
		{Service: ServiceIAM, Method: "projects.serviceAccounts.keys.list", Status: 429, Count: 1},
	}
	if got := srv.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls() = %+v, want %+v", got, want)
	}
	srv.ResetCalls()
	if got := srv.Calls(); len(got) != 0 {
		t.Errorf("Calls() after reset = %+v", got)
	}
	if err := srv.SetFaults(Faults{ErrorRate: 2}); err == nil {
		t.Error("SetFaults accepted an error rate of 2")
	}
}

func TestFaultsRetriedByClient(t *testing.T) {
	// The compute client retries GET on 503: with half the gets failing, every Get still
	// succeeds, and the failures show in Calls.
	srv, url := start(t, loadBasic(t), WithFaults(Faults{Seed: 3, ErrorRate: 0.5, Match: func(_, method string) bool {
		return method == "firewalls.get"
	}}))
	c := newClients(t, url)
	ctx := testContext(t)
	for range 6 {
		if _, err := c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-internal"}); err != nil {
			t.Fatalf("get: %v", err)
		}
	}
	if ok, failed := callCount(srv, ServiceCompute, "firewalls.get", 200), callCount(srv, ServiceCompute, "firewalls.get", 503); ok != 6 || failed == 0 {
		t.Errorf("firewalls.get: %d ok, %d failed; want 6 ok and some failed", ok, failed)
	}
}

func TestFaultsDeterministic(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	outcomes := func() []bool {
		if err := srv.SetFaults(Faults{Seed: 42, ErrorRate: 0.5}); err != nil {
			t.Fatal(err)
		}
		var out []bool
		for range 16 {
			_, err := c.iam.Projects.ServiceAccounts.Get("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do()
			out = append(out, err == nil)
		}
		return out
	}
	first, second := outcomes(), outcomes()
	if !slices.Equal(first, second) {
		t.Errorf("same seed, different outcomes: %v and %v", first, second)
	}
	if !slices.Contains(first, true) || !slices.Contains(first, false) {
		t.Errorf("outcomes at rate 0.5 = %v", first)
	}
}

func TestFaultLatency(t *testing.T) {
	_, url := start(t, loadBasic(t), WithFaults(Faults{Latency: 150 * time.Millisecond}))
	c := newClients(t, url)
	begin := time.Now()
	if _, err := c.firewalls.Get(testContext(t), &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-internal"}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("get took %v, want at least the injected 150ms", d)
	}
}

func TestFaultEtagConflict(t *testing.T) {
	srv, url := start(t, loadBasic(t), WithFaults(Faults{EtagConflicts: 1}))
	c := newClients(t, url)
	ctx := testContext(t)
	res := "projects/" + prodID
	read := func() *iampb.Policy {
		t.Helper()
		p, err := c.projects.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: res, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
		if err != nil {
			t.Fatalf("getIamPolicy: %v", err)
		}
		return p
	}
	add := func(p *iampb.Policy) error {
		p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/browser", Members: []string{"user:dave@example.com"}})
		_, err := c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, Policy: p})
		return err
	}
	googleErr(t, add(read()), http.StatusConflict)
	if n := srv.Faults().EtagConflicts; n != 0 {
		t.Errorf("etag conflicts left = %d", n)
	}
	// Re-read: the concurrent writer's binding is there, and the retry keeps it.
	again := read()
	if !hasMember(again, ConcurrentWriterRole, ConcurrentWriterMember) {
		t.Fatalf("policy after the conflict lacks the concurrent writer: %v", again)
	}
	if err := add(again); err != nil {
		t.Fatalf("retry: %v", err)
	}
	final := read()
	if !hasMember(final, ConcurrentWriterRole, ConcurrentWriterMember) || !hasMember(final, "roles/browser", "user:dave@example.com") {
		t.Errorf("final policy = %v", final)
	}
}

func hasMember(p *iampb.Policy, role, member string) bool {
	for _, b := range p.GetBindings() {
		if b.GetRole() == role && slices.Contains(b.GetMembers(), member) {
			return true
		}
	}
	return false
}
