package iac

import (
	"errors"
	"fmt"
	"slices"

	"github.com/zerodrift/zerodrift/inventory"
)

// auditService is the service of the audit configuration the audit-logging-disabled rule
// wants: every service.
const auditService = "allServices"

// auditPolicyOverrides is why a project's google_project_iam_policy keeps its audit
// configuration from being Managed.
const auditPolicyOverrides = "google_project_iam_policy is authoritative for the project's IAM policy, audit configuration included: " +
	"a google_project_iam_audit_config would fight it; change the audit_config blocks of its policy data by hand"

// isAuditEvidence reports whether a project finding's evidence is that of
// audit-logging-disabled (missingLogTypes, exemptedMembers), which maps to the project's
// audit configuration rather than to a grant.
func isAuditEvidence(ev map[string]any) bool {
	_, missing := ev["missingLogTypes"]
	_, exempted := ev["exemptedMembers"]
	return missing || exempted
}

// isAuditFinding reports whether a finding is about a project's audit configuration: a
// project finding with audit evidence that names no role or member.
func isAuditFinding(assetType string, ev map[string]any) bool {
	return assetType == inventory.TypeProject && evString(ev, "role") == "" && evString(ev, "member") == "" && isAuditEvidence(ev)
}

// auditHits finds what declares a project's audit configuration for allServices: a
// google_project_iam_audit_config. A google_project_iam_policy of the project is
// authoritative for the whole policy, audit configuration included, so it is a candidate
// Patch does not edit (its policy data's audit_config blocks are edited by hand). When
// nothing declares it, the files that declare the project's IAM (its grants, or else the
// project) say where a new google_project_iam_audit_config goes: newBlock returns that
// decision, for when no declaration remains.
func (ix *Index) auditHits(project identity) (hits []hit, newBlock func() []hit) {
	ix.resourceExpansions("resource", KindAuditConfig, func(in *instance, b *tfBlock, ex expansion) {
		c := ix.newCriteria()
		svc := arg(ex.sc, b.b, "service")
		if svc == nil {
			return
		}
		c.check("service", svc, fitString(svc, auditService, false), auditService)
		c.checkProject(in, b, ex.sc, project)
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		hits = append(hits, blockHit(in, b, ex, c, KindAuditConfig, &target{kind: tAuditConfig, in: in, b: b, ex: ex, project: project}))
	})
	scope := iamScope{kind: "project", id: project, attr: "project", prefixes: []string{"projects/"}}
	var anchors []anchor
	for _, typ := range []string{"google_project" + iamMemberSuffix, "google_project" + iamBindingSuffix, "google_project" + iamPolicySuffix} {
		ix.resourceExpansions("resource", typ, func(in *instance, b *tfBlock, ex expansion) {
			v := scope.of(in, b, ex.sc)
			f := fitIdentity(v, project, false, "projects/")
			if f == fitNo {
				return
			}
			if typ == "google_project"+iamPolicySuffix {
				c := ix.newCriteria()
				c.check("project", v, f, project.String())
				c.uncertain(ex.uncertain)
				c.uncertain(auditPolicyOverrides)
				hits = append(hits, blockHit(in, b, ex, c, typ, nil))
				return
			}
			if f == fitYes && ex.uncertain == "" {
				anchors = append(anchors, ix.anchorOf(in, b, ex, project))
			}
		})
	}
	ix.moduleCalls(shapeProjectsIAM, func(in *instance, b *tfBlock, ex expansion) {
		scopes := arg(ex.sc, b.b, "projects")
		if scopes == nil || ex.uncertain != "" {
			return
		}
		i, f := listFit(scopes, func(v *val) fit { return fitIdentity(v, project, false, "projects/") })
		if f != fitYes {
			return
		}
		a := ix.anchorOf(in, b, ex, project)
		if site := siteAt(scopes, i); site != nil && ex.key == "" {
			if f := ix.files[site.Range().Filename]; f != nil {
				if text := exprSource(f.src, site); copyable(text) {
					a.project = text
				}
			}
		}
		anchors = append(anchors, a)
	})
	hits = append(hits, ix.opaqueModuleHits(project, []string{project.String(), auditService}, "project and allServices")...)
	return hits, func() []hit {
		if len(anchors) == 0 {
			anchors = ix.projectAnchors(project)
		}
		return ix.newBlockHits(anchors, KindAuditConfig, labelText(project.id)+"_all_services", project, "",
			"no google_project_iam_audit_config declares the project's audit logging for allServices, and")
	}
}

// auditLogTypes are the log types the audit configuration must enable, in the order they are
// written.
var auditLogTypes = []string{"ADMIN_READ", "DATA_READ", "DATA_WRITE"}

// auditTypes reads params["logTypes"]: a subset of ADMIN_READ, DATA_READ and DATA_WRITE
// (default: all three), in that order.
func auditTypes(params map[string]any) ([]string, error) {
	ts, ok, err := paramStrings(params, "logTypes")
	if err != nil {
		return nil, err
	}
	if !ok {
		return slices.Clone(auditLogTypes), nil
	}
	for _, t := range ts {
		if !slices.Contains(auditLogTypes, t) {
			return nil, fmt.Errorf("iac: parameter logTypes: %s is not ADMIN_READ, DATA_READ or DATA_WRITE", quote(t))
		}
	}
	var out []string
	for _, lt := range auditLogTypes {
		if slices.Contains(ts, lt) {
			out = append(out, lt)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("iac: parameter logTypes is empty")
	}
	return out, nil
}
