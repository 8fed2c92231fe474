package rules

import (
	"slices"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file holds the rules about who the people in a project's, folder's or organization's
// IAM policy are and what they hold: separation of the service account roles, accounts from
// outside the organization's domains, and basic roles granted to people.
//
// Each rule first looks for its drift without allocating, so a compliant policy costs no
// garbage; only a policy that drifts is walked with grants() and grouped by member.

// identityRules returns the rules of this file, each a fresh value the caller owns.
func identityRules() []Rule {
	return []Rule{
		newSARoleSeparation(),
		newIAMNonOrgMember(),
		newIAMPrimitiveRoleUser(),
	}
}

// The roles whose separation sa-role-separation checks.
const (
	identityRoleSAAdmin = "roles/iam.serviceAccountAdmin"
	identityRoleSAUser  = "roles/iam.serviceAccountUser"
)

// identityPerson reports whether member stands for people: a user, a group or every account
// of a domain. Service accounts, the public, federated identities and deleted principals do
// not.
func identityPerson(member string) bool {
	switch memberType(member) {
	case "user", "group", "domain":
		return true
	}
	return false
}

// identityHolding is how a member holds one role on a policy: unconditionally, under
// conditions, or both.
type identityHolding struct {
	role          string
	unconditional bool
	// conditions are the conditions of the conditional grants, each expression once, in
	// policy order.
	conditions []*inventory.Condition
}

func (h *identityHolding) add(c *inventory.Condition) {
	if c == nil {
		h.unconditional = true
		return
	}
	for _, have := range h.conditions {
		if have.Expression == c.Expression {
			return
		}
	}
	h.conditions = append(h.conditions, c)
}

// identityMember is everything one member holds on a policy.
type identityMember struct {
	// member is the member as its first grant spells it; key is it lower-cased, as members
	// are compared: IAM principals' emails are case-insensitive.
	member, key string
	// holdings are the member's roles, in the policy order of their first grant.
	holdings []identityHolding
}

// holding returns the member's holding of role, or nil.
func (m *identityMember) holding(role string) *identityHolding {
	for i := range m.holdings {
		if m.holdings[i].role == role {
			return &m.holdings[i]
		}
	}
	return nil
}

// identityMembers groups the grants of p whose member keep accepts by member, compared
// case-insensitively, in the policy order of each member's first grant. Deleted principals
// are left out, as grants() leaves them.
func identityMembers(p *inventory.Policy, keep func(g grant) bool) []*identityMember {
	var out []*identityMember
	index := make(map[string]int)
	for _, g := range grants(p) {
		if !keep(g) {
			continue
		}
		key := strings.ToLower(g.member)
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, &identityMember{member: g.member, key: key})
		}
		m := out[i]
		h := m.holding(g.role)
		if h == nil {
			m.holdings = append(m.holdings, identityHolding{role: g.role})
			h = &m.holdings[len(m.holdings)-1]
		}
		h.add(g.condition)
	}
	return out
}

// identityConditions describes the conditions under which the holdings hold roles they hold
// only conditionally, in the holdings' order: a role also held unconditionally needs no
// condition to be held, so its conditions are left out. It returns nil when there are none.
// Conditions are reported as written: zerodrift does not guess whether they hold.
func identityConditions(hs ...*identityHolding) []map[string]string {
	var out []map[string]string
	for _, h := range hs {
		if h.unconditional {
			continue
		}
		for _, c := range h.conditions {
			out = append(out, map[string]string{
				"role":       h.role,
				"title":      c.Title,
				"expression": c.Expression,
			})
		}
	}
	return out
}

// saRoleSeparation finds people who hold both Service Account Admin and Service Account
// User on one policy.
type saRoleSeparation struct{ meta Meta }

