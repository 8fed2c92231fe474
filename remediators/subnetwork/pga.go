package subnetwork

import (
	"context"
	"encoding/json"
	"fmt"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// EnablePrivateGoogleAccess returns subnetwork.enablePrivateGoogleAccess: it turns Private
// Google Access on with subnetworks.setPrivateIpGoogleAccess, so that the subnetwork's
// instances without an external address reach Google APIs. Restore turns it off again.
func (r *Remediator) EnablePrivateGoogleAccess() remediators.Action {
	return &action{r: r, name: ActionEnablePrivateGoogleAccess, setting: pgaSetting()}
}

func pgaJSON(on bool) json.RawMessage {
	return gcputil.MustJSON(map[string]bool{"privateIpGoogleAccess": on})
}

func setPGA(ctx context.Context, r *Remediator, s ref, on bool) (*compute.Operation, error) {
	return r.client.SetPrivateIpGoogleAccess(ctx, &computepb.SetPrivateIpGoogleAccessSubnetworkRequest{
		Project: s.Project, Region: s.Scope, Subnetwork: s.Name,
		SubnetworksSetPrivateIpGoogleAccessRequestResource: &computepb.SubnetworksSetPrivateIpGoogleAccessRequest{
			PrivateIpGoogleAccess: proto.Bool(on)},
	})
}

func pgaSetting() setting {
	return setting{
		name: "privateIpGoogleAccess",
		view: func(sn *computepb.Subnetwork) json.RawMessage { return pgaJSON(sn.GetPrivateIpGoogleAccess()) },
		plan: func(sn *computepb.Subnetwork, _ remediators.Request) (json.RawMessage, string, error) {
			if err := refuseManaged(sn, "Private Google Access"); err != nil {
				return nil, "", err
			}
			if sn.GetPrivateIpGoogleAccess() {
				return nil, "", fmt.Errorf("the subnetwork has Private Google Access already: %w", remediators.ErrNothingToDo)
			}
			return pgaJSON(true), "privateIpGoogleAccess false → true (instances without an external address reach Google APIs)", nil
		},
		apply: func(ctx context.Context, r *Remediator, s ref, _ *computepb.Subnetwork, _ remediators.Request) (*compute.Operation, error) {
			return setPGA(ctx, r, s, true)
		},
		restore: func(ctx context.Context, r *Remediator, s ref, _, orig *computepb.Subnetwork) (*compute.Operation, error) {
			return setPGA(ctx, r, s, orig.GetPrivateIpGoogleAccess())
		},
	}
}
