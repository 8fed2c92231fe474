// Package iampolicy holds the live actions on the IAM policies of projects, folders and
// organizations: removing one member's grant of one role, or of each of several roles
// (iam.removeBinding), and turning on the Data Access audit logs of every service
// (iam.setAuditConfig, audit.go).
//
// Policies are edited read-modify-write: read at version 3 (so conditional bindings come
// back as they are), change exactly the pairs the finding names in memory, and write back
// once with the etag read.
// A concurrent writer makes the write fail with 409 ABORTED; the action then reads again,
// plans again on what it read and writes again, so the other writer's change survives. It
// never writes a policy read without an etag, never removes the last owner, and never
// removes zerodrift's own grants.
package iampolicy

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"go.uber.org/zap"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// ActionRemoveBinding is the name playbooks use for the removal of a member's grant of a
// role (evidence.role), or of every role a finding lists (evidence.roles) in one write.
const ActionRemoveBinding = "iam.removeBinding"

// Kinds of resources whose policies the action edits, as their names start.
const (
	kindProject      = "projects"
	kindFolder       = "folders"
	kindOrganization = "organizations"
)

const crmPrefix = "//cloudresourcemanager.googleapis.com/"

// Remediator holds the Resource Manager clients the IAM action reads and writes through,
// and the identities zerodrift runs as.
type Remediator struct {
	projects *resourcemanager.ProjectsClient
	folders  *resourcemanager.FoldersClient
	orgs     *resourcemanager.OrganizationsClient
	self     []string
	log      *zap.Logger
	set      remediators.Settings

	closeOnce sync.Once
	closeErr  error
}

// New creates the Resource Manager clients from opts (endpoint, credentials). self lists
// zerodrift's own identities as IAM members (serviceAccount:zerodrift@ops.iam.gserviceaccount.com):
// their grants are never removed. set tunes conflict retries. Close releases the clients.
func New(ctx context.Context, opts []option.ClientOption, log *zap.Logger, self []string, set remediators.Settings) (*Remediator, error) {
	if log == nil {
		log = zap.NewNop()
	}
	r := &Remediator{log: log, set: set.WithDefaults()}
	for _, s := range self {
		if s = strings.TrimSpace(s); s != "" {
			r.self = append(r.self, s)
		}
	}
	var err error
	if r.projects, err = resourcemanager.NewProjectsRESTClient(ctx, opts...); err != nil {
		return nil, fmt.Errorf("creating the resource manager projects client: %w", err)
	}
	if r.folders, err = resourcemanager.NewFoldersRESTClient(ctx, opts...); err != nil {
		_ = r.projects.Close()
		return nil, fmt.Errorf("creating the resource manager folders client: %w", err)
	}
	if r.orgs, err = resourcemanager.NewOrganizationsRESTClient(ctx, opts...); err != nil {
		_ = r.projects.Close()
		_ = r.folders.Close()
		return nil, fmt.Errorf("creating the resource manager organizations client: %w", err)
	}
	// opts retry reads (remediators.Config.Options): the clients' own retries would repeat
	// some reads without a bound on attempts.
	*r.projects.CallOptions = resourcemanager.ProjectsCallOptions{}
	*r.folders.CallOptions = resourcemanager.FoldersCallOptions{}
	*r.orgs.CallOptions = resourcemanager.OrganizationsCallOptions{}
	return r, nil
}

// Close releases the clients; it is safe to call more than once.
func (r *Remediator) Close() error {
	r.closeOnce.Do(func() {
		for _, c := range []interface{ Close() error }{r.projects, r.folders, r.orgs} {
			if err := c.Close(); err != nil && r.closeErr == nil {
				r.closeErr = fmt.Errorf("closing the resource manager clients: %w", err)
			}
		}
	})
	return r.closeErr
}

// RemoveBinding returns iam.removeBinding.
func (r *Remediator) RemoveBinding() remediators.Action { return &removeBinding{policyAction{r: r}} }

// Actions returns every IAM policy action.
func (r *Remediator) Actions() []remediators.Action {
	return []remediators.Action{r.RemoveBinding(), r.SetAuditConfig()}
}

// isSelf reports whether member is one of zerodrift's own identities.
func (r *Remediator) isSelf(member string) bool {
	for _, s := range r.self {
		if strings.EqualFold(s, member) {
			return true
		}
	}
	return false
}

// target is a resource whose policy is edited.
type target struct {
	kind string // projects, folders or organizations
	name string // e.g. projects/123, the API's resource name
}

func (t target) assetType() string {
	switch t.kind {
	case kindFolder:
		return inventory.TypeFolder
	case kindOrganization:
		return inventory.TypeOrganization
	}
	return inventory.TypeProject
}

func parseTarget(resource string) (target, error) {
	rest, ok := strings.CutPrefix(resource, crmPrefix)
	kind, id, _ := strings.Cut(rest, "/")
	switch {
	case !ok, id == "", strings.Contains(id, "/"), kind != kindProject && kind != kindFolder && kind != kindOrganization:
		return target{}, fmt.Errorf("%w: %q is not %s{projects,folders,organizations}/ID", remediators.ErrInvalidRequest, resource, crmPrefix)
	case kind == kindProject && !gcputil.ValidProject(id), kind != kindProject && !gcputil.ValidNumber(id):
		return target{}, fmt.Errorf("%w: %q is not a project ID or number, or a folder's or organization's number; zerodrift does not send it to the API",
			remediators.ErrInvalidRequest, resource)
	}
	return target{kind: kind, name: rest}, nil
}

// read reads a policy at version 3.
func (r *Remediator) read(ctx context.Context, t target) (*inventory.Policy, error) {
	req := &iampb.GetIamPolicyRequest{Resource: t.name, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}}
	var p *iampb.Policy
	var err error
	switch t.kind {
	case kindFolder:
		p, err = r.folders.GetIamPolicy(ctx, req)
	case kindOrganization:
		p, err = r.orgs.GetIamPolicy(ctx, req)
	default:
		p, err = r.projects.GetIamPolicy(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the IAM policy of %s: %w", t.name, gcputil.Gone(err))
	}
	return fromProto(p), nil
}

// write writes a policy with the etag it carries.
func (r *Remediator) write(ctx context.Context, t target, p *inventory.Policy) (*inventory.Policy, error) {
	return r.writeMasked(ctx, t, p, nil)
}

// writeMasked writes a policy with the etag it carries and, when paths are given, the
// update mask: only the fields it names change (without, Google's default: bindings and
// etag).
func (r *Remediator) writeMasked(ctx context.Context, t target, p *inventory.Policy, paths []string) (*inventory.Policy, error) {
	what := "the IAM policy of " + t.name
	if len(paths) > 0 {
		what = strings.Join(paths, ", ") + " of " + what
	}
	pb, err := toProto(p)
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", what, err)
	}
	req := &iampb.SetIamPolicyRequest{Resource: t.name, Policy: pb}
	if len(paths) > 0 {
		req.UpdateMask = &fieldmaskpb.FieldMask{Paths: paths}
	}
	var out *iampb.Policy
	switch t.kind {
	case kindFolder:
		out, err = r.folders.SetIamPolicy(ctx, req)
	case kindOrganization:
		out, err = r.orgs.SetIamPolicy(ctx, req)
	default:
		out, err = r.projects.SetIamPolicy(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", what, gcputil.Gone(err))
	}
	return fromProto(out), nil
}
