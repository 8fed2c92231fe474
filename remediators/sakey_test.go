package remediators_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/sakey"
)

func TestServiceAccountKeyCases(t *testing.T) {
	e := newEnv(t)
	a := e.action(sakey.ActionDisable)
	app := "app@zd-prod.iam.gserviceaccount.com"
	// Google's own keys and zerodrift's own are refused.
	r := refused(t, e.planErr(a, keyName(app, "2222bbbb2222"), remediators.Request{}))
	if !strings.Contains(r.Reason, "SYSTEM_MANAGED") {
		t.Errorf("system-managed key: %v", r)
	}
	r = refused(t, e.planErr(a, keyName("zerodrift@zd-prod.iam.gserviceaccount.com", "4444dddd4444"), remediators.Request{}))
	if !strings.Contains(r.Reason, "zerodrift's own identity") {
		t.Errorf("own key: %v", r)
	}
	// A disabled key has nothing to do.
	if err := e.planErr(a, keyName(app, "3333cccc3333"), remediators.Request{}); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("disabled key: %v, want ErrNothingToDo", err)
	}
	// A key that does not exist is gone, named by email or unique ID alike.
	for _, acct := range []string{app, "110000000000000000001"} {
		if _, err := a.Snapshot(e.ctx, keyName(acct, "ffff")); !errors.Is(err, remediators.ErrGone) {
			t.Errorf("missing key of %s: %v, want ErrGone", acct, err)
		}
	}
	if _, err := a.Snapshot(e.ctx, "//iam.googleapis.com/projects/zd-prod/serviceAccounts/app"); !errors.Is(err, remediators.ErrInvalidRequest) {
		t.Errorf("a service account's name: %v, want ErrInvalidRequest", err)
	}
	// The same key through its email: disabled and enabled again; never deleted.
	snap, p := e.plan(a, keyName(app, "1111aaaa1111"), remediators.Request{})
	if strings.Contains(string(snap.Data), "privateKeyData") {
		t.Errorf("the snapshot holds key material: %s", snap.Data)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if n := callCount(e.srv, "projects.serviceAccounts.keys.delete"); n != 0 {
		t.Errorf("keys.delete called %d times", n)
	}
	if n := callCount(e.srv, "projects.serviceAccounts.keys.disable") + callCount(e.srv, "projects.serviceAccounts.keys.enable"); n != 2 {
		t.Errorf("disable and enable called %d times, want 2", n)
	}
}
