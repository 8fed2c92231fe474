package rules

import (
	"hash/maphash"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file holds the rules that read IAM policies of projects, folders and organizations,
// and what they share: walking grants, recognizing privileged roles, telling Google's own
// service accounts from the customer's.

// grant is one member's grant of a role, possibly under a condition.
type grant struct {
	role      string
	member    string
	condition *inventory.Condition // nil when unconditional
}

// offending names the grant for a finding ID: role, member and the condition's expression,
// so the same member holding the same role under two conditions makes two findings.
func (g grant) offending() string {
	s := g.role + " " + g.member
	if g.condition != nil {
		s += " if " + g.condition.Expression
	}
	return s
}

// evidence describes the grant. A conditional grant is reported with its condition, as
// written: zerodrift does not guess whether the condition holds.
func (g grant) evidence(a *inventory.Asset) map[string]any {
	ev := map[string]any{
		"member":      g.member,
		"role":        g.role,
		"policyOf":    a.Name,
		"conditional": g.condition != nil,
	}
	if g.condition != nil {
		ev["condition"] = map[string]string{
			"title":      g.condition.Title,
			"expression": g.condition.Expression,
		}
	}
	return ev
}

// grants lists the grants of a policy in policy order, each (role, member, condition
// expression) once, leaving out deleted principals ("deleted:..."), which no one can use.
func grants(p *inventory.Policy) []grant {
	if p == nil {
		return nil
	}
	n := 0
	for _, b := range p.Bindings {
		n += len(b.Members)
	}
	if n == 0 {
		return nil
	}
	out := make([]grant, 0, n)
	// Duplicates are found by their offending strings, compared through a hash of each
	// (without building the strings) and then, on equal hashes, in full.
	var small [32]uint64
	hashes := small[:0]
	for _, b := range p.Bindings {
		for _, m := range b.Members {
			if memberType(m) == "deleted" {
				continue
			}
			g := grant{role: b.Role, member: m, condition: b.Condition}
			h := g.offendingHash()
			dup := false
			for i, oh := range hashes {
				if oh == h && out[i].sameOffending(g) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, g)
				hashes = append(hashes, h)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var grantSeed = maphash.MakeSeed()

// offendingHash hashes g.offending() without building it.
func (g grant) offendingHash() uint64 {
	var h maphash.Hash
	h.SetSeed(grantSeed)
	for _, s := range g.parts() {
		h.WriteString(s)
	}
	return h.Sum64()
}

// sameOffending reports whether g and h have the same offending string, without building
// either.
func (g grant) sameOffending(h grant) bool {
	gp, hp := g.parts(), h.parts()
	gi, gj, hi, hj := 0, 0, 0, 0
	for {
		for gi < len(gp) && gj == len(gp[gi]) {
			gi, gj = gi+1, 0
		}
		for hi < len(hp) && hj == len(hp[hi]) {
			hi, hj = hi+1, 0
		}
		if gi == len(gp) || hi == len(hp) {
			return gi == len(gp) && hi == len(hp)
		}
		a, b := gp[gi][gj:], hp[hi][hj:]
		k := min(len(a), len(b))
		if a[:k] != b[:k] {
			return false
		}
		gj += k
		hj += k
	}
}

// parts lists the pieces g.offending joins.
func (g grant) parts() []string {
	if g.condition != nil {
		return []string{g.role, " ", g.member, " if ", g.condition.Expression}
	}
	return []string{g.role, " ", g.member}
}

// memberType returns the lower-cased type of an IAM member: "user" for "user:x@acme.example",
// "serviceaccount" for "serviceAccount:...", "allusers" for "allUsers".
func memberType(member string) string {
	t, _, _ := strings.Cut(member, ":")
	// The usual spellings, without the allocation of strings.ToLower.
	switch t {
	case "serviceAccount":
		return "serviceaccount"
	case "allUsers":
		return "allusers"
	case "allAuthenticatedUsers":
		return "allauthenticatedusers"
	case "principalSet":
		return "principalset"
	}
	return strings.ToLower(t)
}

// memberValue returns what follows the member's type: the email of "user:x@acme.example".
func memberValue(member string) string {
	_, v, _ := strings.Cut(member, ":")
	return v
}

// IsPrivilegedRole reports whether role is basic Owner or Editor or an administrator role:
// one whose name's last part ends in "Admin" or "admin" (roles/iam.securityAdmin,
// roles/compute.admin, organizations/1/roles/networkAdmin).
func IsPrivilegedRole(role string) bool {
	if role == "roles/owner" || role == "roles/editor" {
		return true
	}
	last := role[strings.LastIndexByte(role, '/')+1:]
	return strings.HasSuffix(last, "Admin") || strings.HasSuffix(last, "admin")
}

// AccountKind says who owns a service account, as far as its email tells.
type AccountKind string

// Service account kinds.
const (
	// AccountUserManaged is created by the customer: x@PROJECT.iam.gserviceaccount.com, or a
	// legacy NUMBER-x@developer.gserviceaccount.com account.
	AccountUserManaged AccountKind = "user-managed"
	// AccountDefaultCompute is the Compute Engine default service account,
	// NUMBER-compute@developer.gserviceaccount.com.
	AccountDefaultCompute AccountKind = "default-compute"
	// AccountDefaultAppEngine is the App Engine default service account,
	// PROJECT@appspot.gserviceaccount.com.
	AccountDefaultAppEngine AccountKind = "default-appengine"
	// AccountGoogleManaged is a Google service agent, which Google creates, grants and uses.
	AccountGoogleManaged AccountKind = "google-managed"
	// AccountUnrecognized is an email that is no service account address zerodrift knows.
	AccountUnrecognized AccountKind = "unrecognized"
)

// CustomerControlled reports whether the customer, not Google, decides what the account does:
// every kind but AccountGoogleManaged. An unrecognized email counts as the customer's, so that
// an odd address is reported rather than trusted.
func (k AccountKind) CustomerControlled() bool { return k != AccountGoogleManaged }

// ClassifyServiceAccount tells a service account's kind from its email.
//
// Google service agents are: NUMBER@cloudservices.gserviceaccount.com; accounts named
// service-NUMBER, service-org-NUMBER or service-folder-NUMBER; accounts in
// gcp-sa-*.iam.gserviceaccount.com or *-system.iam.gserviceaccount.com; and accounts of any
// other *.gserviceaccount.com domain than PROJECT.iam, developer and appspot.
func ClassifyServiceAccount(email string) AccountKind {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return AccountUnrecognized
	}
	local, domain := strings.ToLower(email[:at]), strings.ToLower(email[at+1:])
	switch {
	case domain == "cloudservices.gserviceaccount.com", isServiceAgentName(local):
		return AccountGoogleManaged
	case domain == "developer.gserviceaccount.com":
		if digits, ok := strings.CutSuffix(local, "-compute"); ok && isDigits(digits) {
			return AccountDefaultCompute
		}
		return AccountUserManaged
	case domain == "appspot.gserviceaccount.com":
		return AccountDefaultAppEngine
	case strings.HasSuffix(domain, ".iam.gserviceaccount.com"):
		project := strings.TrimSuffix(domain, ".iam.gserviceaccount.com")
		if strings.HasPrefix(project, "gcp-sa-") || strings.HasSuffix(project, "-system") {
			return AccountGoogleManaged
		}
		return AccountUserManaged
	case strings.HasSuffix(domain, ".gserviceaccount.com"):
		return AccountGoogleManaged
	}
	return AccountUnrecognized
}

// isServiceAgentName reports whether a service account's local part is a service agent's:
// service-NUMBER, service-org-NUMBER or service-folder-NUMBER. The number matters: a
// customer may name an account of their own "service-admin".
func isServiceAgentName(local string) bool {
	rest, ok := strings.CutPrefix(local, "service-")
	if !ok {
		return false
	}
	for _, scope := range []string{"org-", "folder-"} {
		if r, ok := strings.CutPrefix(rest, scope); ok {
			rest = r
			break
		}
	}
	return isDigits(rest)
}

func isDigits(s string) bool {
	return s != "" && strings.TrimLeft(s, "0123456789") == ""
}

// hierarchyTypes are the asset types whose IAM policies the hierarchy-wide rules read.
func hierarchyTypes() []string {
	return []string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}
}

// saAdminRole finds customer-controlled service accounts holding Owner, Editor or an
// administrator role.
type saAdminRole struct{ meta Meta }

func newSAAdminRole() *saAdminRole {
	return &saAdminRole{meta: Meta{
		ID:    "sa-admin-role",
		Title: "Service account holds an owner, editor or admin role",
		Description: "A service account with Owner, Editor or an administrator role can change almost anything " +
			"in its scope, and anyone who can act as it or steal its key gets the same power without being a named administrator.",
		Remediation: "Replace the role with the narrowest predefined or custom roles the workload needs, " +
			"and grant administrator roles to people (through groups) instead of service accounts.",
		Flags: "A user-managed service account (or the default compute / App Engine account) bound to `roles/owner`, " +
			"`roles/editor` or an admin role on a project, folder or organization. " +
			"Google-managed service agents are not flagged.",
		Severity:   SeverityHigh,
		Category:   "ADMIN_SERVICE_ACCOUNT",
		CIS:        CIS{"1.1": {"1.5"}, "5.0": {"1.6"}},
		AssetTypes: hierarchyTypes(),
	}}
}

func (r *saAdminRole) Meta() *Meta { return &r.meta }

func (r *saAdminRole) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	for _, g := range grants(a.IAMPolicy) {
		if memberType(g.member) != "serviceaccount" || !IsPrivilegedRole(g.role) {
			continue
		}
		kind := ClassifyServiceAccount(memberValue(g.member))
		if !kind.CustomerControlled() {
			continue
		}
		ev := g.evidence(a)
		ev["accountKind"] = string(kind)
		out.Findings = append(out.Findings, NewFinding(&r.meta, a, g.offending(), ev))
	}
	return nil
}

// saUserProjectLevel finds people granted Service Account User or Token Creator on a whole
// project, which lets them act as every service account in it.
type saUserProjectLevel struct{ meta Meta }

func newSAUserProjectLevel() *saUserProjectLevel {
	return &saUserProjectLevel{meta: Meta{
		ID:    "sa-user-project-level",
		Title: "User can act as every service account of the project",
		Description: "Service Account User or Token Creator granted on the project lets the user, group or domain " +
			"act as every service account in it, present and future, and so gain all of their permissions.",
		Remediation: "Remove the project-level grant and grant the role on the specific service accounts " +
			"the principal needs to act as.",
		Flags:      "A user, group or domain granted Service Account User or Token Creator on the whole project.",
		Severity:   SeverityMedium,
		Category:   "OVER_PRIVILEGED_SERVICE_ACCOUNT_USER",
		CIS:        CIS{"1.1": {"1.6"}, "5.0": {"1.7"}},
		AssetTypes: []string{inventory.TypeProject},
	}}
}

func (r *saUserProjectLevel) Meta() *Meta { return &r.meta }

func (r *saUserProjectLevel) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	for _, g := range grants(a.IAMPolicy) {
		switch memberType(g.member) {
		case "user", "group", "domain":
		default:
			continue
		}
		if g.role != "roles/iam.serviceAccountUser" && g.role != "roles/iam.serviceAccountTokenCreator" {
			continue
		}
		out.Findings = append(out.Findings, NewFinding(&r.meta, a, g.offending(), g.evidence(a)))
	}
	return nil
}

