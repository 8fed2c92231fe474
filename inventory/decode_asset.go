package inventory

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
	kindNetwork
	kindServiceAccount
	kindServiceAccountKey
	kindProjectData
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
		"allowed", "denied", "description"),
	kindFirewallRule:      newKind("IPProtocol", "ports"),
	kindNetwork:           newKind("name", "autoCreateSubnetworks", "IPv4Range", "subnetworks"),
	kindServiceAccount:    newKind("name", "email", "uniqueId", "projectId", "disabled"),
	kindServiceAccountKey: newKind("name", "keyType", "keyOrigin", "validAfterTime", "validBeforeTime", "disabled"),
	kindProjectData:       newKind("projectId", "projectNumber", "name"),
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
			hasRes, ok = c.resource(&res, d.keepsData(first(typ, typCamel)))
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

// ancestors reads the ancestors array; the same list as the previous asset's (assets come
// grouped by project) costs one comparison.
func (c *cursor) ancestors() ([]string, bool) {
	d := c.d
	b := c.b
	i := c.i
	if n := len(d.ancestorsRaw); n > 0 && n <= len(b)-i && string(b[i:i+n]) == string(d.ancestorsRaw) {
		c.i = i + n
		out := make([]string, len(d.ancestors))
		copy(out, d.ancestors)
		return out, true
	}
	out, ok := c.strs()
	if ok && out != nil && b[i] == '[' {
		d.ancestorsRaw = append(d.ancestorsRaw[:0], b[i:c.i]...)
		d.ancestors = append(d.ancestors[:0], out...)
	}
	return out, ok
}

// resource reads the resource object, or null (has is false); its data is checked but left
// out unless keep.
func (c *cursor) resource(r *Resource, keep bool) (has, ok bool) {
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
			r.Data, ok = c.data(keep)
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

// data reads resource.data: a JSON object, copied as it is unless !keep, or null.
func (c *cursor) data(keep bool) ([]byte, bool) {
	if c.null() {
		return []byte("null"), true
	}
	start := c.i
	if start >= len(c.b) || c.b[start] != '{' || !c.skip() {
		return nil, false // not an object is an error; the reference decoder words it
	}
	if !keep {
		return nil, true
	}
	return append([]byte(nil), c.b[start:c.i]...), true
}

// policy reads an IAM policy object, or null (as nil).
func (c *cursor) policy() (*Policy, bool) {
	if c.null() {
		return nil, true
	}
	it, ok := c.object(kindPolicy)
	if !ok {
		return nil, false
	}
	p := new(Policy)
	var audits, auditsCamel []AuditConfig
	var hasAudits bool
	for {
		switch it.next() {
		case memberEnd:
			if hasAudits {
				p.AuditConfigs = audits
			} else {
				p.AuditConfigs = auditsCamel
			}
			return p, true
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
		case memberUnknown:
			ok = c.skip()
		default:
			return nil, false
		}
		if !ok {
			return nil, false
		}
	}
}

// bindings reads a policy's bindings, or null as nil.
func (c *cursor) bindings() ([]Binding, bool) {
	if c.null() {
		return nil, true
	}
	if c.i >= len(c.b) || c.b[c.i] != '[' {
		return nil, false
	}
	c.i++
	scratch := c.d.binds[:0]
	for firstItem := true; ; firstItem = false {
		more, ok := c.arrayNext(firstItem)
		if !ok {
			return nil, false
		}
		if !more {
			break
		}
		var bd Binding
		if !c.null() && !c.binding(&bd) {
			return nil, false
		}
		scratch = append(scratch, bd)
	}
	out := make([]Binding, len(scratch))
	copy(out, scratch)
	clear(scratch)
	c.d.binds = scratch[:0]
	return out, true
}

func (c *cursor) binding(bd *Binding) bool {
	it, ok := c.object(kindBinding)
	if !ok {
		return false
	}
	for {
		switch it.next() {
		case memberEnd:
			return true
		case 0:
			bd.Role, ok = c.str()
		case 1:
			bd.Members, ok = c.strs()
		case 2:
			bd.Condition, ok = c.condition()
		case memberUnknown:
			ok = c.skip()
		default:
			return false
		}
		if !ok {
			return false
		}
	}
}

func (c *cursor) condition() (*Condition, bool) {
	if c.null() {
		return nil, true
	}
	it, ok := c.object(kindCondition)
	if !ok {
		return nil, false
	}
	cond := new(Condition)
	for {
		switch it.next() {
		case memberEnd:
			return cond, true
		case 0:
			cond.Title, ok = c.uniqueStr()
		case 1:
			cond.Description, ok = c.uniqueStr()
		case 2:
			cond.Expression, ok = c.uniqueStr()
		case memberUnknown:
			ok = c.skip()
		default:
			return nil, false
		}
		if !ok {
			return nil, false
		}
	}
}

// auditConfigs reads a policy's audit configurations (either key style), or null. present
// is false for null, where the reference decoder falls back to the other key style.
func (c *cursor) auditConfigs() (out []AuditConfig, present, ok bool) {
	if c.null() {
		return nil, false, true
	}
	if c.i >= len(c.b) || c.b[c.i] != '[' {
		return nil, false, false
	}
	c.i++
	for firstItem := true; ; firstItem = false {
		more, ok := c.arrayNext(firstItem)
		if !ok {
			return nil, false, false
		}
		if !more {
			return out, true, true
		}
		var ac AuditConfig
		if !c.null() && !c.auditConfig(&ac) {
			return nil, false, false
		}
		out = append(out, ac)
	}
}

func (c *cursor) auditConfig(ac *AuditConfig) bool {
	it, ok := c.object(kindAuditConfig)
	if !ok {
		return false
	}
	var logs, logsCamel []AuditLogConfig
	var hasLogs bool
	for {
		switch it.next() {
		case memberEnd:
			if hasLogs {
				ac.AuditLogConfigs = logs
			} else {
				ac.AuditLogConfigs = logsCamel
			}
			return true
		case 0:
			ac.Service, ok = c.str()
		case 1:
			logs, hasLogs, ok = c.auditLogConfigs()
		case 2:
			logsCamel, _, ok = c.auditLogConfigs()
		case memberUnknown:
			ok = c.skip()
		default:
			return false
		}
		if !ok {
			return false
		}
	}
}

func (c *cursor) auditLogConfigs() (out []AuditLogConfig, present, ok bool) {
	if c.null() {
		return nil, false, true
	}
	if c.i >= len(c.b) || c.b[c.i] != '[' {
		return nil, false, false
	}
	c.i++
	for firstItem := true; ; firstItem = false {
		more, ok := c.arrayNext(firstItem)
		if !ok {
			return nil, false, false
		}
		if !more {
			return out, true, true
		}
		var l AuditLogConfig
		if !c.null() && !c.auditLogConfig(&l) {
			return nil, false, false
		}
		out = append(out, l)
	}
}

func (c *cursor) auditLogConfig(l *AuditLogConfig) bool {
	it, ok := c.object(kindAuditLogConfig)
	if !ok {
		return false
	}
	var typ, typCamel string
	var ex, exCamel []string
	for {
		switch it.next() {
		case memberEnd:
			l.LogType = first(typ, typCamel)
			l.ExemptedMembers = ex
			if ex == nil {
				l.ExemptedMembers = exCamel
			}
			return true
		case 0:
			typ, ok = c.str()
		case 1:
			typCamel, ok = c.str()
		case 2:
			ex, ok = c.strs()
		case 3:
			exCamel, ok = c.strs()
		case memberUnknown:
			ok = c.skip()
		default:
			return false
		}
		if !ok {
			return false
		}
	}
}