func newSARoleSeparation() *saRoleSeparation {
	return &saRoleSeparation{meta: Meta{
		ID:    "sa-role-separation",
		Title: "User holds both Service Account Admin and Service Account User",
		Description: "Service Account Admin lets a principal create service accounts and decide who may use them, and " +
			"Service Account User lets it act as them; held together, one person can give themselves the use of any " +
			"service account in scope and act with its permissions, with no second person involved, which defeats " +
			"separation of duties.",
		Remediation: "Give Service Account Admin and Service Account User to different people or groups, so that no " +
			"user, group or domain holds both on the same project, folder or organization: remove from the member " +
			"whichever of the two roles its job does not need.",
		Flags: "A `user:`, `group:` or `domain:` member that holds both `roles/iam.serviceAccountAdmin` and " +
			"`roles/iam.serviceAccountUser` in the IAM policy of one project, folder or organization: one finding per " +
			"member, members compared case-insensitively. Either role may be held under an IAM condition; the finding " +
			"then lists the conditions, which zerodrift does not evaluate. A `domain:` member is flagged because every " +
			"account of the domain holds both roles. Not flagged: a member holding only one of the two roles; " +
			"`serviceAccount:` members (`sa-admin-role` covers service accounts with admin roles), `principal://` and " +
			"`principalSet://` identities, `allUsers`, `allAuthenticatedUsers` and `deleted:` members; a person " +
			"holding one role directly and the other through a group or domain, since group membership is not " +
			"resolved; the two roles held on different resources (one on a project, the other on its folder); custom " +
			"roles with the same permissions; `roles/iam.serviceAccountTokenCreator`.",
		Severity:   SeverityMedium,
		Category:   "SERVICE_ACCOUNT_ROLE_SEPARATION",
		CIS:        CIS{"1.1": {"1.8"}, "5.0": {"1.9"}},
		AssetTypes: hierarchyTypes(),
	}}
}

func (r *saRoleSeparation) Meta() *Meta { return &r.meta }

func (r *saRoleSeparation) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	if !saRoleSeparationBroken(a.IAMPolicy) {
		return nil
	}
	members := identityMembers(a.IAMPolicy, func(g grant) bool {
		return (g.role == identityRoleSAAdmin || g.role == identityRoleSAUser) && identityPerson(g.member)
	})
	for _, m := range members {
		admin, user := m.holding(identityRoleSAAdmin), m.holding(identityRoleSAUser)
		if admin == nil || user == nil {
			continue
		}
		ev := map[string]any{
			"member":      m.member,
			"roles":       []string{identityRoleSAAdmin, identityRoleSAUser},
			"policyOf":    a.Name,
			"conditional": !admin.unconditional || !user.unconditional,
		}
		if conds := identityConditions(admin, user); conds != nil {
			ev["conditions"] = conds
		}
		// The drift is the member holding both roles, whatever the conditions: they are
		// evidence, not identity, so a condition added or changed keeps the finding's ID.
		out.Findings = append(out.Findings, NewFinding(&r.meta, a, m.key, ev))
	}
	return nil
}

// saRoleSeparationPairs bounds the member pairs saRoleSeparationBroken compares one by one;
// a policy with more goes straight to the grouping, which is linear.
const saRoleSeparationPairs = 1024

// saRoleSeparationBroken reports, without allocating, whether some person may hold both
// roles on p: it is exact for policies with few holders of the two roles and answers true
// for the rare ones with many, which the caller then groups by member.
func saRoleSeparationBroken(p *inventory.Policy) bool {
	if p == nil {
		return false
	}
	admins, users := 0, 0
	for i := range p.Bindings {
		switch p.Bindings[i].Role {
		case identityRoleSAAdmin:
			admins += len(p.Bindings[i].Members)
		case identityRoleSAUser:
			users += len(p.Bindings[i].Members)
		}
	}
	if admins == 0 || users == 0 {
		return false
	}
	if admins*users > saRoleSeparationPairs {
		return true
	}
	for i := range p.Bindings {
		if p.Bindings[i].Role != identityRoleSAAdmin {
			continue
		}
		for _, m := range p.Bindings[i].Members {
			if !identityPerson(m) {
				continue
			}
			for j := range p.Bindings {
				if p.Bindings[j].Role != identityRoleSAUser {
					continue
				}
				for _, u := range p.Bindings[j].Members {
					if strings.EqualFold(u, m) {
						return true
					}
				}
			}
		}
	}
	return false
}

