package firewall

import (
	"encoding/json"
	"fmt"
	"slices"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// RestrictSources returns firewall.restrictSources: it removes from the rule's source
// ranges every range that opens it to the internet and adds the trusted ranges of
// Request.Params["ranges"] (required).
func (r *Remediator) RestrictSources() remediators.Action {
	return &fieldAction{r: r, name: ActionRestrictSources, field: sourceRangesField(), plan: planRestrictSources}
}

// Disable returns firewall.disable: it sets disabled to true.
func (r *Remediator) Disable() remediators.Action {
	return &fieldAction{r: r, name: ActionDisable, field: disabledField(), plan: planDisable}
}

// EnableLogging returns firewall.enableLogging: it turns the rule's logging on, with the
// metadata of Request.Params["metadata"] (INCLUDE_ALL_METADATA when not given).
func (r *Remediator) EnableLogging() remediators.Action {
	return &fieldAction{r: r, name: ActionEnableLogging, field: logConfigField(), plan: planEnableLogging}
}

func sourceRangesField() field {
	return field{
		name: "sourceRanges",
		view: func(fw *computepb.Firewall) json.RawMessage {
			return gcputil.MustJSON(map[string][]string{"sourceRanges": append([]string{}, fw.GetSourceRanges()...)})
		},
		copy:        func(dst, src *computepb.Firewall) { dst.SourceRanges = slices.Clone(src.GetSourceRanges()) },
		needsUpdate: func(src *computepb.Firewall) bool { return len(src.GetSourceRanges()) == 0 },
	}
}

func disabledField() field {
	return field{
		name: "disabled",
		view: func(fw *computepb.Firewall) json.RawMessage {
			return gcputil.MustJSON(map[string]bool{"disabled": fw.GetDisabled()})
		},
		copy:        func(dst, src *computepb.Firewall) { dst.Disabled = proto.Bool(src.GetDisabled()) },
		needsUpdate: func(*computepb.Firewall) bool { return false },
	}
}

// logView is logConfig as compared: metadata only means something while logging is on.
type logView struct {
	Enable   bool   `json:"enable"`
	Metadata string `json:"metadata,omitempty"`
}

func logConfigField() field {
	return field{
		name: "logConfig",
		view: func(fw *computepb.Firewall) json.RawMessage {
			v := logView{Enable: fw.GetLogConfig().GetEnable()}
			if v.Enable {
				v.Metadata = fw.GetLogConfig().GetMetadata()
			}
			return gcputil.MustJSON(map[string]logView{"logConfig": v})
		},
		copy: func(dst, src *computepb.Firewall) {
			dst.LogConfig = nil
			if src.LogConfig != nil {
				dst.LogConfig = proto.Clone(src.LogConfig).(*computepb.FirewallLogConfig)
			}
		},
		// A rule that had no logConfig at all gets none back.
		needsUpdate: func(src *computepb.Firewall) bool { return src.LogConfig == nil },
	}
}

func planDisable(fw *computepb.Firewall, _ remediators.Request) (*computepb.Firewall, string, error) {
	if fw.GetDisabled() {
		return nil, "", fmt.Errorf("the rule is disabled already: %w", remediators.ErrNothingToDo)
	}
	return &computepb.Firewall{Disabled: proto.Bool(true)}, "disabled false → true", nil
}

// Firewall log metadata settings.
const (
	metadataInclude = "INCLUDE_ALL_METADATA"
	metadataExclude = "EXCLUDE_ALL_METADATA"
)

func planEnableLogging(fw *computepb.Firewall, req remediators.Request) (*computepb.Firewall, string, error) {
	metadata, err := req.ParamString("metadata")
	if err != nil {
		return nil, "", err
	}
	explicit := metadata != ""
	switch metadata {
	case "":
		metadata = metadataInclude
	case metadataInclude, metadataExclude:
	default:
		return nil, "", fmt.Errorf("%w: params.metadata is %q, want %s or %s", remediators.ErrInvalidRequest, metadata, metadataInclude, metadataExclude)
	}
	lc := fw.GetLogConfig()
	if lc.GetEnable() && (!explicit || lc.GetMetadata() == metadata) {
		return nil, "", fmt.Errorf("logging is on already (%s): %w", lc.GetMetadata(), remediators.ErrNothingToDo)
	}
	before := "off"
	if lc.GetEnable() {
		before = "on (" + lc.GetMetadata() + ")"
	}
	want := &computepb.Firewall{LogConfig: &computepb.FirewallLogConfig{Enable: proto.Bool(true), Metadata: proto.String(metadata)}}
	return want, fmt.Sprintf("logging %s → on (%s)", before, metadata), nil
}
