package iampolicy

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/genproto/googleapis/type/expr"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file converts policies between the API and the asset model, and edits them in the
// asset model: a pair is one member's grant of one role under one condition (or none).

// fromProto converts a policy read from the API.
func fromProto(p *iampb.Policy) *inventory.Policy {
	out := &inventory.Policy{Version: int(p.GetVersion()), Etag: base64.StdEncoding.EncodeToString(p.GetEtag())}
	for _, b := range p.GetBindings() {
		nb := inventory.Binding{Role: b.GetRole(), Members: slices.Clone(b.GetMembers())}
		if c := b.GetCondition(); c != nil {
			nb.Condition = &inventory.Condition{Title: c.GetTitle(), Description: c.GetDescription(), Expression: c.GetExpression()}
		}
		out.Bindings = append(out.Bindings, nb)
	}
	for _, ac := range p.GetAuditConfigs() {
		c := inventory.AuditConfig{Service: ac.GetService()}
		for _, l := range ac.GetAuditLogConfigs() {
			c.AuditLogConfigs = append(c.AuditLogConfigs, inventory.AuditLogConfig{
				LogType: l.GetLogType().String(), ExemptedMembers: slices.Clone(l.GetExemptedMembers())})
		}
		out.AuditConfigs = append(out.AuditConfigs, c)
	}
	return out
}

// toProto converts a policy to write; it must carry the etag it was read with.
func toProto(p *inventory.Policy) (*iampb.Policy, error) {
	if p.Etag == "" {
		return nil, fmt.Errorf("the policy carries no etag: a policy read without one is never written back")
	}
	etag, err := base64.StdEncoding.DecodeString(p.Etag)
	if err != nil {
		return nil, fmt.Errorf("the policy's etag %q is not base64: %w", p.Etag, err)
	}
	out := &iampb.Policy{Version: 1, Etag: etag}
	for _, b := range p.Bindings {
		nb := &iampb.Binding{Role: b.Role, Members: slices.Clone(b.Members)}
		if b.Condition != nil {
			nb.Condition = &expr.Expr{Title: b.Condition.Title, Description: b.Condition.Description, Expression: b.Condition.Expression}
			out.Version = 3 // conditional bindings are written at version 3 only
		}
		out.Bindings = append(out.Bindings, nb)
	}
	for _, ac := range p.AuditConfigs {
		c := &iampb.AuditConfig{Service: ac.Service}
		for _, l := range ac.AuditLogConfigs {
			t, ok := iampb.AuditLogConfig_LogType_value[l.LogType]
			if !ok {
				return nil, fmt.Errorf("audit config of %s: unknown log type %q", ac.Service, l.LogType)
			}
			c.AuditLogConfigs = append(c.AuditLogConfigs, &iampb.AuditLogConfig{
				LogType: iampb.AuditLogConfig_LogType(t), ExemptedMembers: slices.Clone(l.ExemptedMembers)})
		}
		out.AuditConfigs = append(out.AuditConfigs, c)
	}
	return out, nil
}

// clonePolicy deep-copies a policy.
func clonePolicy(p *inventory.Policy) *inventory.Policy {
	c := &inventory.Policy{Version: p.Version, Etag: p.Etag, Bindings: cloneBindings(p.Bindings)}
	for _, ac := range p.AuditConfigs {
		n := inventory.AuditConfig{Service: ac.Service}
		for _, l := range ac.AuditLogConfigs {
			n.AuditLogConfigs = append(n.AuditLogConfigs, inventory.AuditLogConfig{LogType: l.LogType, ExemptedMembers: slices.Clone(l.ExemptedMembers)})
		}
		c.AuditConfigs = append(c.AuditConfigs, n)
	}
	return c
}

func cloneBindings(bs []inventory.Binding) []inventory.Binding {
	var out []inventory.Binding
	for _, b := range bs {
		n := inventory.Binding{Role: b.Role, Members: slices.Clone(b.Members)}
		if b.Condition != nil {
			c := *b.Condition
			n.Condition = &c
		}
		out = append(out, n)
	}
	return out
}

