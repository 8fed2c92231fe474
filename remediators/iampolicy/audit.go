package iampolicy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// ActionSetAuditConfig is the name playbooks use for turning on Data Access audit logs.
const ActionSetAuditConfig = "iam.setAuditConfig"

// AllServices is the audit config service that stands for every service.
const AllServices = "allServices"

// AuditLogTypes are the Data Access audit log types, in the order the action writes them:
// the log types iam.setAuditConfig enables by default, which the rule audit-logging-disabled
// requires.
func AuditLogTypes() []string { return []string{"ADMIN_READ", "DATA_READ", "DATA_WRITE"} }

// auditMask is the update mask of iam.setAuditConfig's writes: setIamPolicy's default mask
// is "bindings,etag", which would ignore the audit configs; this one leaves the bindings
// alone, whatever the policy sent holds.
func auditMask() []string { return []string{"audit_configs", "etag"} }

// SetAuditConfig returns iam.setAuditConfig: it makes the allServices audit config of a
// project's, folder's or organization's IAM policy enable the log types of
// Params["logTypes"] (ADMIN_READ, DATA_READ and DATA_WRITE by default) with no exempted
// members, read-modify-write with the etag and the update mask "auditConfigs,etag", so that
// every binding and every other service's audit config stay as they are. Log types it is not
// asked about are left as they are. A concurrent writer makes the write fail with a conflict:
// the policy is read again and the change planned again, within the retry budget, never
// written over. Restore puts back the allServices config of the snapshot, the same way.
func (r *Remediator) SetAuditConfig() remediators.Action {
	return &setAuditConfig{policyAction{r: r}}
}

type setAuditConfig struct{ policyAction }

func (a *setAuditConfig) Name() string { return ActionSetAuditConfig }

func (a *setAuditConfig) checkSnapshot(snap *remediators.Snapshot, plan *remediators.Plan) (target, error) {
	if snap == nil {
		return target{}, fmt.Errorf("%w: %s needs a snapshot", remediators.ErrInvalidRequest, ActionSetAuditConfig)
	}
	t, err := parseTarget(snap.Resource)
	if err != nil {
		return t, err
	}
	return t, gcputil.CheckSnapshot(snap, t.assetType(), plan, ActionSetAuditConfig)
}

// logTypesOf reads Params["logTypes"]: each one of AuditLogTypes, all three when absent.
// They come back once each, in AuditLogTypes' order.
func logTypesOf(req remediators.Request) ([]string, error) {
	raw, err := req.ParamStrings("logTypes")
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return AuditLogTypes(), nil
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: params.logTypes is empty: list the log types to enable, or leave it out for all three", remediators.ErrInvalidRequest)
	}
	for _, lt := range raw {
		if !slices.Contains(AuditLogTypes(), lt) {
			return nil, fmt.Errorf("%w: params.logTypes: %q is not a Data Access log type: want %s",
				remediators.ErrInvalidRequest, lt, strings.Join(AuditLogTypes(), ", "))
		}
	}
	var out []string
	for _, lt := range AuditLogTypes() {
		if slices.Contains(raw, lt) {
			out = append(out, lt)
		}
	}
	return out, nil
}

// auditChange is a planned edit of a policy's audit configs.
type auditChange struct {
	after []inventory.AuditConfig
	// enabled lists the log types turned on; unexempted the exemptions dropped, "LOG_TYPE
	// member".
	enabled, unexempted []string
}

func (c auditChange) String() string {
	var parts []string
	if len(c.enabled) > 0 {
		parts = append(parts, "enable "+strings.Join(c.enabled, ", "))
	}
	if len(c.unexempted) > 0 {
		parts = append(parts, "drop the exemptions "+strings.Join(c.unexempted, ", "))
	}
	return "allServices audit logs: " + strings.Join(parts, "; ")
}

func cloneAuditConfigs(acs []inventory.AuditConfig) []inventory.AuditConfig {
	return clonePolicy(&inventory.Policy{AuditConfigs: acs}).AuditConfigs
}

