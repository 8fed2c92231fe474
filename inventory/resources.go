package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
}

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

// Firewall decodes the asset's resource data as a firewall rule.
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

// ErrNoResource is returned by the typed accessors when the asset carries no resource data,
// as IAM-policy-only lines of a CAI export do.
var ErrNoResource = errors.New("asset has no resource data")

func decodeData[T any](a *Asset, wantType string) (*T, error) {
	if a.AssetType != wantType {
		return nil, fmt.Errorf("asset %s is a %s, not a %s", a.Name, a.AssetType, wantType)
	}
	if a.Resource == nil || len(a.Resource.Data) == 0 {
		return nil, ErrNoResource
	}
	v := new(T)
	if decodeDataFast(a.Resource.Data, v) {
		return v, nil
	}
	v = new(T) // encoding/json decides what the fast decoder left
	if err := json.Unmarshal(a.Resource.Data, v); err != nil {
		return nil, fmt.Errorf("decoding resource.data of %s: %w", a.Name, err)
	}
	return v, nil
}
