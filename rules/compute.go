package rules

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file holds the rules that read Compute Engine instances and a project's Compute
// Engine settings (its common instance metadata), and what they share: decoding the views,
// reading GCE's boolean metadata values, recognizing GKE nodes.

// computeRules returns the Compute Engine rules, each a fresh value the caller owns.
func computeRules() []Rule {
	return []Rule{
		newComputeDefaultSA(),
		newComputeDefaultSAFullScope(),
		newComputePublicIP(),
		newComputeOSLoginDisabled(),
		newComputeSerialPortEnabled(),
		newComputeProjectSSHKeysAllowed(),
		newComputeIPForwarding(),
		newComputeShieldedVMDisabled(),
	}
}

// Metadata keys the compute rules read.
const (
	metadataOSLogin          = "enable-oslogin"
	metadataSerialPort       = "serial-port-enable"
	metadataBlockProjectKeys = "block-project-ssh-keys"
	metadataKubeEnv          = "kube-env"
	metadataCluster          = "cluster-name"
	labelGKENode             = "goog-gke-node"
)

// scopeCloudPlatform is the access scope that lets an instance's service account call every
// Cloud API its IAM roles allow.
const scopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// metaBool is how GCE reads a boolean metadata value.
type metaBool int

const (
	metaAbsent  metaBool = iota // the key is not set
	metaTrue                    // TRUE, true, True, 1, y, Y, yes, YES
	metaFalse                   // FALSE, false, 0, n, N, no, NO
	metaInvalid                 // set, but to none of the above (empty included)
)

// state names the reading for evidence.
func (b metaBool) state() string {
	switch b {
	case metaTrue:
		return "true"
	case metaFalse:
		return "false"
	case metaInvalid:
		return "invalid"
	}
	return "absent"
}

// parseMetaBool reads a boolean metadata value as GCE does. It allocates nothing.
func parseMetaBool(v string) metaBool {
	switch v {
	case "TRUE", "true", "True", "1", "y", "Y", "yes", "YES":
		return metaTrue
	case "FALSE", "false", "0", "n", "N", "no", "NO":
		return metaFalse
	}
	return metaInvalid
}

// metadataBool looks key up in m (nil allowed) and reads its value as a boolean.
func metadataBool(m *inventory.Metadata, key string) (value string, b metaBool) {
	v, ok := m.Get(key)
	if !ok {
		return "", metaAbsent
	}
	return v, parseMetaBool(v)
}

// metadataEvidence describes a boolean metadata setting at one level ("instance" or
// "project"); the raw value is left out when the key is absent.
func metadataEvidence(level, key, value string, b metaBool) map[string]any {
	ev := map[string]any{
		"level":       level,
		"metadataKey": key,
		"state":       b.state(),
	}
	if b != metaAbsent {
		ev["value"] = value
	}
	return ev
}

// instanceName is the instance's name, from its data or else its asset name.
func instanceName(inst *inventory.Instance, a *inventory.Asset) string {
	return cmp.Or(inst.Name, a.ShortName())
}

// instanceZone is the instance's zone as a short name (europe-west1-b): the last segment of
// its data's zone URL, or else the zones/Z segment of its asset name.
func instanceZone(inst *inventory.Instance, a *inventory.Asset) string {
	if z := inst.Zone; z != "" {
		return z[strings.LastIndexByte(z, '/')+1:]
	}
	if _, rest, ok := strings.Cut(a.Name, "/zones/"); ok {
		z, _, _ := strings.Cut(rest, "/")
		return z
	}
	return ""
}

// instanceEvidence starts the evidence of an instance finding: its name and zone.
func instanceEvidence(inst *inventory.Instance, a *inventory.Asset) map[string]any {
	return map[string]any{
		"instance": instanceName(inst, a),
		"zone":     instanceZone(inst, a),
	}
}

// gkeNodeMarker reports whether the instance is a GKE node, and what gives it away: the
// goog-gke-node label or the kube-env metadata key GKE writes on every node.
func gkeNodeMarker(inst *inventory.Instance) (marker string, ok bool) {
	if _, ok := inst.Labels[labelGKENode]; ok {
		return "label " + labelGKENode, true
	}
	if _, ok := inst.Metadata.Get(metadataKubeEnv); ok {
		return "metadata key " + metadataKubeEnv, true
	}
	return "", false
}