// planAudit computes the audit configs that enable types for allServices with nobody
// exempted; every other config, and every other log type, is kept as it is.
// ErrNothingToDo when they do already.
func planAudit(cur []inventory.AuditConfig, types []string) (auditChange, error) {
	var ch auditChange
	out := cloneAuditConfigs(cur)
	first := -1
	have := map[string]bool{}
	for i := range out {
		if out[i].Service != AllServices {
			continue
		}
		if first < 0 {
			first = i
		}
		for j := range out[i].AuditLogConfigs {
			lc := &out[i].AuditLogConfigs[j]
			if !slices.Contains(types, lc.LogType) {
				continue
			}
			have[lc.LogType] = true
			for _, m := range lc.ExemptedMembers {
				ch.unexempted = append(ch.unexempted, lc.LogType+" "+m)
			}
			lc.ExemptedMembers = nil
		}
	}
	var add []inventory.AuditLogConfig
	for _, lt := range types {
		if !have[lt] {
			ch.enabled = append(ch.enabled, lt)
			add = append(add, inventory.AuditLogConfig{LogType: lt})
		}
	}
	if first < 0 {
		out = append(out, inventory.AuditConfig{Service: AllServices, AuditLogConfigs: add})
	} else {
		out[first].AuditLogConfigs = append(out[first].AuditLogConfigs, add...)
	}
	if len(ch.enabled) == 0 && len(ch.unexempted) == 0 {
		return ch, fmt.Errorf("allServices enables %s with nobody exempted already: %w", strings.Join(types, ", "), remediators.ErrNothingToDo)
	}
	slices.Sort(ch.unexempted)
	ch.unexempted = slices.Compact(ch.unexempted)
	ch.after = out
	return ch, nil
}

// auditJSON is the audit configs as Plan.Before and Plan.After hold them.
func auditJSON(acs []inventory.AuditConfig) json.RawMessage { return planView("auditConfigs", acs) }

func readAuditView(raw json.RawMessage, what string) ([]inventory.AuditConfig, error) {
	return readPlanView[inventory.AuditConfig](raw, "auditConfigs", what)
}

func (a *setAuditConfig) Plan(_ context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	t, err := a.checkSnapshot(snap, nil)
	if err != nil {
		return nil, err
	}
	types, err := logTypesOf(req)
	if err != nil {
		return nil, err
	}
	p, err := decodePolicy(snap)
	if err != nil {
		return nil, err
	}
	ch, err := planAudit(p.AuditConfigs, types)
	if err != nil {
		return nil, fmt.Errorf("planning %s on the policy of %s: %w", ActionSetAuditConfig, t.name, err)
	}
	return &remediators.Plan{Action: ActionSetAuditConfig, Resource: snap.Resource, Request: req,
		Summary: ch.String() + "; every binding and every other service's audit config kept",
		Before:  auditJSON(p.AuditConfigs), After: auditJSON(ch.after)}, nil
}

// retry handles a failed write as iam.removeBinding does: a conflict within the retry budget
// waits and returns nil (the caller reads the policy again and plans again).
func (a *setAuditConfig) retry(ctx context.Context, t target, attempt int, err error) error {
	return (&removeBinding{a.policyAction}).retry(ctx, t, attempt, err)
}

func (a *setAuditConfig) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	t, err := a.checkSnapshot(snap, plan)
	if err != nil {
		return "", err
	}
	types, err := logTypesOf(plan.Request)
	if err != nil {
		return "", err
	}
	before, err := readAuditView(plan.Before, "before")
	if err != nil {
		return "", err
	}
	want, err := planAudit(before, types)
	if err != nil {
		return "", fmt.Errorf("re-reading the plan: %w", err)
	}
	// The first write carries the snapshot's etag: if anything changed since, it fails with
	// a conflict and the policy is read again, so no change is ever written over.
	p, err := decodePolicy(snap)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		ch, err := planAudit(p.AuditConfigs, types)
		if err != nil {
			return "", fmt.Errorf("planning %s on the policy of %s (etag %s): %w", ActionSetAuditConfig, t.name, p.Etag, err)
		}
		if !slices.Equal(ch.enabled, want.enabled) || !slices.Equal(ch.unexempted, want.unexempted) {
			return "", fmt.Errorf("the audit configs of %s changed since the plan: the change would now be %q: %w",
				t.name, ch.String(), remediators.ErrChanged)
		}
		next := clonePolicy(p)
		next.AuditConfigs = ch.after
		a.r.log.Info("setting IAM audit configs", zap.String("action", ActionSetAuditConfig), zap.String("resource", t.name),
			zap.String("etag", p.Etag), zap.Int("attempt", attempt+1), zap.String("change", ch.String()))
		written, err := a.r.writeMasked(ctx, t, next, auditMask())
		if err == nil {
			if err := a.verify(ctx, t, types); err != nil {
				return "", fmt.Errorf("verifying the IAM policy of %s: %w", t.name, err)
			}
			return fmt.Sprintf("policy of %s written at attempt %d, etag %s → %s: %s", t.name, attempt+1, p.Etag, written.Etag, plan.Summary), nil
		}
		if err := a.retry(ctx, t, attempt, err); err != nil {
			return "", err
		}
		if p, err = a.r.read(ctx, t); err != nil {
			return "", err
		}
	}
}