// identityConsumerDomains are the domains of personal Google accounts, flagged by
// iam-non-org-member when the baseline lists no allowed domains.
var identityConsumerDomains = [...]string{"gmail.com", "googlemail.com"}

// iamNonOrgMember finds users and groups from outside the organization's domains.
type iamNonOrgMember struct{ meta Meta }

func newIAMNonOrgMember() *iamNonOrgMember {
	return &iamNonOrgMember{meta: Meta{
		ID:    "iam-non-org-member",
		Title: "IAM policy grants a role to an account outside the organization's domains",
		Description: "Users and groups outside the organization's domains, such as personal Gmail accounts, are not " +
			"governed by its identity provider: the organization cannot enforce 2-step verification or session " +
			"policies on them, audit their sign-ins, or suspend them when the person leaves, so their access " +
			"escapes its control.",
		Remediation: "Remove the member from the policy and grant the roles to an account or group of the " +
			"organization's own Cloud Identity or Google Workspace domain; if the domain is the organization's, add it " +
			"to the baseline's allowed domains. To keep outside accounts out, set the organization policy constraint " +
			"iam.allowedPolicyMemberDomains (domain restricted sharing).",
		Flags: "A `user:` or `group:` member whose email domain (what follows the last `@`) is not one of the " +
			"baseline's allowed domains, compared case-insensitively and exactly: `alice@sub.example.com` is flagged " +
			"when only `example.com` is allowed, and so is `alice@notexample.com`. With no allowed domains configured, " +
			"only the consumer domains `gmail.com` and `googlemail.com` are flagged. When allowed domains are " +
			"configured, a member whose email has no domain is flagged too. One finding per member and project, folder " +
			"or organization policy, members compared case-insensitively, listing every role the member holds there " +
			"(and the conditions of roles it holds only conditionally). Not flagged: `serviceAccount:` members, of any " +
			"domain; `domain:` members, even of another domain; `allUsers` and `allAuthenticatedUsers` " +
			"(`iam-public-member` covers them); `principal://` and `principalSet://` identities (workforce and " +
			"workload identity federation); `deleted:` members.",
		Severity:   SeverityHigh,
		Category:   "NON_ORG_IAM_MEMBER",
		CIS:        CIS{"1.1": {"1.1"}},
		AssetTypes: hierarchyTypes(),
	}}
}

func (r *iamNonOrgMember) Meta() *Meta { return &r.meta }

func (r *iamNonOrgMember) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	p := a.IAMPolicy
	if p == nil || !iamNonOrgMemberPresent(env, p) {
		return nil
	}
	members := identityMembers(p, func(g grant) bool {
		_, outside := identityOutsider(env, g.member)
		return outside
	})
	for _, m := range members {
		domain, _ := identityOutsider(env, m.member)
		roles := make([]string, len(m.holdings))
		hs := make([]*identityHolding, len(m.holdings))
		conditional := true
		for i := range m.holdings {
			roles[i] = m.holdings[i].role
			hs[i] = &m.holdings[i]
			conditional = conditional && !m.holdings[i].unconditional
		}
		slices.Sort(roles)
		ev := map[string]any{
			"member":         m.member,
			"domain":         domain,
			"roles":          roles,
			"allowedDomains": append([]string{}, env.AllowedDomains...),
			"policyOf":       a.Name,
			"conditional":    conditional,
		}
		if conds := identityConditions(hs...); conds != nil {
			ev["conditions"] = conds
		}
		out.Findings = append(out.Findings, NewFinding(&r.meta, a, m.key, ev))
	}
	return nil
}

// iamNonOrgMemberPresent reports, without allocating, whether p has a member from outside
// the allowed domains.
func iamNonOrgMemberPresent(env *Env, p *inventory.Policy) bool {
	for i := range p.Bindings {
		for _, m := range p.Bindings[i].Members {
			if _, outside := identityOutsider(env, m); outside {
				return true
			}
		}
	}
	return false
}