// skipGKENode lists a GKE node as skipped by rule m, if inst is one, and reports whether it
// did. fix says what to change on the node pool (or cluster) instead of the instance.
func skipGKENode(m *Meta, a *inventory.Asset, inst *inventory.Instance, fix string, out *Results) bool {
	marker, ok := gkeNodeMarker(inst)
	if !ok {
		return false
	}
	of := ""
	if c, ok := inst.Metadata.Get(metadataCluster); ok && c != "" {
		of = " of cluster " + c
	}
	out.Skipped = append(out.Skipped, Skip{
		Rule:     m.ID,
		Resource: a.Name,
		Project:  a.Project(),
		Reason: "GKE node" + of + " (" + marker + "): its node pool creates and recreates the VM " +
			"from the pool's configuration, so a change to the instance does not last; " + fix,
	})
	return true
}

// computeDefaultSA finds instances that run as the Compute Engine default service account.
type computeDefaultSA struct{ meta Meta }

func newComputeDefaultSA() *computeDefaultSA {
	return &computeDefaultSA{meta: Meta{
		ID:    "compute-default-sa",
		Title: "Instance runs as the Compute Engine default service account",
		Description: "The Compute Engine default service account is shared by every instance that does not name another, " +
			"and in many projects it still holds the Editor role it was once granted automatically, " +
			"so code on any such instance can act with the same broad rights as every other one.",
		Remediation: "Create a dedicated service account with only the roles the workload needs and attach it to the instance " +
			"(the instance must be stopped to change it); stop granting roles to the default service account, " +
			"and keep new projects from granting it Editor with the iam.automaticIamGrantsForDefaultServiceAccounts organization policy.",
		Flags: "An instance (any status, `TERMINATED` included) whose `serviceAccounts` has an account " +
			"`NUMBER-compute@developer.gserviceaccount.com`, whatever its scopes. " +
			"Not flagged: instances with a user-managed account (`x@PROJECT.iam.gserviceaccount.com`, " +
			"or a legacy `NUMBER-x@developer.gserviceaccount.com`) or with no service account at all. " +
			"GKE nodes (label `goog-gke-node` or metadata key `kube-env`) are listed as skipped: their node pool sets the account.",
		Severity:   SeverityMedium,
		Category:   "DEFAULT_SERVICE_ACCOUNT_USED",
		CIS:        CIS{"1.1": {"4.1"}},
		AssetTypes: []string{inventory.TypeInstance},
	}}
}

func (r *computeDefaultSA) Meta() *Meta { return &r.meta }

func (r *computeDefaultSA) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	return judgeDefaultSA(&r.meta, env, a, out, judgedAccount{
		gkeHint: "give the node pool a dedicated service account instead",
		matches: func(inventory.InstanceSA) bool { return true },
		finding: func(sa inventory.InstanceSA, ev map[string]any) string { return sa.Email },
	})
}

// judgedAccount says which of an instance's default service accounts a rule flags and how.
type judgedAccount struct {
	gkeHint string                                                  // what a GKE node does instead
	matches func(sa inventory.InstanceSA) bool                      // whether the account drifts
	finding func(sa inventory.InstanceSA, ev map[string]any) string // adds evidence, returns the offending key
}

// judgeDefaultSA flags each Compute Engine default service account of the instance that
// j matches, once a GKE node has been listed as skipped at most once.
func judgeDefaultSA(m *Meta, env *Env, a *inventory.Asset, out *Results, j judgedAccount) error {
	if err := checkInput(m, env, a, out); err != nil {
		return err
	}
	inst, err := viewOf(m.ID, a, (*inventory.Asset).Instance)
	if err != nil || inst == nil {
		return err
	}
	skipped := false
	for _, sa := range inst.ServiceAccounts {
		if ClassifyServiceAccount(sa.Email) != AccountDefaultCompute || !j.matches(sa) {
			continue
		}
		if skipped || skipGKENode(m, a, inst, j.gkeHint, out) {
			skipped = true
			continue
		}
		ev := instanceEvidence(inst, a)
		ev["serviceAccount"] = sa.Email
		out.Findings = append(out.Findings, NewFinding(m, a, j.finding(sa, ev), ev))
	}
	return nil
}

