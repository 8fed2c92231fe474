// Package inventory holds zerodrift's one asset model, in the shape of Cloud Asset Inventory
// (CAI), and the sources that produce it: CAI export files and the live GCP APIs.
//
// Every source converts what it reads into Asset, so rules see a single model whatever the
// origin. Resource data stays raw JSON (the REST representation Google documents) and is
// decoded by the typed accessors in resources.go only when a rule asks for it; the export
// decoder reads the views several rules share (firewalls, instances, subnetworks, compute
// projects) as it passes them, and the accessors hand those on.
package inventory

import (
	"encoding/json"
	"strings"
	"time"
)

// Asset types zerodrift reads, spelled as Cloud Asset Inventory spells them.
const (
	TypeFirewall          = "compute.googleapis.com/Firewall"
	TypeNetwork           = "compute.googleapis.com/Network"
	TypeSubnetwork        = "compute.googleapis.com/Subnetwork"
	TypeInstance          = "compute.googleapis.com/Instance"
	TypeComputeProject    = "compute.googleapis.com/Project"
	TypeProject           = "cloudresourcemanager.googleapis.com/Project"
	TypeFolder            = "cloudresourcemanager.googleapis.com/Folder"
	TypeOrganization      = "cloudresourcemanager.googleapis.com/Organization"
	TypeServiceAccount    = "iam.googleapis.com/ServiceAccount"
	TypeServiceAccountKey = "iam.googleapis.com/ServiceAccountKey"
)

// Asset is one Cloud Asset Inventory asset: a resource, its IAM policy, or both.
//
// A CAI export writes the resource and the IAM policy of the same name as separate lines;
// the live source fills both on one asset. Rules must cope with either.
type Asset struct {
	// Name is the full resource name, e.g.
	// //compute.googleapis.com/projects/p1/global/firewalls/allow-ssh.
	Name string `json:"name"`
	// AssetType is e.g. compute.googleapis.com/Firewall.
	AssetType string `json:"assetType"`
	// Ancestors lists the resource hierarchy from the asset's project up to its organization,
	// e.g. ["projects/123", "folders/456", "organizations/789"]. It may be empty.
	Ancestors []string `json:"ancestors,omitempty"`
	// UpdateTime is when CAI last saw the asset change; zero when unknown.
	UpdateTime time.Time `json:"updateTime,omitzero"`
	// Resource is the resource's REST representation; nil for an IAM-policy-only line.
	Resource *Resource `json:"resource,omitempty"`
	// IAMPolicy is the asset's IAM policy; nil where it has none or it was not exported.
	IAMPolicy *Policy `json:"iamPolicy,omitempty"`
	// Context marks an asset read only for what it tells about others (a folder's audit
	// configuration, for the projects below it, in a shard that does not own the folder):
	// it is neither judged nor counted by itself.
	Context bool `json:"-"`
}

// Resource is the resource part of an asset.
type Resource struct {
	Version              string `json:"version,omitempty"`
	DiscoveryDocumentURI string `json:"discoveryDocumentUri,omitempty"`
	DiscoveryName        string `json:"discoveryName,omitempty"`
	Parent               string `json:"parent,omitempty"`
	Location             string `json:"location,omitempty"`
	// Data is the REST resource as Google's API returns it (camelCase keys).
	Data json.RawMessage `json:"data,omitempty"`
	// view is the typed view the export decoder read from Data on its way past (a
	// firewall, instance, subnetwork or compute project, which several rules read), so the
	// typed accessors need not read Data again; viewSrc is the address of the Data it
	// stands for (nil, with Data, when the decoder kept the view only), and a Resource
	// given other Data ignores it.
	view    any
	viewSrc *byte
}

// Policy is an IAM policy (google.iam.v1.Policy).
type Policy struct {
	Version      int           `json:"version,omitempty"`
	Etag         string        `json:"etag,omitempty"`
	Bindings     []Binding     `json:"bindings,omitempty"`
	AuditConfigs []AuditConfig `json:"auditConfigs,omitempty"`
}

// Binding grants a role to members, optionally under a condition.
type Binding struct {
	Role      string     `json:"role"`
	Members   []string   `json:"members"`
	Condition *Condition `json:"condition,omitempty"`
}

// Condition is an IAM condition (google.type.Expr).
type Condition struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Expression  string `json:"expression"`
}

// AuditConfig is the audit logging configuration of one service in a policy.
type AuditConfig struct {
	Service         string           `json:"service"`
	AuditLogConfigs []AuditLogConfig `json:"auditLogConfigs,omitempty"`
}

// AuditLogConfig enables one log type, with members exempted from it.
type AuditLogConfig struct {
	LogType         string   `json:"logType"`
	ExemptedMembers []string `json:"exemptedMembers,omitempty"`
}

// Project returns the project the asset belongs to, as it can be read from the asset alone:
// the project ID in the resource name (projects/ID/...), the projectId of a Project asset's
// data, or "projects/NUMBER" when only the number is known. Folders and organizations
// have no project and return "".
func (a *Asset) Project() string {
	name := strings.TrimPrefix(a.Name, "//")
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	rest, ok := strings.CutPrefix(name, "projects/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if a.AssetType == TypeProject {
		if p, err := a.ProjectData(); err == nil && p.ProjectID != "" {
			return p.ProjectID
		}
		return "projects/" + id
	}
	return id
}

// ShortName is the last segment of the asset's name (a firewall's or network's name).
func (a *Asset) ShortName() string {
	return a.Name[strings.LastIndexByte(a.Name, '/')+1:]
}