// iamPublicMember finds allUsers and allAuthenticatedUsers in resource hierarchy policies.
type iamPublicMember struct{ meta Meta }

func newIAMPublicMember() *iamPublicMember {
	return &iamPublicMember{meta: Meta{
		ID:    "iam-public-member",
		Title: "IAM policy grants a role to the public",
		Description: "allUsers is anyone on the internet and allAuthenticatedUsers is anyone with a Google account; " +
			"a role granted to either on a project, folder or organization is granted to strangers.",
		Remediation: "Remove allUsers and allAuthenticatedUsers from the policy and grant the role to the " +
			"specific users, groups or service accounts that need it.",
		Flags:        "`allUsers` or `allAuthenticatedUsers` in a project, folder or organization IAM policy.",
		Severity:     SeverityHigh,
		SeverityNote: "critical (owner, editor, admin), high",
		Category:     "PUBLIC_IAM_POLICY",
		AssetTypes:   hierarchyTypes(),
	}}
}

func (r *iamPublicMember) Meta() *Meta { return &r.meta }

func (r *iamPublicMember) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	for _, g := range grants(a.IAMPolicy) {
		if t := memberType(g.member); t != "allusers" && t != "allauthenticatedusers" {
			continue
		}
		f := NewFinding(&r.meta, a, g.offending(), g.evidence(a))
		if IsPrivilegedRole(g.role) {
			f.Severity = SeverityCritical
		}
		out.Findings = append(out.Findings, f)
	}
	return nil
}
