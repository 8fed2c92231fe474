package rules

import (
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
