package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// The typed views below decode only the fields zerodrift reads from resource.data. Their
// JSON keys are those of the REST representation, which CAI exports unchanged.

// Firewall is a compute firewall rule (compute#firewall).
type Firewall struct {
	Name                  string         `json:"name"`
	Network               string         `json:"network,omitempty"`
	Direction             string         `json:"direction,omitempty"` // INGRESS (default) or EGRESS
	Priority              *int64         `json:"priority,omitempty"`
	Disabled              bool           `json:"disabled,omitempty"`
	SourceRanges          []string       `json:"sourceRanges,omitempty"`
	DestinationRanges     []string       `json:"destinationRanges,omitempty"`
	SourceTags            []string       `json:"sourceTags,omitempty"`
	SourceServiceAccounts []string       `json:"sourceServiceAccounts,omitempty"`
	TargetTags            []string       `json:"targetTags,omitempty"`
	TargetServiceAccounts []string       `json:"targetServiceAccounts,omitempty"`
	Allowed               []FirewallRule `json:"allowed,omitempty"`
	Denied                []FirewallRule `json:"denied,omitempty"`
	Description           string         `json:"description,omitempty"`
	// LogConfig is nil when the rule was never configured for logging.
	LogConfig *FirewallLogConfig `json:"logConfig,omitempty"`
}

// FirewallLogConfig is a firewall rule's logging setting.
type FirewallLogConfig struct {
	Enable   bool   `json:"enable"`
	Metadata string `json:"metadata,omitempty"` // INCLUDE_ALL_METADATA or EXCLUDE_ALL_METADATA
}

// LogsEnabled reports whether the rule logs its connections.
func (f *Firewall) LogsEnabled() bool { return f.LogConfig != nil && f.LogConfig.Enable }

// FirewallRule is one entry of a firewall's allowed or denied list.
type FirewallRule struct {
	IPProtocol string   `json:"IPProtocol"`
	Ports      []string `json:"ports,omitempty"`
}

// IsIngress reports whether the rule applies to incoming traffic; INGRESS is the API default.
func (f *Firewall) IsIngress() bool { return f.Direction == "" || f.Direction == "INGRESS" }

// Network is a VPC or legacy network (compute#network).
type Network struct {
	Name                  string   `json:"name"`
	AutoCreateSubnetworks *bool    `json:"autoCreateSubnetworks,omitempty"`
	IPv4Range             string   `json:"IPv4Range,omitempty"`
	Subnetworks           []string `json:"subnetworks,omitempty"`
}

// IsLegacy reports whether the network is a legacy (pre-VPC) network, which has a single
// network-wide IPv4 range and no subnetworks.
func (n *Network) IsLegacy() bool { return n.IPv4Range != "" }

// Subnetwork is a VPC subnetwork (compute#subnetwork).
type Subnetwork struct {
	Name        string `json:"name"`
	Network     string `json:"network,omitempty"`
	Region      string `json:"region,omitempty"`
	IPCidrRange string `json:"ipCidrRange,omitempty"`
	// Purpose is PRIVATE (or empty) for ordinary subnets; REGIONAL_MANAGED_PROXY,
	// GLOBAL_MANAGED_PROXY, INTERNAL_HTTPS_LOAD_BALANCER, PRIVATE_SERVICE_CONNECT and
	// others mark subnets Google manages for a service.
	Purpose               string               `json:"purpose,omitempty"`
	Role                  string               `json:"role,omitempty"`
	PrivateIPGoogleAccess bool                 `json:"privateIpGoogleAccess,omitempty"`
	EnableFlowLogs        *bool                `json:"enableFlowLogs,omitempty"`
	LogConfig             *SubnetworkLogConfig `json:"logConfig,omitempty"`
}

// SubnetworkLogConfig is a subnetwork's VPC flow logs setting.
type SubnetworkLogConfig struct {
	Enable              bool    `json:"enable"`
	AggregationInterval string  `json:"aggregationInterval,omitempty"`
	FlowSampling        float64 `json:"flowSampling,omitempty"`
	Metadata            string  `json:"metadata,omitempty"`
}

// IsPrivate reports whether the subnetwork holds workloads (WorkloadPurpose), as opposed
// to a subnet reserved for proxies, Private Service Connect or other Google services,
// where flow logs and Private Google Access do not apply.
func (s *Subnetwork) IsPrivate() bool { return WorkloadPurpose(s.Purpose) }