// pair is one member's grant of one role under one condition; cond is nil when the grant
// is unconditional.
type pair struct {
	role, member string
	cond         *inventory.Condition
}

func (p pair) String() string {
	s := p.member + " in " + p.role
	if p.cond != nil {
		s += fmt.Sprintf(" if %q (%s)", p.cond.Expression, p.cond.Title)
	}
	return s
}

func sameCondition(a, b *inventory.Condition) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// pairs lists a policy's pairs in policy order, each once.
func pairs(bs []inventory.Binding) []pair {
	var out []pair
	for _, b := range bs {
		for _, m := range b.Members {
			p := pair{b.Role, m, b.Condition}
			if !slices.ContainsFunc(out, p.same) {
				out = append(out, p)
			}
		}
	}
	return out
}

func (p pair) same(o pair) bool {
	return p.role == o.role && p.member == o.member && sameCondition(p.cond, o.cond)
}

// has reports whether bindings grant the pair.
func has(bs []inventory.Binding, p pair) bool {
	return slices.ContainsFunc(pairs(bs), p.same)
}

// without returns bindings without the pair: the member leaves every binding of the role
// and condition (IAM keeps one), and a binding left without members is dropped. Other
// bindings, and the order of everything, are kept.
func without(bs []inventory.Binding, p pair) []inventory.Binding {
	var out []inventory.Binding
	for _, b := range cloneBindings(bs) {
		if b.Role == p.role && sameCondition(b.Condition, p.cond) {
			b.Members = slices.DeleteFunc(b.Members, func(m string) bool { return m == p.member })
			if len(b.Members) == 0 {
				continue
			}
		}
		out = append(out, b)
	}
	return out
}

// with returns bindings with the pair added. The member goes into the binding of the role
// and condition, at the place it had in ref (the bindings it is restored from) when it had
// one; a missing binding is added, at its place in ref when it had one, else at the end.
func with(bs []inventory.Binding, p pair, ref []inventory.Binding) []inventory.Binding {
	if has(bs, p) {
		return cloneBindings(bs)
	}
	out := cloneBindings(bs)
	refBinding, refMember := -1, -1
	for i, b := range ref {
		if b.Role == p.role && sameCondition(b.Condition, p.cond) {
			refBinding, refMember = i, slices.Index(b.Members, p.member)
			break
		}
	}
	for i, b := range out {
		if b.Role == p.role && sameCondition(b.Condition, p.cond) {
			at := len(b.Members)
			if refMember >= 0 {
				at = min(refMember, at)
			}
			out[i].Members = slices.Insert(b.Members, at, p.member)
			return out
		}
	}
	nb := inventory.Binding{Role: p.role, Members: []string{p.member}}
	if p.cond != nil {
		c := *p.cond
		nb.Condition = &c
	}
	at := len(out)
	if refBinding >= 0 {
		at = min(refBinding, at)
	}
	return slices.Insert(out, at, nb)
}

// diff returns the pairs of before that after lacks, and those after adds.
func diff(before, after []inventory.Binding) (removed, added []pair) {
	for _, p := range pairs(before) {
		if !has(after, p) {
			removed = append(removed, p)
		}
	}
	for _, p := range pairs(after) {
		if !has(before, p) {
			added = append(added, p)
		}
	}
	return removed, added
}

// ownerRoles are the roles whose holders own a resource: a change may not leave a project,
// folder or organization without one.
func ownerRoles(kind string) []string {
	switch kind {
	case kindFolder:
		return []string{"roles/owner", "roles/resourcemanager.folderAdmin"}
	case kindOrganization:
		return []string{"roles/owner", "roles/resourcemanager.organizationAdmin"}
	}
	return []string{"roles/owner"}
}

// owners lists the members holding an owner role unconditionally (a condition may stop
// holding), deleted principals left out.
func owners(bs []inventory.Binding, kind string) []string {
	var out []string
	for _, p := range pairs(bs) {
		if p.cond == nil && slices.Contains(ownerRoles(kind), p.role) && !strings.HasPrefix(p.member, "deleted:") &&
			!slices.Contains(out, p.member) {
			out = append(out, p.member)
		}
	}
	return out
}