// computeDefaultSAFullScope finds instances that run as the default service account with
// access to every Cloud API.
type computeDefaultSAFullScope struct{ meta Meta }

func newComputeDefaultSAFullScope() *computeDefaultSAFullScope {
	return &computeDefaultSAFullScope{meta: Meta{
		ID:    "compute-default-sa-full-scope",
		Title: "Instance runs as the default service account with full access to all Cloud APIs",
		Description: "With the cloud-platform access scope nothing but IAM limits what the instance's credentials can do, " +
			"and the Compute Engine default service account often holds Editor on the project, " +
			"so anyone who runs code on the instance or reaches its metadata server can change almost anything in the project.",
		Remediation: "Attach a dedicated service account with only the roles the workload needs; " +
			"until then, stop the instance and replace the cloud-platform scope with the narrow scopes it uses.",
		Flags: "An instance (any status) whose `serviceAccounts` has the default account " +
			"`NUMBER-compute@developer.gserviceaccount.com` with the scope " +
			"`https://www.googleapis.com/auth/cloud-platform` (\"Allow full access to all Cloud APIs\"). " +
			"Not flagged: the default account with narrower scopes only (`compute-default-sa` reports it), " +
			"a user-managed account with `cloud-platform` (the recommended setup: IAM alone limits it), no service account. " +
			"GKE nodes (label `goog-gke-node` or metadata key `kube-env`) are listed as skipped: their node pool sets account and scopes.",
		Severity:   SeverityMedium,
		Category:   "FULL_API_ACCESS",
		CIS:        CIS{"1.1": {"4.2"}},
		AssetTypes: []string{inventory.TypeInstance},
	}}
}

func (r *computeDefaultSAFullScope) Meta() *Meta { return &r.meta }

func (r *computeDefaultSAFullScope) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	return judgeDefaultSA(&r.meta, env, a, out, judgedAccount{
		gkeHint: "give the node pool a dedicated service account or narrow its OAuth scopes instead",
		matches: func(sa inventory.InstanceSA) bool { return slices.Contains(sa.Scopes, scopeCloudPlatform) },
		finding: func(sa inventory.InstanceSA, ev map[string]any) string {
			ev["scopes"] = slices.Clone(sa.Scopes)
			return sa.Email + " " + scopeCloudPlatform
		},
	})
}

// computePublicIP finds instances with an external IPv4 or IPv6 address.
type computePublicIP struct{ meta Meta }

func newComputePublicIP() *computePublicIP {
	return &computePublicIP{meta: Meta{
		ID:    "compute-public-ip",
		Title: "Instance has an external IP address",
		Description: "An instance with an external IPv4 or IPv6 address can be reached from the internet on every port " +
			"its firewall rules open, now or after a later change, and can reach the internet directly, " +
			"bypassing the egress controls of a NAT or proxy.",
		Remediation: "Remove the network interface's access configurations (external IPv4) and IPv6 access configurations " +
			"(external IPv6); reach the instance through Identity-Aware Proxy TCP forwarding or a load balancer, " +
			"give it outbound access through Cloud NAT, and forbid external IPs with the compute.vmExternalIpAccess organization policy.",
		Flags: "An instance (any status: a `TERMINATED` instance gets its ephemeral address back on start) " +
			"with a network interface that has an `accessConfigs` entry (external IPv4: type `ONE_TO_ONE_NAT`, " +
			"the API's default, with or without a `natIP`) or an `ipv6AccessConfigs` entry (external IPv6, `DIRECT_IPV6`). " +
			"Not flagged: interfaces with an internal `networkIP` or internal IPv6 address only. " +
			"GKE nodes (label `goog-gke-node` or metadata key `kube-env`) are listed as skipped: make the node pool private instead.",
		Severity:   SeverityHigh,
		Category:   "PUBLIC_IP_ADDRESS",
		CIS:        CIS{"1.1": {"4.9"}},
		AssetTypes: []string{inventory.TypeInstance},
	}}
}

