package inventory

import (
	"slices"
	"time"
	"unsafe"
)

// The typed views of resources.go decode resource.data on every rule that reads it. These
// decoders do it in one pass with the fast scanner, into exactly what encoding/json would
// produce; like the record decoder, they give up on anything unusual (a wrong type, a
// duplicate or case-folded key, a time in another form...), and decodeData then calls
// encoding/json, which decides and words the error.

// sharedView returns the view of type T last decoded from data, when T is one of the
// shared compute views and data is what it was decoded from.
func sharedView[T any](f *fastDecoder, data []byte) (*T, bool) {
	m := &f.memo
	if m.shared == nil || len(data) != len(m.data) || len(data) == 0 {
		return nil, false
	}
	// The rules of one asset read the same slice: its address says it is the same bytes
	// without comparing them all.
	if unsafe.SliceData(data) != m.src && string(data) != string(m.data) {
		return nil, false
	}
	v, ok := m.shared.(*T)
	return v, ok
}

// decodeDataFast decodes data into v, one of the typed views, and reports whether it did.
func decodeDataFast(data []byte, v any) bool {
	f := getFastDecoder()
	defer putFastDecoder(f)
	return f.decodeView(data, v)
}

// decodeView is decodeDataFast with the decoder f.
func (f *fastDecoder) decodeView(data []byte, v any) bool {
	if f.memo.recall(data, v) {
		return true
	}
	c := cursor{b: data, d: f}
	var ok bool
	switch v := v.(type) {
	case *Firewall:
		ok = c.firewall(v, nil)
	case *Network:
		ok = c.network(v)
	case *ServiceAccount:
		ok = c.serviceAccount(v)
	case *ServiceAccountKey:
		ok = c.serviceAccountKey(v)
	case *ProjectData:
		ok = c.projectData(v)
	case *Subnetwork:
		ok = c.subnetwork(v, nil)
	case *Instance:
		ok = c.instance(v, nil)
	case *ComputeProject:
		ok = c.computeProject(v, nil)
	}
	ok = ok && skipSpace(data, c.i) == len(data)
	if ok {
		f.memo.remember(data, v)
	}
	return ok
}

// viewMemo keeps the last view decoded of the kinds several rules read from one asset
// (two rules each read a key and a network), with the exact bytes it was decoded from, so
// that the next rule gets a copy of it instead of decoding the same bytes again. A copy is
// as good as a decoding: the same bytes always decode to the same view. The compute views
// (firewalls, instances, subnetworks, compute projects: four rules read a firewall, seven
// an instance) are not copied but shared: every caller gets the same view, and only reads.
type viewMemo struct {
	kind int // kindNetwork... or 0 when empty
	data []byte
	key  ServiceAccountKey
	sa   ServiceAccount
	proj ProjectData
	net  Network // its Subnetworks and AutoCreateSubnetworks are the memo's own
	auto bool
	// shared is the last firewall, instance, subnetwork or compute project view, handed
	// to every caller as it is (sharedView); src is the address of the bytes it was
	// decoded from.
	shared any
	src    *byte
}

func (m *viewMemo) recall(data []byte, v any) bool {
	if m.kind == 0 || len(data) != len(m.data) || string(data) != string(m.data) {
		return false
	}
	switch v := v.(type) {
	case *ServiceAccountKey:
		if m.kind == kindServiceAccountKey {
			*v = m.key
			return true
		}
	case *ServiceAccount:
		if m.kind == kindServiceAccount {
			*v = m.sa
			return true
		}
	case *ProjectData:
		if m.kind == kindProjectData {
			*v = m.proj
			return true
		}
	case *Network:
		if m.kind == kindNetwork {
			*v = m.net
			v.Subnetworks = slices.Clone(m.net.Subnetworks)
			if m.net.AutoCreateSubnetworks != nil {
				v.AutoCreateSubnetworks = new(bool)
				*v.AutoCreateSubnetworks = m.auto
			}
			return true
		}
	}
	return false
}

