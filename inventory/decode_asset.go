package inventory

import "unsafe"

// The kinds of objects the fast decoder reads, and the ids of their keys (the order of the
// keys given to newKind).
const (
	kindAsset = iota
	kindResource
	kindPolicy
	kindBinding
	kindCondition
	kindAuditConfig
	kindAuditLogConfig
	kindFirewall
	kindFirewallRule
	kindFirewallLogConfig
	kindNetwork
	kindServiceAccount
	kindServiceAccountKey
	kindProjectData
	kindSubnetwork
	kindSubnetworkLogConfig
	kindInstance
	kindNetworkInterface
	kindAccessConfig
	kindInstanceSA
	kindShieldedConfig
	kindMetadata
	kindMetadataItem
	kindComputeProject
	numKinds
)

var kinds = [numKinds]*objectKind{
	kindAsset: newKind("name", "asset_type", "assetType", "ancestors", "update_time", "updateTime",
		"resource", "iam_policy", "iamPolicy"),
	kindResource: newKind("data", "version", "discovery_document_uri", "discoveryDocumentUri",
		"discovery_name", "discoveryName", "parent", "location"),
	kindPolicy:         newKind("version", "etag", "bindings", "audit_configs", "auditConfigs"),
	kindBinding:        newKind("role", "members", "condition"),
	kindCondition:      newKind("title", "description", "expression"),
	kindAuditConfig:    newKind("service", "audit_log_configs", "auditLogConfigs"),
	kindAuditLogConfig: newKind("log_type", "logType", "exempted_members", "exemptedMembers"),
	kindFirewall: newKind("name", "network", "direction", "priority", "disabled", "sourceRanges",
		"destinationRanges", "sourceTags", "sourceServiceAccounts", "targetTags", "targetServiceAccounts",
		"allowed", "denied", "description", "logConfig"),
	kindFirewallRule:      newKind("IPProtocol", "ports"),
	kindFirewallLogConfig: newKind("enable", "metadata"),
	kindNetwork:           newKind("name", "autoCreateSubnetworks", "IPv4Range", "subnetworks"),
	kindServiceAccount:    newKind("name", "email", "uniqueId", "projectId", "disabled"),
	kindServiceAccountKey: newKind("name", "keyType", "keyOrigin", "validAfterTime", "validBeforeTime", "disabled"),
	kindProjectData:       newKind("projectId", "projectNumber", "name"),
	kindSubnetwork: newKind("name", "network", "region", "ipCidrRange", "purpose", "role", "privateIpGoogleAccess",
		"enableFlowLogs", "logConfig"),
	kindSubnetworkLogConfig: newKind("enable", "aggregationInterval", "flowSampling", "metadata"),
	kindInstance: newKind("name", "zone", "status", "canIpForward", "networkInterfaces", "serviceAccounts", "metadata",
		"shieldedInstanceConfig", "labels"),
	kindNetworkInterface: newKind("name", "network", "subnetwork", "networkIP", "accessConfigs", "ipv6AccessConfigs"),
	kindAccessConfig:     newKind("name", "type", "natIP", "externalIpv6"),
	kindInstanceSA:       newKind("email", "scopes"),
	kindShieldedConfig:   newKind("enableSecureBoot", "enableVtpm", "enableIntegrityMonitoring"),
	kindMetadata:         newKind("fingerprint", "items"),
	kindMetadataItem:     newKind("key", "value"),
	kindComputeProject:   newKind("name", "commonInstanceMetadata", "defaultServiceAccount", "xpnProjectStatus"),
}

// assetWithResource puts an asset and its resource in one allocation.
type assetWithResource struct {
	a Asset
	r Resource
}

