package sandbox

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

func TestProjectHierarchy(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	p, err := c.projects.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/" + prodID})
	if err != nil {
		t.Fatalf("get project: %v", err)
	}
	if p.GetName() != "projects/"+prodNumber || p.GetProjectId() != prodID || p.GetParent() != folderName ||
		p.GetState() != resourcemanagerpb.Project_ACTIVE || p.GetDisplayName() != "Demo Production" || p.GetLabels()["env"] != "prod" {
		t.Errorf("project = %v", p)
	}
	byNumber, err := c.projects.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/" + prodNumber})
	if err != nil || byNumber.GetProjectId() != prodID {
		t.Errorf("get project by number = %v, %v", byNumber, err)
	}
	f, err := c.folders.GetFolder(ctx, &resourcemanagerpb.GetFolderRequest{Name: p.GetParent()})
	if err != nil {
		t.Fatalf("get folder: %v", err)
	}
	if f.GetParent() != orgName || f.GetDisplayName() != "prod" || f.GetState() != resourcemanagerpb.Folder_ACTIVE {
		t.Errorf("folder = %v", f)
	}
	o, err := c.orgs.GetOrganization(ctx, &resourcemanagerpb.GetOrganizationRequest{Name: f.GetParent()})
	if err != nil {
		t.Fatalf("get organization: %v", err)
	}
	if o.GetDisplayName() != "example.com" || o.GetDirectoryCustomerId() != "C0abc123" || o.GetCreateTime() == nil {
		t.Errorf("organization = %v", o)
	}
	_, err = c.projects.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/ghost-project"})
	if ge := googleErr(t, err, http.StatusForbidden); ge.Message != "The caller does not have permission" {
		t.Errorf("unknown project: %v", ge)
	}
	_, err = c.folders.GetFolder(ctx, &resourcemanagerpb.GetFolderRequest{Name: "folders/999"})
	googleErr(t, err, http.StatusForbidden)

	searched := projectIDs(t, c.projects.SearchProjects(ctx, &resourcemanagerpb.SearchProjectsRequest{Query: "parent:" + folderName}))
	if !slices.Equal(searched, []string{prodID}) {
		t.Errorf("projects under the folder = %v", searched)
	}
	listed := projectIDs(t, c.projects.ListProjects(ctx, &resourcemanagerpb.ListProjectsRequest{Parent: orgName}))
	if !slices.Equal(listed, []string{devID}) {
		t.Errorf("projects under the organization = %v", listed)
	}
	var folders []string
	fit := c.folders.ListFolders(ctx, &resourcemanagerpb.ListFoldersRequest{Parent: orgName})
	for {
		f, err := fit.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("listing folders: %v", err)
		}
		folders = append(folders, f.GetName())
	}
	if !slices.Equal(folders, []string{folderName}) {
		t.Errorf("folders under the organization = %v", folders)
	}
	oit := c.orgs.SearchOrganizations(ctx, &resourcemanagerpb.SearchOrganizationsRequest{Query: "domain:example.com"})
	if org, err := oit.Next(); err != nil || org.GetName() != orgName {
		t.Errorf("searching organizations = %v, %v", org, err)
	}
	all := projectIDs(t, c.projects.SearchProjects(ctx, &resourcemanagerpb.SearchProjectsRequest{PageSize: 1}))
	if !slices.Equal(all, []string{prodID, devID}) { // sorted by name: projects/NUMBER
		t.Errorf("all projects = %v", all)
	}
}

func projectIDs(t *testing.T, it *resourcemanager.ProjectIterator) []string {
	t.Helper()
	var ids []string
	for {
		p, err := it.Next()
		if err == iterator.Done {
			return ids
		}
		if err != nil {
			t.Fatalf("listing projects: %v", err)
		}
		ids = append(ids, p.GetProjectId())
	}
}

func TestProjectPolicyVersions(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	res := "projects/" + prodID
	v3, err := c.projects.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: res, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
	if err != nil {
		t.Fatalf("getIamPolicy v3: %v", err)
	}
	if v3.GetVersion() != 3 || len(v3.GetEtag()) == 0 || len(v3.GetBindings()) != 3 {
		t.Fatalf("policy v3 = %v", v3)
	}
	cond := v3.GetBindings()[2]
	if cond.GetRole() != "roles/storage.objectViewer" || cond.GetCondition().GetTitle() != "until-2030" ||
		!strings.Contains(cond.GetCondition().GetExpression(), "request.time") {
		t.Errorf("conditional binding = %v", cond)
	}
	ac := v3.GetAuditConfigs()
	if len(ac) != 1 || ac[0].GetService() != "allServices" || ac[0].GetAuditLogConfigs()[0].GetLogType() != iampb.AuditLogConfig_DATA_READ {
		t.Errorf("audit configs = %v", ac)
	}
	v1, err := c.projects.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: res})
	if err != nil {
		t.Fatalf("getIamPolicy v1: %v", err)
	}
	if v1.GetVersion() != 1 || v1.GetBindings()[2].GetCondition() != nil ||
		!strings.HasPrefix(v1.GetBindings()[2].GetRole(), "roles/storage.objectViewer_withcond_") {
		t.Errorf("policy at version 1 = %v", v1)
	}
}