// WorkloadPurpose reports whether a subnetwork of this purpose holds workloads: PRIVATE,
// unset, or PRIVATE_RFC_1918, the older spelling of PRIVATE that the Compute API still
// returns for some subnetworks ("regular user created or automatically created subnet").
func WorkloadPurpose(purpose string) bool {
	return purpose == "" || purpose == "PRIVATE" || purpose == "PRIVATE_RFC_1918"
}

// FlowLogsEnabled reports whether the subnetwork records VPC flow logs: logConfig.enable,
// or the older enableFlowLogs where logConfig is absent.
func (s *Subnetwork) FlowLogsEnabled() bool {
	if s.LogConfig != nil {
		return s.LogConfig.Enable
	}
	return s.EnableFlowLogs != nil && *s.EnableFlowLogs
}

// Instance is a Compute Engine VM (compute#instance).
type Instance struct {
	Name              string             `json:"name"`
	Zone              string             `json:"zone,omitempty"`
	Status            string             `json:"status,omitempty"`
	CanIPForward      bool               `json:"canIpForward,omitempty"`
	NetworkInterfaces []NetworkInterface `json:"networkInterfaces,omitempty"`
	ServiceAccounts   []InstanceSA       `json:"serviceAccounts,omitempty"`
	Metadata          *Metadata          `json:"metadata,omitempty"`
	// ShieldedInstanceConfig is nil on VMs created without Shielded VM options.
	ShieldedInstanceConfig *ShieldedInstanceConfig `json:"shieldedInstanceConfig,omitempty"`
	Labels                 map[string]string       `json:"labels,omitempty"`
}

// NetworkInterface is one NIC of an instance.
type NetworkInterface struct {
	Name          string         `json:"name,omitempty"`
	Network       string         `json:"network,omitempty"`
	Subnetwork    string         `json:"subnetwork,omitempty"`
	NetworkIP     string         `json:"networkIP,omitempty"`
	AccessConfigs []AccessConfig `json:"accessConfigs,omitempty"`
	// IPv6AccessConfigs give the NIC an external IPv6 address.
	IPv6AccessConfigs []AccessConfig `json:"ipv6AccessConfigs,omitempty"`
}

// AccessConfig gives a NIC an external address (type ONE_TO_ONE_NAT, or DIRECT_IPV6).
type AccessConfig struct {
	Name         string `json:"name,omitempty"`
	Type         string `json:"type,omitempty"`
	NatIP        string `json:"natIP,omitempty"`
	ExternalIPv6 string `json:"externalIpv6,omitempty"`
}

// InstanceSA is a service account attached to an instance, with its access scopes.
type InstanceSA struct {
	Email  string   `json:"email"`
	Scopes []string `json:"scopes,omitempty"`
}

// ShieldedInstanceConfig holds an instance's Shielded VM options.
type ShieldedInstanceConfig struct {
	EnableSecureBoot          bool `json:"enableSecureBoot,omitempty"`
	EnableVtpm                bool `json:"enableVtpm,omitempty"`
	EnableIntegrityMonitoring bool `json:"enableIntegrityMonitoring,omitempty"`
}

// Metadata is instance or project metadata: key/value items and their fingerprint, which
// a setMetadata call must send back.
type Metadata struct {
	Fingerprint string         `json:"fingerprint,omitempty"`
	Items       []MetadataItem `json:"items,omitempty"`
}

// MetadataItem is one metadata entry. Value is a pointer: the API omits it for an empty
// value.
type MetadataItem struct {
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"`
}

// Get returns the value of key and whether it is set; nil metadata has no key.
func (m *Metadata) Get(key string) (string, bool) {
	if m == nil {
		return "", false
	}
	for _, it := range m.Items {
		if it.Key == key {
			if it.Value == nil {
				return "", true
			}
			return *it.Value, true
		}
	}
	return "", false
}

// ComputeProject is a project's Compute Engine settings (compute#project; asset type
// compute.googleapis.com/Project): the metadata every instance of the project inherits.
type ComputeProject struct {
	Name                   string    `json:"name"`
	CommonInstanceMetadata *Metadata `json:"commonInstanceMetadata,omitempty"`
	DefaultServiceAccount  string    `json:"defaultServiceAccount,omitempty"`
	XpnProjectStatus       string    `json:"xpnProjectStatus,omitempty"`
}