func (r *computePublicIP) Meta() *Meta { return &r.meta }

func (r *computePublicIP) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	inst, err := viewOf(r.meta.ID, a, (*inventory.Asset).Instance)
	if err != nil || inst == nil {
		return err
	}
	external := false
	for i := range inst.NetworkInterfaces {
		nic := &inst.NetworkInterfaces[i]
		if len(nic.AccessConfigs) > 0 || len(nic.IPv6AccessConfigs) > 0 {
			external = true
			break
		}
	}
	if !external {
		return nil
	}
	if skipGKENode(&r.meta, a, inst, "enable private nodes on the node pool instead", out) {
		return nil
	}

	var configs, interfaces []string
	externalIPs := []string{}
	for i := range inst.NetworkInterfaces {
		nic := &inst.NetworkInterfaces[i]
		if len(nic.AccessConfigs) == 0 && len(nic.IPv6AccessConfigs) == 0 {
			continue
		}
		nicName := nic.Name
		if nicName == "" {
			nicName = fmt.Sprintf("nic%d", i) // the API names interfaces by position
		}
		interfaces = append(interfaces, nicName)
		for j, ac := range nic.AccessConfigs {
			configs = append(configs, nicName+"/"+cmp.Or(ac.Name, ac.Type, fmt.Sprintf("accessConfigs[%d]", j)))
			if ac.NatIP != "" {
				externalIPs = append(externalIPs, ac.NatIP)
			}
		}
		for j, ac := range nic.IPv6AccessConfigs {
			configs = append(configs, nicName+"/"+cmp.Or(ac.Name, ac.Type, fmt.Sprintf("ipv6AccessConfigs[%d]", j)))
			if ac.ExternalIPv6 != "" {
				externalIPs = append(externalIPs, ac.ExternalIPv6)
			}
		}
	}
	slices.Sort(configs)
	slices.Sort(interfaces)
	interfaces = slices.Compact(interfaces)
	slices.Sort(externalIPs)
	externalIPs = slices.Compact(externalIPs)

	ev := instanceEvidence(inst, a)
	ev["interfaces"] = interfaces
	ev["accessConfigs"] = configs
	ev["externalIPs"] = externalIPs
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, strings.Join(configs, ","), ev))
	return nil
}

// computeOSLoginDisabled finds projects that do not turn OS Login on for their instances,
// and instances that turn it off for themselves.
type computeOSLoginDisabled struct{ meta Meta }

func newComputeOSLoginDisabled() *computeOSLoginDisabled {
	return &computeOSLoginDisabled{meta: Meta{
		ID:    "compute-os-login-disabled",
		Title: "OS Login is not enforced",
		Description: "Without OS Login, SSH access to instances is granted by SSH keys kept in project or instance metadata, " +
			"outside IAM: keys are not tied to a Google identity, survive the departure of their owner, " +
			"cannot require two-factor authentication and leave no IAM audit trail.",
		Remediation: "Set the metadata enable-oslogin=TRUE in the project's common instance metadata, " +
			"remove enable-oslogin=FALSE from instances that override it, grant roles/compute.osLogin or " +
			"roles/compute.osAdminLogin to those who need SSH access, and enforce it with the compute.requireOsLogin organization policy.",
		Flags: "A compute project (`compute.googleapis.com/Project`) whose `commonInstanceMetadata` lacks " +
			"`enable-oslogin` = true: the key absent, false (`FALSE`, `false`, `0`, `n`, `N`, `no`, `NO`) " +
			"or no boolean GCE reads (evidence `state` `invalid`). " +
			"An instance (any status) whose own metadata sets `enable-oslogin` to false, overriding the project. " +
			"Not flagged: projects with `enable-oslogin` true (`TRUE`, `true`, `True`, `1`, `y`, `Y`, `yes`, `YES`); " +
			"instances without the key (they inherit the project's setting, judged on the project), " +
			"with it true, or with an invalid value (ignored in favour of the project's). " +
			"GKE nodes (label `goog-gke-node` or metadata key `kube-env`) that set it false are listed as skipped.",
		Severity:   SeverityMedium,
		Category:   "OS_LOGIN_DISABLED",
		CIS:        CIS{"1.1": {"4.4"}},
		AssetTypes: []string{inventory.TypeInstance, inventory.TypeComputeProject},
	}}
}

