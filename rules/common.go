package rules

import (
	"errors"
	"fmt"
	"slices"

	"github.com/zerodrift/zerodrift/inventory"
)

// checkInput rejects what no rule can judge: a missing env, asset or results, or an asset of
// a type the rule does not inspect. The engine never sends those; the check keeps a wiring
// mistake an error instead of a panic or a silent pass.
func checkInput(m *Meta, env *Env, a *inventory.Asset, out *Results) error {
	switch {
	case a == nil:
		return fmt.Errorf("rule %s: no asset to judge", m.ID)
	case env == nil:
		return fmt.Errorf("rule %s: judging %s: no Env", m.ID, a.Name)
	case out == nil:
		return fmt.Errorf("rule %s: judging %s: no Results to append to", m.ID, a.Name)
	case !slices.Contains(m.AssetTypes, a.AssetType):
		return fmt.Errorf("rule %s: asset %s is a %q, not one of %q", m.ID, a.Name, a.AssetType, m.AssetTypes)
	}
	return nil
}

// viewOf reads an asset's typed view (read is one of inventory.Asset's accessors, such as
// (*inventory.Asset).Firewall) for rule id; nil without error when the asset has no
// resource data (an IAM-policy-only line), which the rules pass over.
func viewOf[T any](id string, a *inventory.Asset, read func(*inventory.Asset) (*T, error)) (*T, error) {
	v, err := read(a)
	if errors.Is(err, inventory.ErrNoResource) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", id, err)
	}
	return v, nil
}

// skipManagedFirewall lists firewall a, named name, as skipped by rule m when the baseline
// skips the rules GKE and Kubernetes manage and name is one of theirs, and reports whether
// it did. what says what the controller does to the rule and where to change it instead.
func skipManagedFirewall(m *Meta, env *Env, a *inventory.Asset, name, what string, out *Results) bool {
	pattern, managed := ManagedFirewallPattern(name)
	if !managed || !env.SkipManagedFirewalls {
		return false
	}
	out.Skipped = append(out.Skipped, Skip{Rule: m.ID, Resource: a.Name, Project: a.Project(),
		Reason: fmt.Sprintf("managed by GKE/Kubernetes: the name matches %s and its controller %s", pattern, what)})
	return true
}
