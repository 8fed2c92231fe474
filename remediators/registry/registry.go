// Package registry builds zerodrift's live actions, by the names playbooks use, from one
// configuration. It lives apart from package remediators because the actions' packages
// import that one.
package registry

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/firewall"
	"github.com/zerodrift/zerodrift/remediators/iampolicy"
	"github.com/zerodrift/zerodrift/remediators/instance"
	"github.com/zerodrift/zerodrift/remediators/network"
	"github.com/zerodrift/zerodrift/remediators/sakey"
	"github.com/zerodrift/zerodrift/remediators/subnetwork"
)

// New creates the API clients (cfg says where and with which credentials) and returns
// every action by name. self lists zerodrift's own identities as IAM members
// (serviceAccount:zerodrift@ops.iam.gserviceaccount.com): their grants and keys are never
// removed. Close the registry to release the clients.
func New(ctx context.Context, cfg remediators.Config, self []string, log *zap.Logger) (remediators.Registry, error) {
	if log == nil {
		log = zap.NewNop()
	}
	var closers []func() error
	fail := func(err error) (remediators.Registry, error) {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return nil, errors.Join(fmt.Errorf("building the live actions: %w", err), errors.Join(errs...))
	}
	computeOpts, err := cfg.Options(ctx, inventory.ServiceCompute)
	if err != nil {
		return fail(err)
	}
	rmOpts, err := cfg.Options(ctx, inventory.ServiceResourceManager)
	if err != nil {
		return fail(err)
	}
	iamOpts, err := cfg.Options(ctx, inventory.ServiceIAM)
	if err != nil {
		return fail(err)
	}
	fw, err := firewall.New(ctx, computeOpts, log.Named("firewall"), cfg.Settings)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, fw.Close)
	nw, err := network.New(ctx, computeOpts, log.Named("network"), cfg.Settings)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, nw.Close)
	sn, err := subnetwork.New(ctx, computeOpts, log.Named("subnetwork"), cfg.Settings)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, sn.Close)
	in, err := instance.New(ctx, computeOpts, log.Named("instance"), cfg.Settings)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, in.Close)
	ip, err := iampolicy.New(ctx, rmOpts, log.Named("iam"), self, cfg.Settings)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, ip.Close)
	sk, err := sakey.New(ctx, iamOpts, log.Named("sakey"), self)
	if err != nil {
		return fail(err)
	}
	reg := remediators.Registry{
		firewall.ActionRestrictSources:             fw.RestrictSources(),
		firewall.ActionDisable:                     fw.Disable(),
		firewall.ActionEnableLogging:               fw.EnableLogging(),
		firewall.ActionDenyPorts:                   fw.DenyPorts(),
		firewall.ActionCreateEgressDeny:            fw.CreateEgressDeny(),
		network.ActionDeleteDefault:                nw.DeleteDefault(),
		subnetwork.ActionEnableFlowLogs:            sn.EnableFlowLogs(),
		subnetwork.ActionEnablePrivateGoogleAccess: sn.EnablePrivateGoogleAccess(),
		instance.ActionSetMetadata:                 in.SetMetadata(),
		instance.ActionRemoveExternalIP:            in.RemoveExternalIP(),
		iampolicy.ActionRemoveBinding:              ip.RemoveBinding(),
		iampolicy.ActionSetAuditConfig:             ip.SetAuditConfig(),
		sakey.ActionDisable:                        sk.Disable(),
	}
	if err := reg.Check(); err != nil {
		return fail(err)
	}
	return reg, nil
}
