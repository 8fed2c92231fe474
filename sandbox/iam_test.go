package sandbox

import (
	"context"
	"net/http"
	"slices"
	"testing"

	iam "google.golang.org/api/iam/v1"
)

func TestServiceAccounts(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	sas := c.iam.Projects.ServiceAccounts
	var emails []string
	pages := 0
	err := sas.List("projects/"+prodID).PageSize(1).Pages(ctx, func(r *iam.ListServiceAccountsResponse) error {
		pages++
		for _, a := range r.Accounts {
			emails = append(emails, a.Email)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing service accounts: %v", err)
	}
	if !slices.Equal(emails, []string{appEmail, ciEmail}) || pages != 2 {
		t.Errorf("accounts = %v in %d pages", emails, pages)
	}
	for _, name := range []string{
		"projects/" + prodID + "/serviceAccounts/" + appEmail,
		"projects/" + prodID + "/serviceAccounts/" + appUID,
		"projects/-/serviceAccounts/" + appEmail,
	} {
		a, err := sas.Get(name).Context(ctx).Do()
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		if a.Email != appEmail || a.UniqueId != appUID || a.ProjectId != prodID || a.Name != "projects/demo-prod/serviceAccounts/"+appEmail {
			t.Errorf("get %s = %+v", name, a)
		}
	}
	_, err = sas.Get("projects/" + prodID + "/serviceAccounts/nobody@demo-prod.iam.gserviceaccount.com").Context(ctx).Do()
	googleErr(t, err, http.StatusNotFound)
	_, err = sas.List("projects/ghost-project").Context(ctx).Do()
	googleErr(t, err, http.StatusForbidden)

	// Disabling and enabling the account itself.
	if _, err := sas.Disable("projects/"+prodID+"/serviceAccounts/"+ciEmail, &iam.DisableServiceAccountRequest{}).Context(ctx).Do(); err != nil {
		t.Fatalf("disable account: %v", err)
	}
	if a, err := sas.Get("projects/" + prodID + "/serviceAccounts/" + ciEmail).Context(ctx).Do(); err != nil || !a.Disabled {
		t.Errorf("account after disable = %+v, %v", a, err)
	}
}

func TestServiceAccountKeys(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	keys := c.iam.Projects.ServiceAccounts.Keys
	app := "projects/" + prodID + "/serviceAccounts/" + appEmail
	all, err := keys.List(app).Context(ctx).Do()
	if err != nil {
		t.Fatalf("listing keys: %v", err)
	}
	if len(all.Keys) != 2 {
		t.Fatalf("keys of app = %+v", all.Keys)
	}
	user, err := keys.List(app).KeyTypes("USER_MANAGED").Context(ctx).Do()
	if err != nil {
		t.Fatalf("listing user-managed keys: %v", err)
	}
	if len(user.Keys) != 1 {
		t.Fatalf("user-managed keys = %+v", user.Keys)
	}
	k := user.Keys[0]
	if k.Name != app+"/keys/1a2b3c4d5e" || k.KeyType != "USER_MANAGED" || k.ValidAfterTime != "2023-01-01T00:00:00Z" || k.Disabled {
		t.Errorf("key = %+v", k)
	}
	if _, err := keys.Disable(k.Name, &iam.DisableServiceAccountKeyRequest{}).Context(ctx).Do(); err != nil {
		t.Fatalf("disable key: %v", err)
	}
	// By the account's unique ID and the project wildcard too.
	got, err := keys.Get("projects/-/serviceAccounts/" + appUID + "/keys/1a2b3c4d5e").Context(ctx).Do()
	if err != nil || !got.Disabled {
		t.Errorf("key after disable = %+v, %v", got, err)
	}
	if _, err := keys.Enable(k.Name, &iam.EnableServiceAccountKeyRequest{}).Context(ctx).Do(); err != nil {
		t.Fatalf("enable key: %v", err)
	}
	if got, err := keys.Get(k.Name).Context(ctx).Do(); err != nil || got.Disabled {
		t.Errorf("key after enable = %+v, %v", got, err)
	}
	ci, err := keys.List("projects/" + prodID + "/serviceAccounts/" + ciEmail).KeyTypes("USER_MANAGED").Context(ctx).Do()
	if err != nil || len(ci.Keys) != 1 || ci.Keys[0].Name != "projects/demo-prod/serviceAccounts/"+ciEmail+"/keys/9f8e7d6c5b" {
		t.Errorf("keys of ci = %+v, %v", ci, err)
	}
	if _, err := keys.Delete(ci.Keys[0].Name).Context(ctx).Do(); err != nil {
		t.Fatalf("delete key: %v", err)
	}
	_, err = keys.Get(ci.Keys[0].Name).Context(ctx).Do()
	googleErr(t, err, http.StatusNotFound)
}

func TestServiceAccountPolicy(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := context.Background()
	sas := c.iam.Projects.ServiceAccounts
	name := "projects/" + prodID + "/serviceAccounts/" + appEmail
	p, err := sas.GetIamPolicy(name).OptionsRequestedPolicyVersion(3).Context(ctx).Do()
	if err != nil {
		t.Fatalf("getIamPolicy: %v", err)
	}
	if len(p.Bindings) != 1 || p.Bindings[0].Role != "roles/iam.serviceAccountUser" || p.Etag == "" {
		t.Fatalf("policy = %+v", p)
	}
	p.Bindings = nil
	if _, err := sas.SetIamPolicy(name, &iam.SetIamPolicyRequest{Policy: p}).Context(ctx).Do(); err != nil {
		t.Fatalf("setIamPolicy: %v", err)
	}
	_, err = sas.SetIamPolicy(name, &iam.SetIamPolicyRequest{Policy: p}).Context(ctx).Do()
	googleErr(t, err, http.StatusConflict)
	p2, err := sas.GetIamPolicy(name).Context(ctx).Do()
	if err != nil || len(p2.Bindings) != 0 {
		t.Errorf("policy after write = %+v, %v", p2, err)
	}
}