// asset decodes the asset object at b[i:] and returns it with the index just after it.
func (d *fastDecoder) asset(b []byte, i int) (*Asset, int, bool) {
	c := cursor{b: b, i: i, d: d}
	it, ok := c.object(kindAsset)
	if !ok {
		return nil, 0, false
	}
	var (
		name, typ, typCamel       string
		ancestors                 []string
		upd, updCamel             timeStamp
		hasRes                    bool
		res                       Resource
		policy, policyCamel       *Policy
		hasPolicy, hasPolicyCamel bool
	)
	for {
		switch it.next() {
		case memberEnd:
			goto done
		case 0: // name
			name, ok = c.uniqueStr()
			c.assetName = name
		case 1: // asset_type
			typ, ok = it.str()
		case 2: // assetType
			typCamel, ok = it.str()
		case 3: // ancestors
			ancestors, ok = c.ancestors()
		case 4: // update_time
			upd, ok = c.timeStamp()
		case 5: // updateTime
			updCamel, ok = c.timeStamp()
		case 6: // resource
			t := first(typ, typCamel)
			hasRes, ok = c.resource(&res, d.keepsData(t), t)
		case 7: // iam_policy
			policy, ok = c.policy()
			hasPolicy = policy != nil
		case 8: // iamPolicy
			policyCamel, ok = c.policy()
			hasPolicyCamel = policyCamel != nil
		case memberUnknown:
			ok = c.skip()
		default:
			return nil, 0, false
		}
		if !ok {
			return nil, 0, false
		}
	}
done:
	if typ == "" {
		typ = typCamel
	}
	if name == "" || typ == "" {
		return nil, 0, false
	}
	if !upd.set {
		upd = updCamel
	}
	if upd.set && !upd.valid {
		return nil, 0, false
	}
	var a *Asset
	if hasRes {
		box := &assetWithResource{r: res}
		a = &box.a
		a.Resource = &box.r
	} else {
		a = new(Asset)
	}
	a.Name, a.AssetType, a.Ancestors, a.UpdateTime = name, typ, ancestors, upd.t
	switch {
	case hasPolicy:
		a.IAMPolicy = policy
	case hasPolicyCamel:
		a.IAMPolicy = policyCamel
	}
	return a, c.i, true
}

// ancestors reads the ancestors array. Assets come grouped by project: the same list as
// the previous asset's costs one comparison, and the two assets share it (its capacity is
// its length, so appending to one list cannot change the other).
func (c *cursor) ancestors() ([]string, bool) {
	d := c.d
	b := c.b
	i := c.i
	if n := len(d.ancestorsRaw); n > 0 && n <= len(b)-i && string(b[i:i+n]) == string(d.ancestorsRaw) {
		c.i = i + n
		return d.ancestors, true
	}
	out, ok := c.strs()
	if ok && out != nil && b[i] == '[' {
		d.ancestorsRaw = append(d.ancestorsRaw[:0], b[i:c.i]...)
		d.ancestors = out[:len(out):len(out)]
	}
	return out, ok
}

// resource reads the resource object, or null (has is false); its data is checked but left
// out unless keep. typ is the asset's type when it came before the resource.
func (c *cursor) resource(r *Resource, keep bool, typ string) (has, ok bool) {
	if c.null() {
		return false, true
	}
	it, ok := c.object(kindResource)
	if !ok {
		return false, false
	}
	var docSnake, docCamel, nameSnake, nameCamel string
	for {
		switch it.next() {
		case memberEnd:
			r.DiscoveryDocumentURI = first(docSnake, docCamel)
			r.DiscoveryName = first(nameSnake, nameCamel)
			return true, true
		case 0:
			r.Data, r.view, ok = c.data(keep, typ)
			if r.view != nil {
				r.viewSrc = unsafe.SliceData(r.Data)
			}
		case 1:
			r.Version, ok = it.str()
		case 2:
			docSnake, ok = it.str()
		case 3:
			docCamel, ok = it.str()
		case 4:
			nameSnake, ok = it.str()
		case 5:
			nameCamel, ok = it.str()
		case 6:
			r.Parent, ok = it.str()
		case 7:
			r.Location, ok = it.str()
		case memberUnknown:
			ok = c.skip()
		default:
			return false, false
		}
		if !ok {
			return false, false
		}
	}
}

// data reads resource.data: a JSON object, copied as it is unless !keep, or null. When it
// is kept and is one of the shared views (sharedViewOf), the view is read on the way past
// instead of skipping the object, and returned too (without the copy when the decoder
// keeps views only); when the view's decoder gives up, the object is skipped and copied,
// and the typed accessor decides later, as it would have.
func (c *cursor) data(keep bool, typ string) ([]byte, any, bool) {
	if c.null() {
		return []byte("null"), nil, true
	}
	start := c.i
	if start >= len(c.b) || c.b[start] != '{' {
		return nil, nil, false // not an object is an error; the reference decoder words it
	}
	var view any
	if keep {
		view = c.sharedViewOf(typ)
	}
	if view == nil {
		c.i = start
		if !c.skip() {
			return nil, nil, false
		}
	}
	if !keep || view != nil && c.d.viewsOnly {
		return nil, view, true
	}
	return append([]byte(nil), c.b[start:c.i]...), view, true
}

// sharedViewOf reads the object at the cursor as the typed view of an asset of type typ,
// when several rules read that type's view: a firewall, instance, subnetwork or compute
// project. It returns nil, the cursor anywhere, for other types and when the decoder gives
// up.
func (c *cursor) sharedViewOf(typ string) any {
	switch typ {
	case TypeFirewall:
		return readView(c.firewall)
	case TypeInstance:
		return readView(c.instance)
	case TypeSubnetwork:
		return readView(c.subnetwork)
	case TypeComputeProject:
		return readView(c.computeProject)
	}
	return nil
}