// ServiceAccount is an IAM service account.
type ServiceAccount struct {
	Name      string `json:"name"`
	Email     string `json:"email"`
	UniqueID  string `json:"uniqueId,omitempty"`
	ProjectID string `json:"projectId,omitempty"`
	Disabled  bool   `json:"disabled,omitempty"`
}

// ServiceAccountKey is a key of a service account.
type ServiceAccountKey struct {
	Name            string    `json:"name"`
	KeyType         string    `json:"keyType,omitempty"` // USER_MANAGED or SYSTEM_MANAGED
	KeyOrigin       string    `json:"keyOrigin,omitempty"`
	ValidAfterTime  time.Time `json:"validAfterTime,omitzero"`
	ValidBeforeTime time.Time `json:"validBeforeTime,omitzero"`
	Disabled        bool      `json:"disabled,omitempty"`
}

// ProjectData is what zerodrift reads of a project resource. CAI exports the v1 shape
// (projectNumber, projectId, parent{type,id}); the v3 API names the parent "folders/N".
type ProjectData struct {
	ProjectID     string `json:"projectId"`
	ProjectNumber string `json:"projectNumber,omitempty"`
	Name          string `json:"name,omitempty"`
}

// Firewall decodes the asset's resource data as a firewall rule. Several rules read one
// firewall, so it is decoded once and the same view handed to every caller reading the
// same bytes: read it, never change it.
func (a *Asset) Firewall() (*Firewall, error) { return decodeData[Firewall](a, TypeFirewall) }

// Network decodes the asset's resource data as a network.
func (a *Asset) Network() (*Network, error) { return decodeData[Network](a, TypeNetwork) }

// ServiceAccount decodes the asset's resource data as a service account.
func (a *Asset) ServiceAccount() (*ServiceAccount, error) {
	return decodeData[ServiceAccount](a, TypeServiceAccount)
}

// ServiceAccountKey decodes the asset's resource data as a service account key.
func (a *Asset) ServiceAccountKey() (*ServiceAccountKey, error) {
	return decodeData[ServiceAccountKey](a, TypeServiceAccountKey)
}

// ProjectData decodes the asset's resource data as a project.
func (a *Asset) ProjectData() (*ProjectData, error) {
	return decodeData[ProjectData](a, TypeProject)
}

// Subnetwork decodes the asset's resource data as a subnetwork; the view may be shared
// with other callers reading the same bytes: read it, never change it.
func (a *Asset) Subnetwork() (*Subnetwork, error) { return decodeData[Subnetwork](a, TypeSubnetwork) }

// Instance decodes the asset's resource data as a VM instance. Several rules read one
// instance, so it is decoded once and the same view handed to every caller reading the
// same bytes: read it, never change it.
func (a *Asset) Instance() (*Instance, error) { return decodeData[Instance](a, TypeInstance) }

// ComputeProject decodes the asset's resource data as a project's Compute Engine settings;
// the view may be shared with other callers reading the same bytes: read it, never
// change it.
func (a *Asset) ComputeProject() (*ComputeProject, error) {
	return decodeData[ComputeProject](a, TypeComputeProject)
}

// ErrNoResource is returned by the typed accessors when the asset carries no resource data,
// as IAM-policy-only lines of a CAI export do.
var ErrNoResource = errors.New("asset has no resource data")

func decodeData[T any](a *Asset, wantType string) (*T, error) {
	if a.AssetType != wantType {
		return nil, fmt.Errorf("asset %s is a %s, not a %s", a.Name, a.AssetType, wantType)
	}
	if a.Resource == nil {
		return nil, ErrNoResource
	}
	// A view read with the asset (cursor.data) stands for the data it was read from, or,
	// read without keeping its data (DecodeOptions.ViewsOnly), for none: it is shared like
	// the others.
	if v, ok := a.Resource.view.(*T); ok && a.Resource.viewSrc == unsafe.SliceData(a.Resource.Data) {
		return v, nil
	}
	if len(a.Resource.Data) == 0 {
		return nil, ErrNoResource
	}
	f := getFastDecoder()
	v, ok := sharedView[T](f, a.Resource.Data)
	if !ok {
		v = new(T)
		ok = f.decodeView(a.Resource.Data, v)
	}
	putFastDecoder(f)
	if ok {
		return v, nil
	}
	v = new(T) // encoding/json decides what the fast decoder left
	if err := json.Unmarshal(a.Resource.Data, v); err != nil {
		return nil, fmt.Errorf("decoding resource.data of %s: %w", a.Name, err)
	}
	return v, nil
}
