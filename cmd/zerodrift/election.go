package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/internal/leader"
	"github.com/zerodrift/zerodrift/scheduler"
)

// electionFlags choose how serve replicas agree on who runs.
type electionFlags struct {
	mode      string // auto, on, off
	namespace string
	name      string
}

func (e *electionFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&e.mode, "leader-election", "auto", "elect a leader on a Kubernetes Lease so only one replica runs: auto (when in a pod), on (true), off (false)")
	fl.StringVar(&e.namespace, "leader-election-namespace", "", "namespace of the Lease (default $POD_NAMESPACE, else the pod's namespace)")
	fl.StringVar(&e.name, "leader-election-name", "zerodrift", "name of the Lease")
}

// elector returns how serve elects its leader: nil (run always) outside Kubernetes or when
// turned off.
func (e *electionFlags) elector(log *zap.Logger) (scheduler.Elect, error) {
	switch e.mode {
	case "off", "false":
		return nil, nil
	case "auto":
		if !leader.InCluster(os.LookupEnv, os.Stat) {
			log.Info("not in a Kubernetes pod: running as the single instance (no leader election)")
			return nil, nil
		}
	case "on", "true":
	default:
		return nil, fmt.Errorf("--leader-election: %q is not auto, on (true) or off (false)", e.mode)
	}
	ns := e.namespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, errors.New("--leader-election-namespace: not given, $POD_NAMESPACE is not set and the pod's namespace file cannot be read")
		}
		ns = string(b)
	}
	id := os.Getenv("POD_NAME")
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("leader election needs an identity: $POD_NAME is not set and the host name is unknown: %w", err)
		}
		id = host
	}
	cfg := leader.Config{Namespace: ns, Name: e.name, Identity: id}
	log.Info("leader election on a Lease", zap.String("namespace", ns), zap.String("lease", e.name), zap.String("identity", id))
	return func(ctx context.Context, lead func(context.Context)) error {
		return leader.Run(ctx, cfg, log.Named("leader"), lead)
	}, nil
}
