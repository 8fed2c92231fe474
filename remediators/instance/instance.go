// Package instance holds the live actions on Compute Engine instances and on a project's
// Compute Engine settings: setting one metadata key (compute.setMetadata, on an instance's
// metadata or on the project's common instance metadata) and removing an instance's external
// IPv4 addresses (instance.removeExternalIP).
//
// Every action reads the resource from the Compute API (Snapshot), plans from that reading,
// re-reads and re-plans just before it writes (a resource that changed meanwhile is left
// alone), writes only what it changes, waits for the operation and reads the resource again
// to verify. Metadata writes carry the fingerprint read: a write refused for a stale one (412
// conditionNotMet) is re-read and re-planned once, never forced.
package instance

import (
	"context"
	"errors"
	"fmt"
	"sync"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// Action names, as playbooks spell them.
const (
	ActionSetMetadata      = "compute.setMetadata"
	ActionRemoveExternalIP = "instance.removeExternalIP"
)

// Remediator holds the Compute API clients the instance actions share.
type Remediator struct {
	instances *compute.InstancesClient
	projects  *compute.ProjectsClient
	log       *zap.Logger
	set       remediators.Settings

	closeOnce sync.Once
	closeErr  error
}

// New creates the Compute instances and projects clients from opts (endpoint, credentials)
// and returns the remediator; set tunes operation waits. Close releases the clients.
func New(ctx context.Context, opts []option.ClientOption, log *zap.Logger, set remediators.Settings) (*Remediator, error) {
	if log == nil {
		log = zap.NewNop()
	}
	r := &Remediator{log: log, set: set.WithDefaults()}
	var err error
	if r.instances, err = compute.NewInstancesRESTClient(ctx, opts...); err != nil {
		return nil, fmt.Errorf("creating the compute instances client: %w", err)
	}
	if r.projects, err = compute.NewProjectsRESTClient(ctx, opts...); err != nil {
		return nil, errors.Join(fmt.Errorf("creating the compute projects client: %w", err), r.instances.Close())
	}
	// opts retry reads (remediators.Config.Options): the clients' own retries would repeat
	// some reads without a bound on attempts.
	*r.instances.CallOptions = compute.InstancesCallOptions{}
	*r.projects.CallOptions = compute.ProjectsCallOptions{}
	return r, nil
}

// Close releases the clients; it is safe to call more than once.
func (r *Remediator) Close() error {
	r.closeOnce.Do(func() {
		if err := errors.Join(r.instances.Close(), r.projects.Close()); err != nil {
			r.closeErr = fmt.Errorf("closing the compute instances and projects clients: %w", err)
		}
	})
	return r.closeErr
}

// Actions returns every instance action.
func (r *Remediator) Actions() []remediators.Action {
	return []remediators.Action{r.SetMetadata(), r.RemoveExternalIP()}
}

type instRef = gcputil.ScopedRef

func parseInstance(resource string) (instRef, error) {
	return gcputil.ParseZonalName(resource, "instances")
}

// getInstance reads an instance; one that does not exist is an error wrapping
// remediators.ErrGone.
func (r *Remediator) getInstance(ctx context.Context, i instRef) (*computepb.Instance, error) {
	inst, err := r.instances.Get(ctx, &computepb.GetInstanceRequest{Project: i.Project, Zone: i.Scope, Instance: i.Name})
	if err != nil {
		return nil, fmt.Errorf("reading instance %s: %w", i, gcputil.Gone(err))
	}
	return inst, nil
}

// getProject reads a project's Compute Engine settings.
func (r *Remediator) getProject(ctx context.Context, project string) (*computepb.Project, error) {
	p, err := r.projects.Get(ctx, &computepb.GetProjectRequest{Project: project})
	if err != nil {
		return nil, fmt.Errorf("reading the compute settings of project %s: %w", project, gcputil.Gone(err))
	}
	return p, nil
}