// identityOutsider returns the email domain of a user: or group: member and whether it lies
// outside the domains env allows; other members are never outsiders. A member whose email
// has no "@" has domain "".
func identityOutsider(env *Env, member string) (domain string, outside bool) {
	switch memberType(member) {
	case "user", "group":
	default:
		return "", false
	}
	email := memberValue(member)
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		domain = email[at+1:]
	}
	if len(env.AllowedDomains) == 0 {
		for _, d := range identityConsumerDomains {
			if strings.EqualFold(domain, d) {
				return domain, true
			}
		}
		return domain, false
	}
	for _, d := range env.AllowedDomains {
		if strings.EqualFold(domain, d) {
			return domain, false
		}
	}
	return domain, true
}

// iamPrimitiveRoleUser finds the basic roles Owner, Editor and Viewer granted to people.
type iamPrimitiveRoleUser struct{ meta Meta }

func newIAMPrimitiveRoleUser() *iamPrimitiveRoleUser {
	return &iamPrimitiveRoleUser{meta: Meta{
		ID:    "iam-primitive-role-user",
		Title: "Basic role granted to a user, group or domain",
		Description: "The basic roles Owner, Editor and Viewer predate IAM's predefined roles and carry thousands of " +
			"permissions across every service in their scope, including permissions of services added later; granted " +
			"to people, they give far more access than any job needs and break least privilege.",
		Remediation: "Replace the basic role with predefined or custom roles limited to what the member needs, " +
			"preferably granted to a group, then remove the basic role; IAM's role recommendations show which " +
			"permissions the member actually used.",
		Flags: "`roles/owner` (high), `roles/editor` (medium) or `roles/viewer` (low) granted to a `user:`, `group:` " +
			"or `domain:` member in the IAM policy of a project, folder or organization: one finding per role, member " +
			"and condition; a conditional grant is flagged with its condition in the evidence. Not flagged: the same " +
			"roles held by `serviceAccount:` members (`sa-admin-role` covers owner and editor), by `allUsers` or " +
			"`allAuthenticatedUsers` (`iam-public-member` covers them), by `principal://` or `principalSet://` " +
			"identities, or by `deleted:` members; predefined roles with similar names, such as `roles/compute.viewer` " +
			"or `roles/bigquery.dataEditor`; custom roles.",
		Severity:     SeverityMedium,
		SeverityNote: "high (roles/owner), medium (roles/editor), low (roles/viewer)",
		Category:     "PRIMITIVE_ROLES_USED",
		AssetTypes:   hierarchyTypes(),
	}}
}

func (r *iamPrimitiveRoleUser) Meta() *Meta { return &r.meta }

// primitiveRoleSeverity returns the severity of a basic role granted to people, and whether
// role is one.
func primitiveRoleSeverity(role string) (Severity, bool) {
	switch role {
	case "roles/owner":
		return SeverityHigh, true
	case "roles/editor":
		return SeverityMedium, true
	case "roles/viewer":
		return SeverityLow, true
	}
	return SeverityUnknown, false
}

func (r *iamPrimitiveRoleUser) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	if !primitiveRoleToPerson(a.IAMPolicy) {
		return nil
	}
	for _, g := range grants(a.IAMPolicy) {
		sev, ok := primitiveRoleSeverity(g.role)
		if !ok || !identityPerson(g.member) {
			continue
		}
		f := NewFinding(&r.meta, a, g.offending(), g.evidence(a))
		f.Severity = sev
		out.Findings = append(out.Findings, f)
	}
	return nil
}

// primitiveRoleToPerson reports, without allocating, whether p grants a basic role to a
// person.
func primitiveRoleToPerson(p *inventory.Policy) bool {
	if p == nil {
		return false
	}
	for i := range p.Bindings {
		if _, ok := primitiveRoleSeverity(p.Bindings[i].Role); !ok {
			continue
		}
		for _, m := range p.Bindings[i].Members {
			if identityPerson(m) {
				return true
			}
		}
	}
	return false
}