// viewBox is a view and the spare storage it points into, allocated together.
type viewBox[T, S any] struct {
	view  T
	spare S
}

// readView reads a view of type T with read, or returns nil when read gives up. read is
// a bound method, as for listOf, so that the cursor does not escape.
func readView[T, S any](read func(*T, *S) bool) any {
	b := new(viewBox[T, S])
	if !read(&b.view, &b.spare) {
		return nil
	}
	return &b.view
}

// policy reads an IAM policy object, or null (as nil).
func (c *cursor) policy() (*Policy, bool) {
	if c.null() {
		return nil, true
	}
	p := new(Policy)
	var audits, auditsCamel []AuditConfig
	var hasAudits bool
	ok := c.members(kindPolicy, func(id int) (ok bool) {
		switch id {
		case 0:
			var v int64
			v, ok = c.int()
			p.Version = int(v)
			ok = ok && int64(p.Version) == v
		case 1:
			p.Etag, ok = c.uniqueStr()
		case 2:
			p.Bindings, ok = c.bindings()
		case 3:
			audits, hasAudits, ok = c.auditConfigs()
		case 4:
			auditsCamel, _, ok = c.auditConfigs()
		}
		return ok
	})
	if !ok {
		return nil, false
	}
	if hasAudits {
		p.AuditConfigs = audits
	} else {
		p.AuditConfigs = auditsCamel
	}
	return p, true
}

// bindings reads a policy's bindings, or null as nil.
func (c *cursor) bindings() ([]Binding, bool) {
	scratch := c.d.binds[:0]
	set, ok := c.elements(func() bool {
		var bd Binding
		scratch = append(scratch, bd)
		return c.null() || c.binding(&scratch[len(scratch)-1])
	})
	var out []Binding
	if set && ok {
		out = make([]Binding, len(scratch))
		copy(out, scratch)
	}
	clear(scratch)
	c.d.binds = scratch[:0]
	return out, ok
}

func (c *cursor) binding(bd *Binding) bool {
	return c.members(kindBinding, func(id int) (ok bool) {
		switch id {
		case 0:
			bd.Role, ok = c.str()
		case 1:
			bd.Members, ok = c.strs()
		case 2:
			bd.Condition, ok = c.condition()
		}
		return ok
	})
}

func (c *cursor) condition() (*Condition, bool) {
	if c.null() {
		return nil, true
	}
	cond := new(Condition)
	ok := c.members(kindCondition, func(id int) (ok bool) {
		switch id {
		case 0:
			cond.Title, ok = c.uniqueStr()
		case 1:
			cond.Description, ok = c.uniqueStr()
		case 2:
			cond.Expression, ok = c.uniqueStr()
		}
		return ok
	})
	if !ok {
		return nil, false
	}
	return cond, true
}

// auditConfigs reads a policy's audit configurations (either key style), or null. present
// is false for null, where the reference decoder falls back to the other key style.
func (c *cursor) auditConfigs() (out []AuditConfig, present, ok bool) {
	present, ok = c.elements(func() bool {
		out = append(out, AuditConfig{})
		return c.null() || c.auditConfig(&out[len(out)-1])
	})
	if !ok {
		return nil, false, false
	}
	return out, present, true
}

func (c *cursor) auditConfig(ac *AuditConfig) bool {
	var logs, logsCamel []AuditLogConfig
	var hasLogs bool
	ok := c.members(kindAuditConfig, func(id int) (ok bool) {
		switch id {
		case 0:
			ac.Service, ok = c.str()
		case 1:
			logs, hasLogs, ok = c.auditLogConfigs()
		case 2:
			logsCamel, _, ok = c.auditLogConfigs()
		}
		return ok
	})
	if hasLogs {
		ac.AuditLogConfigs = logs
	} else {
		ac.AuditLogConfigs = logsCamel
	}
	return ok
}

func (c *cursor) auditLogConfigs() (out []AuditLogConfig, present, ok bool) {
	present, ok = c.elements(func() bool {
		out = append(out, AuditLogConfig{})
		return c.null() || c.auditLogConfig(&out[len(out)-1])
	})
	if !ok {
		return nil, false, false
	}
	return out, present, true
}

func (c *cursor) auditLogConfig(l *AuditLogConfig) bool {
	var typ, typCamel string
	var ex, exCamel []string
	ok := c.members(kindAuditLogConfig, func(id int) (ok bool) {
		switch id {
		case 0:
			typ, ok = c.str()
		case 1:
			typCamel, ok = c.str()
		case 2:
			ex, ok = c.strs()
		case 3:
			exCamel, ok = c.strs()
		}
		return ok
	})
	l.LogType = first(typ, typCamel)
	l.ExemptedMembers = ex
	if ex == nil {
		l.ExemptedMembers = exCamel
	}
	return ok
}