func (m *viewMemo) remember(data []byte, v any) {
	m.kind, m.shared, m.src = 0, nil, unsafe.SliceData(data)
	switch v := v.(type) {
	case *ServiceAccountKey:
		m.kind, m.key = kindServiceAccountKey, *v
	case *ServiceAccount:
		m.kind, m.sa = kindServiceAccount, *v
	case *ProjectData:
		m.kind, m.proj = kindProjectData, *v
	case *Firewall:
		m.kind, m.shared = kindFirewall, v
	case *Instance:
		m.kind, m.shared = kindInstance, v
	case *Subnetwork:
		m.kind, m.shared = kindSubnetwork, v
	case *ComputeProject:
		m.kind, m.shared = kindComputeProject, v
	case *Network:
		m.kind, m.net = kindNetwork, *v
		m.net.Subnetworks = slices.Clone(v.Subnetworks)
		m.net.AutoCreateSubnetworks = nil
		if v.AutoCreateSubnetworks != nil {
			m.auto = *v.AutoCreateSubnetworks
			m.net.AutoCreateSubnetworks = &m.auto
		}
	default:
		return
	}
	m.data = append(m.data[:0], data...)
}

// firewall reads a firewall rule. Its string lists share one allocation, and so do its
// allowed and denied entries; each list is capped, so appending to one cannot overwrite
// another.
func (c *cursor) firewall(fw *Firewall, spare *firewallSpare) bool {
	d := c.d
	var priority *int64
	var logConfig *FirewallLogConfig
	if spare != nil {
		priority, logConfig = &spare.priority, &spare.logConfig
	}
	strs, rules, ports := d.fwStrs[:0], d.fwRules[:0], d.fwPorts[:0]
	defer func() {
		clear(strs)
		clear(rules)
		d.fwStrs, d.fwRules, d.fwPorts = strs[:0], rules[:0], ports[:0]
	}()
	var lists [6]span // source ranges, destination ranges, source tags, source service accounts, target tags, target service accounts
	var allowed, denied span
	ok := c.members(kindFirewall, func(id int) (ok bool) {
		switch id {
		case 0:
			fw.Name, ok = c.nameStr()
		case 1:
			fw.Network, ok = c.memberStr()
		case 2:
			fw.Direction, ok = c.memberStr()
		case 3:
			fw.Priority, ok = c.intInto(priority)
		case 4:
			fw.Disabled, ok = c.boolean()
		case 5, 6, 7, 8, 9, 10:
			lists[id-5], ok = c.strsInto(&strs)
		case 11:
			allowed, ok = c.firewallRules(&rules, &ports, &strs)
		case 12:
			denied, ok = c.firewallRules(&rules, &ports, &strs)
		case 13:
			fw.Description, ok = c.memberStr()
		case 14:
			fw.LogConfig, ok = c.firewallLogConfig(logConfig)
		}
		return ok
	})
	if !ok {
		return false
	}
	var arena []string
	if len(strs) > 0 {
		arena = make([]string, len(strs))
		copy(arena, strs)
	} else {
		arena = []string{}
	}
	fw.SourceRanges = lists[0].list(arena)
	fw.DestinationRanges = lists[1].list(arena)
	fw.SourceTags = lists[2].list(arena)
	fw.SourceServiceAccounts = lists[3].list(arena)
	fw.TargetTags = lists[4].list(arena)
	fw.TargetServiceAccounts = lists[5].list(arena)
	if allowed.set || denied.set {
		entries := make([]FirewallRule, len(rules))
		for i, r := range rules {
			entries[i] = FirewallRule{IPProtocol: r.IPProtocol, Ports: ports[i].list(arena)}
		}
		if allowed.set {
			fw.Allowed = entries[allowed.start:allowed.end:allowed.end]
		}
		if denied.set {
			fw.Denied = entries[denied.start:denied.end:denied.end]
		}
	}
	return true
}

// firewallSpare is the storage a firewall view points into.
type firewallSpare struct {
	priority  int64
	logConfig FirewallLogConfig
}

// firewallLogConfig reads a firewall's logConfig into lc (orNew), or null as nil.
func (c *cursor) firewallLogConfig(lc *FirewallLogConfig) (*FirewallLogConfig, bool) {
	if c.null() {
		return nil, true
	}
	lc = orNew(lc)
	ok := c.members(kindFirewallLogConfig, func(id int) (ok bool) {
		switch id {
		case 0:
			lc.Enable, ok = c.boolean()
		case 1:
			lc.Metadata, ok = c.memberStr()
		}
		return ok
	})
	return lc, ok
}