func (r *computeOSLoginDisabled) Meta() *Meta { return &r.meta }

func (r *computeOSLoginDisabled) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	return judgeMetadataKey(&r.meta, env, a, out, metadataJudge{
		key:            metadataOSLogin,
		projectDrifts:  func(b metaBool) bool { return b != metaTrue },
		instanceDrifts: func(_ *inventory.Instance, b metaBool) bool { return b == metaFalse },
		gkeHint:        "set enable-oslogin in the node pool's metadata instead",
	})
}

// computeSerialPortEnabled finds instances and projects that enable interactive access to
// instances' serial consoles.
type computeSerialPortEnabled struct{ meta Meta }

func newComputeSerialPortEnabled() *computeSerialPortEnabled {
	return &computeSerialPortEnabled{meta: Meta{
		ID:    "compute-serial-port-enabled",
		Title: "Interactive serial console access is enabled",
		Description: "With serial-port-enable set, anyone holding an SSH key accepted by the instance can connect to its serial console " +
			"from any IP address, through Google's serial port proxy: firewall rules and the lack of an external address do not stop them.",
		Remediation: "Remove serial-port-enable from the instance's metadata and the project's common instance metadata " +
			"(or set it to FALSE), and enforce this with the compute.disableSerialPortAccess organization policy; " +
			"enable it only temporarily to debug an instance.",
		Flags: "An instance (any status) whose own metadata sets `serial-port-enable` to true " +
			"(`TRUE`, `true`, `True`, `1`, `y`, `Y`, `yes`, `YES`), and a compute project (`compute.googleapis.com/Project`) " +
			"whose `commonInstanceMetadata` does, which enables it for every instance that does not set it false. " +
			"Not flagged: the key absent, false (`FALSE`, `false`, `0`, `n`, `N`, `no`, `NO`) or no boolean GCE reads; " +
			"an instance without the key in a project that enables it (the project is flagged). GKE nodes are judged like any instance.",
		Severity:   SeverityMedium,
		Category:   "SERIAL_PORT_ENABLED",
		CIS:        CIS{"1.1": {"4.5"}},
		AssetTypes: []string{inventory.TypeInstance, inventory.TypeComputeProject},
	}}
}

func (r *computeSerialPortEnabled) Meta() *Meta { return &r.meta }

func (r *computeSerialPortEnabled) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	// GKE nodes are judged like any instance: no gkeHint.
	return judgeMetadataKey(&r.meta, env, a, out, metadataJudge{
		key:            metadataSerialPort,
		projectDrifts:  func(b metaBool) bool { return b == metaTrue },
		instanceDrifts: func(_ *inventory.Instance, b metaBool) bool { return b == metaTrue },
	})
}

// computeProjectSSHKeysAllowed finds instances that accept the SSH keys of their project's
// common instance metadata.
type computeProjectSSHKeysAllowed struct{ meta Meta }

