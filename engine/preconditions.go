package engine

import (
	"fmt"
	"strings"

	"github.com/zerodrift/zerodrift/rules"
)

// checkPreconditions evaluates a playbook's named preconditions on a finding; the first that
// fails is the reason the fix is refused.
func (e *Engine) checkPreconditions(fix Fix, f *rules.Finding) error {
	for _, p := range fix.Preconditions {
		switch p {
		case "notExempt":
			// Exemptions are decided before any playbook is chosen.
		case "notManagedByGKE":
			name := f.Resource[strings.LastIndexByte(f.Resource, '/')+1:]
			if pattern, ok := rules.ManagedFirewallPattern(name); ok {
				return fmt.Errorf("precondition notManagedByGKE: %s matches %s, which GKE recreates", name, pattern)
			}
		case "notOwnAccess":
			for _, key := range []string{"member", "serviceAccount"} {
				v, _ := f.Evidence[key].(string)
				if v == "" {
					continue
				}
				for _, self := range e.d.Config.GCP.Identity {
					if v == self || strings.TrimPrefix(self, "serviceAccount:") == v {
						return fmt.Errorf("precondition notOwnAccess: %s is zerodrift's own identity", v)
					}
				}
			}
		case "unconditionalGrant":
			if c, _ := f.Evidence["conditional"].(bool); c {
				return fmt.Errorf("precondition unconditionalGrant: the grant has an IAM condition; review it by hand")
			}
		default:
			return fmt.Errorf("unknown precondition %q (known: notExempt, notManagedByGKE, notOwnAccess, unconditionalGrant)", p)
		}
	}
	return nil
}