// firewallRules reads an allowed or denied list, or null, appending its entries to *rules,
// their ports to *ports and the strings of those to *strs.
func (c *cursor) firewallRules(rules *[]FirewallRule, ports *[]span, strs *[]string) (span, bool) {
	sp := span{start: len(*rules)}
	var ok bool
	sp.set, ok = c.elements(func() bool {
		var r FirewallRule
		var p span
		if !c.null() && !c.firewallRule(&r, &p, strs) {
			return false
		}
		*rules = append(*rules, r)
		*ports = append(*ports, p)
		return true
	})
	sp.end = len(*rules)
	return sp, ok
}

func (c *cursor) firewallRule(r *FirewallRule, ports *span, strs *[]string) bool {
	return c.members(kindFirewallRule, func(id int) (ok bool) {
		switch id {
		case 0:
			r.IPProtocol, ok = c.memberStr()
		case 1:
			*ports, ok = c.strsInto(strs)
		}
		return ok
	})
}

func (c *cursor) network(n *Network) bool {
	return c.members(kindNetwork, func(id int) (ok bool) {
		switch id {
		case 0:
			n.Name, ok = c.memberStr()
		case 1:
			n.AutoCreateSubnetworks, ok = c.boolPtr()
		case 2:
			n.IPv4Range, ok = c.memberStr()
		case 3:
			n.Subnetworks, ok = c.strs()
		}
		return ok
	})
}

func (c *cursor) serviceAccount(sa *ServiceAccount) bool {
	return c.members(kindServiceAccount, func(id int) (ok bool) {
		switch id {
		case 0:
			sa.Name, ok = c.uniqueStr()
		case 1:
			sa.Email, ok = c.uniqueStr()
		case 2:
			sa.UniqueID, ok = c.uniqueStr()
		case 3:
			sa.ProjectID, ok = c.memberStr()
		case 4:
			sa.Disabled, ok = c.boolean()
		}
		return ok
	})
}

func (c *cursor) serviceAccountKey(k *ServiceAccountKey) bool {
	return c.members(kindServiceAccountKey, func(id int) (ok bool) {
		switch id {
		case 0:
			k.Name, ok = c.uniqueStr()
		case 1:
			k.KeyType, ok = c.memberStr()
		case 2:
			k.KeyOrigin, ok = c.memberStr()
		case 3:
			ok = c.jsonTime(&k.ValidAfterTime)
		case 4:
			ok = c.jsonTime(&k.ValidBeforeTime)
		case 5:
			k.Disabled, ok = c.boolean()
		}
		return ok
	})
}

func (c *cursor) projectData(p *ProjectData) bool {
	return c.members(kindProjectData, func(id int) (ok bool) {
		switch id {
		case 0:
			p.ProjectID, ok = c.memberStr()
		case 1:
			p.ProjectNumber, ok = c.memberStr()
		case 2:
			p.Name, ok = c.memberStr()
		}
		return ok
	})
}

// intInto reads an integer into *n (orNew) and returns n, or null as nil.
func (c *cursor) intInto(n *int64) (*int64, bool) {
	if c.null() {
		return nil, true
	}
	end := numberEnd(c.b, c.i)
	if end < 0 {
		return nil, false
	}
	v, ok := parseInt(c.b[c.i:end])
	c.i = end
	if !ok {
		return nil, false
	}
	n = orNew(n)
	*n = v
	return n, true
}

// boolPtr reads true or false into a new bool, or null as nil.
func (c *cursor) boolPtr() (*bool, bool) {
	if c.null() {
		return nil, true
	}
	i := c.i
	v, ok := c.boolean()
	if !ok || c.i == i {
		return nil, false
	}
	return &v, true
}

// jsonTime reads a time as time.Time's UnmarshalJSON does: null leaves t alone, a string
// is parsed as RFC 3339 as it stands (escapes are not resolved).
func (c *cursor) jsonTime(t *time.Time) bool {
	if c.null() {
		return true
	}
	b := c.b
	i := c.i
	if i >= len(b) || b[i] != '"' {
		return false
	}
	end, special := stringEnd(b, i+1)
	if end < 0 {
		return false
	}
	c.i = end + 1
	if !special {
		if v, ok := parseTimeZ(b[i+1 : end]); ok {
			*t = v
			return true
		}
	}
	return t.UnmarshalJSON(b[i:c.i]) == nil
}