func newComputeProjectSSHKeysAllowed() *computeProjectSSHKeysAllowed {
	return &computeProjectSSHKeysAllowed{meta: Meta{
		ID:    "compute-project-ssh-keys-allowed",
		Title: "Instance accepts project-wide SSH keys",
		Description: "An instance that does not block project-wide SSH keys accepts every key in the project's common instance metadata, " +
			"so a key added for one instance, or left behind by someone who has moved on, logs in to every such instance of the project, " +
			"and one leaked key exposes them all.",
		Remediation: "Set the metadata block-project-ssh-keys=TRUE on the instance and keep the keys it needs in its own metadata; " +
			"better, enforce OS Login (enable-oslogin=TRUE), with which metadata SSH keys are ignored and SSH access is granted through IAM.",
		Flags: "An instance (any status) whose own metadata does not set `block-project-ssh-keys` to true: the key absent, " +
			"false (`FALSE`, `false`, `0`, `n`, `N`, `no`, `NO`) or no boolean GCE reads (evidence `state` `invalid`). " +
			"Not flagged: `block-project-ssh-keys` true (`TRUE`, `true`, `True`, `1`, `y`, `Y`, `yes`, `YES`); " +
			"an instance whose own metadata sets `enable-oslogin` to true (with OS Login on, metadata SSH keys are ignored, " +
			"so project-wide keys grant nothing). Only the instance's own metadata is read: an instance that gets OS Login " +
			"from its project's common instance metadata is flagged (`compute-os-login-disabled` judges the project). " +
			"GKE nodes (label `goog-gke-node` or metadata key `kube-env`) are listed as skipped: their node pool sets the metadata.",
		Severity:   SeverityMedium,
		Category:   "COMPUTE_PROJECT_WIDE_SSH_KEYS_ALLOWED",
		CIS:        CIS{"1.1": {"4.3"}},
		AssetTypes: []string{inventory.TypeInstance},
	}}
}

func (r *computeProjectSSHKeysAllowed) Meta() *Meta { return &r.meta }

func (r *computeProjectSSHKeysAllowed) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	return judgeMetadataKey(&r.meta, env, a, out, metadataJudge{
		key: metadataBlockProjectKeys,
		// With OS Login on, metadata SSH keys are ignored: project-wide keys grant nothing.
		instanceDrifts: func(inst *inventory.Instance, b metaBool) bool {
			_, osLogin := metadataBool(inst.Metadata, metadataOSLogin)
			return b != metaTrue && osLogin != metaTrue
		},
		gkeHint: "set block-project-ssh-keys in the node pool's metadata instead",
	})
}

// metadataJudge says how a rule judges one boolean metadata key.
type metadataJudge struct {
	key string
	// projectDrifts judges the key in a compute project's common instance metadata; nil
	// for a rule that reads instances only.
	projectDrifts func(b metaBool) bool
	// instanceDrifts judges the key in an instance's own metadata.
	instanceDrifts func(inst *inventory.Instance, b metaBool) bool
	// gkeHint, when set, lists a drifting GKE node as skipped with what to do instead;
	// when empty, GKE nodes are judged like any instance.
	gkeHint string
}

// judgeMetadataKey flags a compute project or an instance whose metadata key drifts as j
// says, with the metadata evidence of the project or the instance.
func judgeMetadataKey(m *Meta, env *Env, a *inventory.Asset, out *Results, j metadataJudge) error {
	if err := checkInput(m, env, a, out); err != nil {
		return err
	}
	if a.AssetType == inventory.TypeComputeProject {
		p, err := viewOf(m.ID, a, (*inventory.Asset).ComputeProject)
		if err != nil || p == nil || j.projectDrifts == nil {
			return err
		}
		v, b := metadataBool(p.CommonInstanceMetadata, j.key)
		if !j.projectDrifts(b) {
			return nil
		}
		ev := metadataEvidence("project", j.key, v, b)
		ev["project"] = cmp.Or(p.Name, a.Project())
		out.Findings = append(out.Findings, NewFinding(m, a, j.key, ev))
		return nil
	}
	inst, err := viewOf(m.ID, a, (*inventory.Asset).Instance)
	if err != nil || inst == nil {
		return err
	}
	v, b := metadataBool(inst.Metadata, j.key)
	if !j.instanceDrifts(inst, b) {
		return nil
	}
	if j.gkeHint != "" && skipGKENode(m, a, inst, j.gkeHint, out) {
		return nil
	}
	ev := metadataEvidence("instance", j.key, v, b)
	maps.Copy(ev, instanceEvidence(inst, a))
	out.Findings = append(out.Findings, NewFinding(m, a, j.key, ev))
	return nil
}

// computeIPForwarding finds instances allowed to send and receive packets not addressed to
// or from themselves.
type computeIPForwarding struct{ meta Meta }