// verify re-reads the policy and checks allServices enables types with nobody exempted.
func (a *setAuditConfig) verify(ctx context.Context, t target, types []string) error {
	p, err := a.r.read(ctx, t)
	if err != nil {
		return err
	}
	if ch, err := planAudit(p.AuditConfigs, types); err == nil {
		return fmt.Errorf("the audit configs read back still need: %s", ch)
	}
	return nil
}

// withAllServices returns cur with its allServices configs replaced by those of orig, at the
// place cur had them (or orig had them, when cur has none); every other config as in cur.
func withAllServices(cur, orig []inventory.AuditConfig) []inventory.AuditConfig {
	at := slices.IndexFunc(cur, func(ac inventory.AuditConfig) bool { return ac.Service == AllServices })
	if at < 0 {
		at = slices.IndexFunc(orig, func(ac inventory.AuditConfig) bool { return ac.Service == AllServices })
	}
	var keep, put []inventory.AuditConfig
	for _, ac := range cloneAuditConfigs(cur) {
		if ac.Service != AllServices {
			keep = append(keep, ac)
		}
	}
	for _, ac := range cloneAuditConfigs(orig) {
		if ac.Service == AllServices {
			put = append(put, ac)
		}
	}
	if at < 0 || at > len(keep) {
		at = len(keep)
	}
	return slices.Concat(keep[:at], put, keep[at:])
}

func allServicesOf(acs []inventory.AuditConfig) json.RawMessage {
	return auditJSON(slices.DeleteFunc(cloneAuditConfigs(acs), func(ac inventory.AuditConfig) bool { return ac.Service != AllServices }))
}

// Restore puts back the allServices audit config of the snapshot on the policy as it is now
// (read-modify-write with its etag and the audit configs mask): the bindings and the other
// services' configs, which the change never touched, keep what they hold now.
func (a *setAuditConfig) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	t, err := a.checkSnapshot(snap, plan)
	if err != nil {
		return err
	}
	before, err := readAuditView(plan.Before, "before")
	if err != nil {
		return err
	}
	after, err := readAuditView(plan.After, "after")
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		cur, err := a.r.read(ctx, t)
		if err != nil {
			return fmt.Errorf("restoring: %w", err)
		}
		next := withAllServices(cur.AuditConfigs, before)
		if bytes.Equal(auditJSON(next), auditJSON(cur.AuditConfigs)) {
			a.r.log.Info("IAM audit configs already restored", zap.String("resource", t.name))
			return nil
		}
		if now := allServicesOf(cur.AuditConfigs); !bytes.Equal(now, allServicesOf(after)) {
			a.r.log.Warn("restoring over a change made since zerodrift's", zap.String("action", ActionSetAuditConfig),
				zap.String("resource", t.name), zap.ByteString("now", now), zap.ByteString("changeSet", allServicesOf(after)),
				zap.ByteString("restoring", allServicesOf(before)))
		}
		p := clonePolicy(cur)
		p.AuditConfigs = next
		a.r.log.Info("restoring IAM audit configs", zap.String("action", ActionSetAuditConfig), zap.String("resource", t.name),
			zap.String("etag", cur.Etag), zap.Int("attempt", attempt+1))
		_, err = a.r.writeMasked(ctx, t, p, auditMask())
		if err == nil {
			got, err := a.r.read(ctx, t)
			if err != nil {
				return fmt.Errorf("verifying the restored IAM policy of %s: %w", t.name, err)
			}
			if g, w := allServicesOf(got.AuditConfigs), allServicesOf(before); !bytes.Equal(g, w) {
				return fmt.Errorf("verifying the restored IAM policy of %s: allServices reads back as %s, want %s", t.name, g, w)
			}
			return nil
		}
		if err := a.retry(ctx, t, attempt, err); err != nil {
			return fmt.Errorf("restoring: %w", err)
		}
	}
}
