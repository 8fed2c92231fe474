package subnetwork

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// EnableFlowLogs returns subnetwork.enableFlowLogs: it turns VPC flow logs on with
// subnetworks.patch (logConfig.enable true, with the aggregation interval, sampling rate and
// metadata of Request.Params, and the subnetwork's fingerprint). A subnetwork whose flow logs
// are on already, whatever their settings, has nothing to do. Restore turns them off again
// (logConfig.enable false), which is how the API reads a subnetwork that had no logConfig.
func (r *Remediator) EnableFlowLogs() remediators.Action {
	return &action{r: r, name: ActionEnableFlowLogs, setting: flowLogsSetting()}
}

// Flow log settings: the values the API accepts, and the defaults of the parameters.
var (
	aggregationIntervals = []string{"INTERVAL_5_SEC", "INTERVAL_30_SEC", "INTERVAL_1_MIN", "INTERVAL_5_MIN",
		"INTERVAL_10_MIN", "INTERVAL_15_MIN"}
	flowMetadata = []string{"INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"}
)

// Defaults of subnetwork.enableFlowLogs' parameters.
const (
	DefaultAggregationInterval = "INTERVAL_5_SEC"
	DefaultFlowSampling        = 0.5
	DefaultFlowMetadata        = "INCLUDE_ALL_METADATA"
)

// flowParams are subnetwork.enableFlowLogs' parameters, checked.
type flowParams struct {
	interval string
	sampling float32
	metadata string
}

func parseFlowParams(req remediators.Request) (flowParams, error) {
	p := flowParams{interval: DefaultAggregationInterval, sampling: DefaultFlowSampling, metadata: DefaultFlowMetadata}
	interval, err := req.ParamString("aggregationInterval")
	if err != nil {
		return p, err
	}
	if interval != "" {
		if !slices.Contains(aggregationIntervals, interval) {
			return p, fmt.Errorf("%w: params.aggregationInterval is %q, want one of %s",
				remediators.ErrInvalidRequest, interval, strings.Join(aggregationIntervals, ", "))
		}
		p.interval = interval
	}
	sampling, given, err := req.ParamNumber("flowSampling")
	if err != nil {
		return p, err
	}
	if given {
		if sampling <= 0 || sampling > 1 {
			return p, fmt.Errorf("%w: params.flowSampling is %v, want more than 0 and at most 1 (0.5 logs half the flows)",
				remediators.ErrInvalidRequest, sampling)
		}
		p.sampling = float32(sampling)
	}
	metadata, err := req.ParamString("metadata")
	if err != nil {
		return p, err
	}
	if metadata != "" {
		if !slices.Contains(flowMetadata, metadata) {
			return p, fmt.Errorf("%w: params.metadata is %q, want %s", remediators.ErrInvalidRequest, metadata, strings.Join(flowMetadata, " or "))
		}
		p.metadata = metadata
	}
	return p, nil
}

// flowView is a subnetwork's flow logs as compared: the settings only mean something while
// flow logs are on. Enable is the effective state: logConfig.enable, or the legacy
// enableFlowLogs where logConfig is absent, as the rule subnet-flow-logs-disabled reads it.
type flowView struct {
	Enable              bool     `json:"enable"`
	AggregationInterval string   `json:"aggregationInterval,omitempty"`
	FlowSampling        *float32 `json:"flowSampling,omitempty"`
	Metadata            string   `json:"metadata,omitempty"`
}

func flowLogsOf(sn *computepb.Subnetwork) flowView {
	lc := sn.GetLogConfig()
	if lc == nil {
		return flowView{Enable: sn.GetEnableFlowLogs()}
	}
	v := flowView{Enable: lc.GetEnable()}
	if v.Enable {
		v.AggregationInterval, v.FlowSampling, v.Metadata = lc.GetAggregationInterval(), lc.FlowSampling, lc.GetMetadata()
	}
	return v
}

func flowJSON(v flowView) json.RawMessage {
	return gcputil.MustJSON(map[string]flowView{"logConfig": v})
}

func (v flowView) String() string {
	if !v.Enable {
		return "off"
	}
	var parts []string
	if v.AggregationInterval != "" {
		parts = append(parts, "aggregation "+v.AggregationInterval)
	}
	if v.FlowSampling != nil {
		parts = append(parts, "sampling "+strconv.FormatFloat(float64(*v.FlowSampling), 'g', -1, 32))
	}
	if v.Metadata != "" {
		parts = append(parts, v.Metadata)
	}
	if len(parts) == 0 {
		return "on"
	}
	return "on (" + strings.Join(parts, ", ") + ")"
}

func flowLogsSetting() setting {
	return setting{
		name: "flow logs",
		view: func(sn *computepb.Subnetwork) json.RawMessage { return flowJSON(flowLogsOf(sn)) },
		plan: func(sn *computepb.Subnetwork, req remediators.Request) (json.RawMessage, string, error) {
			p, err := parseFlowParams(req)
			if err != nil {
				return nil, "", err
			}
			if err := refuseManaged(sn, "VPC flow logs"); err != nil {
				return nil, "", err
			}
			cur := flowLogsOf(sn)
			if cur.Enable {
				return nil, "", fmt.Errorf("VPC flow logs are %s already: %w", cur, remediators.ErrNothingToDo)
			}
			want := flowView{Enable: true, AggregationInterval: p.interval, FlowSampling: proto.Float32(p.sampling), Metadata: p.metadata}
			return flowJSON(want), fmt.Sprintf("VPC flow logs %s → %s", cur, want), nil
		},
		apply: func(ctx context.Context, r *Remediator, s ref, fresh *computepb.Subnetwork, req remediators.Request) (*compute.Operation, error) {
			p, err := parseFlowParams(req)
			if err != nil {
				return nil, err
			}
			patch := &computepb.Subnetwork{Fingerprint: fresh.Fingerprint, LogConfig: &computepb.SubnetworkLogConfig{
				Enable: proto.Bool(true), AggregationInterval: proto.String(p.interval),
				FlowSampling: proto.Float32(p.sampling), Metadata: proto.String(p.metadata)}}
			return r.client.Patch(ctx, &computepb.PatchSubnetworkRequest{Project: s.Project, Region: s.Scope, Subnetwork: s.Name, SubnetworkResource: patch})
		},
		// Only enable is written back: the other settings "can only be specified if VPC flow
		// logging for this subnetwork is enabled", and mean nothing while it is off.
		restore: func(ctx context.Context, r *Remediator, s ref, fresh, orig *computepb.Subnetwork) (*compute.Operation, error) {
			patch := &computepb.Subnetwork{Fingerprint: fresh.Fingerprint,
				LogConfig: &computepb.SubnetworkLogConfig{Enable: proto.Bool(flowLogsOf(orig).Enable)}}
			return r.client.Patch(ctx, &computepb.PatchSubnetworkRequest{Project: s.Project, Region: s.Scope, Subnetwork: s.Name, SubnetworkResource: patch})
		},
	}
}
