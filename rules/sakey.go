package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// liveUserManagedKey is a user-managed service account key that is not disabled.
type liveUserManagedKey struct {
	key            *inventory.ServiceAccountKey
	serviceAccount string
	keyID          string
}

// decodeLiveUserManagedKey reads a service account key asset for rule id and returns it when
// it is user-managed and enabled; nil otherwise, including for an asset without resource data.
func decodeLiveUserManagedKey(id string, a *inventory.Asset) (*liveUserManagedKey, error) {
	k, err := a.ServiceAccountKey()
	if errors.Is(err, inventory.ErrNoResource) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", id, err)
	}
	if !strings.EqualFold(k.KeyType, "USER_MANAGED") || k.Disabled {
		return nil, nil
	}
	// The data's name is the key's own; the asset name carries the same path after the
	// service's host, and stands in when the data has none or a garbled one.
	sa, keyID, ok := ParseKeyName(k.Name)
	if !ok {
		sa, keyID, ok = ParseKeyName(strings.TrimPrefix(a.Name, "//iam.googleapis.com/"))
	}
	if !ok {
		return nil, fmt.Errorf("rule %s: key %s: neither its name nor resource.data.name (%q) "+
			"is projects/P/serviceAccounts/EMAIL/keys/ID", id, a.Name, k.Name)
	}
	return &liveUserManagedKey{key: k, serviceAccount: sa, keyID: keyID}, nil
}

// evidence describes the key.
func (k *liveUserManagedKey) evidence() map[string]any {
	validAfter := ""
	if !k.key.ValidAfterTime.IsZero() {
		validAfter = k.key.ValidAfterTime.UTC().Format(time.RFC3339)
	}
	return map[string]any{
		"serviceAccount": k.serviceAccount,
		"keyId":          k.keyID,
		"validAfterTime": validAfter,
		"keyOrigin":      k.key.KeyOrigin,
	}
}

// ParseKeyName splits a service account key's name, projects/P/serviceAccounts/EMAIL/keys/ID,
// into the account's email and the key's ID.
func ParseKeyName(name string) (serviceAccount, keyID string, ok bool) {
	// The six parts of strings.Split(name, "/"), without its allocation.
	var parts [6]string
	rest := name
	for i := range 5 {
		var found bool
		if parts[i], rest, found = strings.Cut(rest, "/"); !found {
			return "", "", false
		}
	}
	parts[5] = rest
	if strings.Contains(rest, "/") || parts[0] != "projects" || parts[2] != "serviceAccounts" || parts[4] != "keys" ||
		parts[1] == "" || parts[3] == "" || parts[5] == "" {
		return "", "", false
	}
	return parts[3], parts[5], true
}

// saUserManagedKey finds user-managed service account keys.
type saUserManagedKey struct{ meta Meta }

func newSAUserManagedKey() *saUserManagedKey {
	return &saUserManagedKey{meta: Meta{
		ID:    "sa-user-managed-key",
		Title: "Service account has a user-managed key",
		Description: "A user-managed key is a long-lived credential that lives outside Google Cloud, " +
			"where it can be copied, leaked or forgotten; whoever holds it acts as the service account.",
		Remediation: "Delete the key and let the workload authenticate without one: an attached service account, " +
			"Workload Identity Federation or service account impersonation.",
		Flags:      "An enabled user-managed service account key.",
		Severity:   SeverityMedium,
		Category:   "USER_MANAGED_SERVICE_ACCOUNT_KEY",
		CIS:        CIS{"1.1": {"1.4"}, "5.0": {"1.5"}},
		AssetTypes: []string{inventory.TypeServiceAccountKey},
	}}
}

func (r *saUserManagedKey) Meta() *Meta { return &r.meta }

func (r *saUserManagedKey) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	k, err := decodeLiveUserManagedKey(r.meta.ID, a)
	if err != nil || k == nil {
		return err
	}
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, k.keyID, k.evidence()))
	return nil
}

// saKeyNotRotated finds user-managed service account keys older than the baseline allows.
type saKeyNotRotated struct{ meta Meta }

func newSAKeyNotRotated() *saKeyNotRotated {
	return &saKeyNotRotated{meta: Meta{
		ID:    "sa-key-not-rotated",
		Title: "Service account key has not been rotated",
		Description: "A user-managed key older than the rotation period has had that much time to be copied or leaked, " +
			"and stays valid until it is deleted.",
		Remediation: "Create a new key, move its users to it and delete the old one; better, remove the need " +
			"for keys altogether (attached service accounts, Workload Identity Federation).",
		Flags:      "An enabled user-managed key older than `baseline.keyMaxAgeDays` (90).",
		Severity:   SeverityMedium,
		Category:   "SERVICE_ACCOUNT_KEY_NOT_ROTATED",
		CIS:        CIS{"1.1": {"1.7"}, "5.0": {"1.8"}},
		AssetTypes: []string{inventory.TypeServiceAccountKey},
	}}
}

func (r *saKeyNotRotated) Meta() *Meta { return &r.meta }

func (r *saKeyNotRotated) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	if env.KeyMaxAge <= 0 {
		return fmt.Errorf("rule %s: judging %s: Env.KeyMaxAge is %v, want a positive duration", r.meta.ID, a.Name, env.KeyMaxAge)
	}
	k, err := decodeLiveUserManagedKey(r.meta.ID, a)
	if err != nil || k == nil {
		return err
	}
	if k.key.ValidAfterTime.IsZero() {
		return nil // creation time unknown: nothing to judge the age by
	}
	age := env.Now.Sub(k.key.ValidAfterTime)
	if age <= env.KeyMaxAge {
		return nil
	}
	const day = 24 * time.Hour
	ev := k.evidence()
	ev["ageDays"] = int(age / day)
	ev["maxAgeDays"] = int(env.KeyMaxAge / day)
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, k.keyID, ev))
	return nil
}