func TestSetProjectPolicyEtag(t *testing.T) {
	_, url := start(t, loadBasic(t))
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
	first := read()
	// Remove the editor binding, sending the etag read.
	edited := &iampb.Policy{Version: 3, Etag: first.GetEtag()}
	for _, b := range first.GetBindings() {
		if b.GetRole() != "roles/editor" {
			edited.Bindings = append(edited.Bindings, b)
		}
	}
	written, err := c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, Policy: edited})
	if err != nil {
		t.Fatalf("setIamPolicy with a fresh etag: %v", err)
	}
	if bytes.Equal(written.GetEtag(), first.GetEtag()) || len(written.GetBindings()) != 2 {
		t.Errorf("written policy = %v", written)
	}
	// The same etag again is stale now.
	_, err = c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, Policy: edited})
	if ge := googleErr(t, err, http.StatusConflict); !strings.Contains(ge.Message, "There were concurrent policy changes") {
		t.Errorf("stale etag: %v", ge)
	}
	second := read()
	if !bytes.Equal(second.GetEtag(), written.GetEtag()) || len(second.GetBindings()) != 2 {
		t.Errorf("policy after the refused write = %v", second)
	}
	// The default mask (bindings, etag) keeps the audit configs even when the policy sent
	// has none; a mask naming auditConfigs replaces them (sent as enum numbers by the client).
	second.AuditConfigs = nil
	if _, err := c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, Policy: second}); err != nil {
		t.Fatalf("setIamPolicy: %v", err)
	}
	third := read()
	if len(third.GetAuditConfigs()) != 1 {
		t.Errorf("audit configs after a bindings-only write = %v", third.GetAuditConfigs())
	}
	third.AuditConfigs = []*iampb.AuditConfig{{Service: "compute.googleapis.com", AuditLogConfigs: []*iampb.AuditLogConfig{{LogType: iampb.AuditLogConfig_ADMIN_READ}}}}
	_, err = c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, Policy: third,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"bindings", "etag", "audit_configs"}}})
	if err != nil {
		t.Fatalf("setIamPolicy with audit configs: %v", err)
	}
	fourth := read()
	if ac := fourth.GetAuditConfigs(); len(ac) != 1 || ac[0].GetService() != "compute.googleapis.com" ||
		ac[0].GetAuditLogConfigs()[0].GetLogType() != iampb.AuditLogConfig_ADMIN_READ {
		t.Errorf("audit configs after a masked write = %v", ac)
	}
	// A conditional binding needs version 3.
	fourth.Version = 1
	_, err = c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, Policy: fourth})
	googleErr(t, err, http.StatusBadRequest)
}

func TestDeniedAndFolderPolicies(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	// testdata/basic/sandbox.yaml denies the organization's policy.
	_, err := c.orgs.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: orgName})
	if ge := googleErr(t, err, http.StatusForbidden); ge.Message != "The caller does not have permission" {
		t.Errorf("denied policy: %v", ge)
	}
	_, err = c.orgs.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: orgName, Policy: &iampb.Policy{}})
	googleErr(t, err, http.StatusForbidden)
	if _, err := c.orgs.GetOrganization(ctx, &resourcemanagerpb.GetOrganizationRequest{Name: orgName}); err != nil {
		t.Errorf("the organization itself stays readable: %v", err)
	}
	fp, err := c.folders.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: folderName})
	if err != nil {
		t.Fatalf("folder policy: %v", err)
	}
	if fp.GetVersion() != 1 || len(fp.GetEtag()) == 0 || fp.GetBindings()[0].GetMembers()[0] != "group:auditors@example.com" {
		t.Errorf("folder policy = %v", fp)
	}
	fp.Bindings = append(fp.Bindings, &iampb.Binding{Role: "roles/browser", Members: []string{"user:carol@example.com"}})
	if _, err := c.folders.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: folderName, Policy: fp}); err != nil {
		t.Fatalf("set folder policy: %v", err)
	}
	fp2, err := c.folders.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: folderName})
	if err != nil || len(fp2.GetBindings()) != 2 {
		t.Errorf("folder policy after write = %v, %v", fp2, err)
	}
	fp2.Bindings = append(fp2.Bindings, &iampb.Binding{Role: "roles/browser", Members: []string{"carol@example.com"}})
	_, err = c.folders.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: folderName, Policy: fp2})
	googleErr(t, err, http.StatusBadRequest)
}