func newComputeIPForwarding() *computeIPForwarding {
	return &computeIPForwarding{meta: Meta{
		ID:    "compute-ip-forwarding",
		Title: "Instance can forward IP packets",
		Description: "With IP forwarding on, the instance may send packets with any source address and receive packets for any destination, " +
			"so it can act as a router: a compromised instance can spoof other addresses and carry traffic around the network's controls.",
		Remediation: "Turn canIpForward off (stop the instance and update it, or recreate it without); " +
			"keep it only on instances built to route traffic, such as NAT or network appliances, and restrict it with the " +
			"compute.vmCanIpForward organization policy.",
		Flags: "An instance (any status) with `canIpForward` `true`. " +
			"Not flagged: `canIpForward` `false` or absent. " +
			"GKE nodes (label `goog-gke-node` or metadata key `kube-env`) are listed as skipped: GKE sets it for Pod networking.",
		Severity:   SeverityMedium,
		Category:   "IP_FORWARDING_ENABLED",
		CIS:        CIS{"1.1": {"4.6"}},
		AssetTypes: []string{inventory.TypeInstance},
	}}
}

func (r *computeIPForwarding) Meta() *Meta { return &r.meta }

func (r *computeIPForwarding) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	inst, err := viewOf(r.meta.ID, a, (*inventory.Asset).Instance)
	if err != nil || inst == nil || !inst.CanIPForward {
		return err
	}
	if skipGKENode(&r.meta, a, inst, "change the IP forwarding setting of the cluster or node pool instead", out) {
		return nil
	}
	ev := instanceEvidence(inst, a)
	ev["canIpForward"] = true
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, "canIpForward", ev))
	return nil
}

// computeShieldedVMDisabled finds instances without the Shielded VM protections CIS asks
// for: virtual TPM and integrity monitoring.
type computeShieldedVMDisabled struct{ meta Meta }

func newComputeShieldedVMDisabled() *computeShieldedVMDisabled {
	return &computeShieldedVMDisabled{meta: Meta{
		ID:    "compute-shielded-vm-disabled",
		Title: "Instance runs without Shielded VM protections",
		Description: "Without a virtual TPM and integrity monitoring an instance cannot measure its boot sequence, " +
			"so a rootkit or bootkit that tampers with the boot loader or kernel goes unnoticed.",
		Remediation: "Stop the instance and turn on vTPM and integrity monitoring in its Shielded VM settings " +
			"(and Secure Boot where its drivers allow); an instance whose image does not support Shielded VM must be recreated " +
			"from one that does. Enforce it with the compute.requireShieldedVm organization policy.",
		Flags: "An instance (any status) with no `shieldedInstanceConfig`, or with `enableVtpm` or " +
			"`enableIntegrityMonitoring` false or absent; evidence `disabled` lists those two that are off. " +
			"Not flagged: both on, whatever `enableSecureBoot` says (CIS 4.8 does not require Secure Boot, " +
			"which some drivers do not support). GKE nodes are judged like any instance.",
		Severity:   SeverityLow,
		Category:   "SHIELDED_VM_DISABLED",
		CIS:        CIS{"1.1": {"4.8"}},
		AssetTypes: []string{inventory.TypeInstance},
	}}
}

func (r *computeShieldedVMDisabled) Meta() *Meta { return &r.meta }

func (r *computeShieldedVMDisabled) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	inst, err := viewOf(r.meta.ID, a, (*inventory.Asset).Instance)
	if err != nil || inst == nil {
		return err
	}
	sc := inst.ShieldedInstanceConfig
	if sc != nil && sc.EnableVtpm && sc.EnableIntegrityMonitoring {
		return nil
	}
	// Sorted by name.
	disabled := make([]string, 0, 2)
	if sc == nil || !sc.EnableIntegrityMonitoring {
		disabled = append(disabled, "enableIntegrityMonitoring")
	}
	if sc == nil || !sc.EnableVtpm {
		disabled = append(disabled, "enableVtpm")
	}
	ev := instanceEvidence(inst, a)
	ev["disabled"] = disabled
	ev["shieldedInstanceConfig"] = sc != nil
	if sc != nil {
		ev["enableSecureBoot"] = sc.EnableSecureBoot
	}
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, strings.Join(disabled, ","), ev))
	return nil
}
