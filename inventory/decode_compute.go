package inventory

import "strconv"

// Fast decoders of the compute views the instance and subnetwork rules read; like the
// others in decode_data.go they give up on anything unusual and leave it to encoding/json.
//
// A view's reader takes spare storage for the objects the view points to (a log config,
// metadata), allocated with the view (viewBox), or nil to allocate each on its own
// (orNew).

// orNew returns p, or a new T when p is nil.
func orNew[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// instanceSpare is the storage an instance view points into.
type instanceSpare struct {
	metadata Metadata
	shielded ShieldedInstanceConfig
}

func (c *cursor) subnetwork(s *Subnetwork, spare *SubnetworkLogConfig) bool {
	return c.members(kindSubnetwork, func(id int) (ok bool) {
		switch id {
		case 0:
			s.Name, ok = c.nameStr()
		case 1:
			s.Network, ok = c.memberStr()
		case 2:
			s.Region, ok = c.memberStr()
		case 3:
			s.IPCidrRange, ok = c.uniqueStr()
		case 4:
			s.Purpose, ok = c.memberStr()
		case 5:
			s.Role, ok = c.memberStr()
		case 6:
			s.PrivateIPGoogleAccess, ok = c.boolean()
		case 7:
			s.EnableFlowLogs, ok = c.boolPtr()
		case 8:
			s.LogConfig, ok = c.subnetworkLogConfig(spare)
		}
		return ok
	})
}

func (c *cursor) subnetworkLogConfig(lc *SubnetworkLogConfig) (*SubnetworkLogConfig, bool) {
	if c.null() {
		return nil, true
	}
	lc = orNew(lc)
	ok := c.members(kindSubnetworkLogConfig, func(id int) (ok bool) {
		switch id {
		case 0:
			lc.Enable, ok = c.boolean()
		case 1:
			lc.AggregationInterval, ok = c.memberStr()
		case 2:
			lc.FlowSampling, ok = c.float()
		case 3:
			lc.Metadata, ok = c.memberStr()
		}
		return ok
	})
	return lc, ok
}

func (c *cursor) instance(in *Instance, spare *instanceSpare) bool {
	var md *Metadata
	var sc *ShieldedInstanceConfig
	if spare != nil {
		md, sc = &spare.metadata, &spare.shielded
	}
	return c.members(kindInstance, func(id int) (ok bool) {
		switch id {
		case 0:
			in.Name, ok = c.nameStr()
		case 1:
			in.Zone, ok = c.memberStr()
		case 2:
			in.Status, ok = c.memberStr()
		case 3:
			in.CanIPForward, ok = c.boolean()
		case 4:
			in.NetworkInterfaces, ok = listOf(c, c.networkInterface)
		case 5:
			in.ServiceAccounts, ok = listOf(c, c.instanceSA)
		case 6:
			in.Metadata, ok = c.metadata(md)
		case 7:
			in.ShieldedInstanceConfig, ok = c.shieldedConfig(sc)
		case 8:
			in.Labels, ok = c.stringMap()
		}
		return ok
	})
}

// listOf reads an array of objects with read, or null as nil; a null element is the
// zero value, as encoding/json leaves it. read decodes into the element in place. It is a
// bound method (c.networkInterface) rather than a method expression, which keeps the
// cursor off the heap: the compiler assumes an indirect call's arguments escape, and
// read's only one is an element of the list, on the heap anyway.
func listOf[T any](c *cursor, read func(*T) bool) ([]T, bool) {
	var out []T
	set, ok := c.elements(func() bool {
		var zero T
		out = append(out, zero)
		return c.null() || read(&out[len(out)-1])
	})
	if set && out == nil {
		out = []T{}
	}
	return out, ok
}

func (c *cursor) networkInterface(n *NetworkInterface) bool {
	return c.members(kindNetworkInterface, func(id int) (ok bool) {
		switch id {
		case 0:
			n.Name, ok = c.memberStr()
		case 1:
			n.Network, ok = c.memberStr()
		case 2:
			n.Subnetwork, ok = c.memberStr()
		case 3:
			n.NetworkIP, ok = c.uniqueStr()
		case 4:
			n.AccessConfigs, ok = listOf(c, c.accessConfig)
		case 5:
			n.IPv6AccessConfigs, ok = listOf(c, c.accessConfig)
		}
		return ok
	})
}

func (c *cursor) accessConfig(a *AccessConfig) bool {
	return c.members(kindAccessConfig, func(id int) (ok bool) {
		switch id {
		case 0:
			a.Name, ok = c.memberStr()
		case 1:
			a.Type, ok = c.memberStr()
		case 2:
			a.NatIP, ok = c.uniqueStr()
		case 3:
			a.ExternalIPv6, ok = c.uniqueStr()
		}
		return ok
	})
}

func (c *cursor) instanceSA(sa *InstanceSA) bool {
	return c.members(kindInstanceSA, func(id int) (ok bool) {
		switch id {
		case 0:
			sa.Email, ok = c.memberStr()
		case 1:
			sa.Scopes, ok = c.strs()
		}
		return ok
	})
}

func (c *cursor) shieldedConfig(sc *ShieldedInstanceConfig) (*ShieldedInstanceConfig, bool) {
	if c.null() {
		return nil, true
	}
	sc = orNew(sc)
	ok := c.members(kindShieldedConfig, func(id int) (ok bool) {
		switch id {
		case 0:
			sc.EnableSecureBoot, ok = c.boolean()
		case 1:
			sc.EnableVtpm, ok = c.boolean()
		case 2:
			sc.EnableIntegrityMonitoring, ok = c.boolean()
		}
		return ok
	})
	return sc, ok
}

func (c *cursor) metadata(m *Metadata) (*Metadata, bool) {
	if c.null() {
		return nil, true
	}
	m = orNew(m)
	ok := c.members(kindMetadata, func(id int) (ok bool) {
		switch id {
		case 0:
			m.Fingerprint, ok = c.uniqueStr()
		case 1:
			m.Items, ok = listOf(c, c.metadataItem)
		}
		return ok
	})
	return m, ok
}

func (c *cursor) metadataItem(it *MetadataItem) bool {
	return c.members(kindMetadataItem, func(id int) (ok bool) {
		switch id {
		case 0:
			it.Key, ok = c.memberStr()
		case 1:
			if c.null() {
				it.Value, ok = nil, true
				break
			}
			var v string
			v, ok = c.shortStr()
			it.Value = c.d.boxStr(v)
		}
		return ok
	})
}

func (c *cursor) computeProject(p *ComputeProject, spare *Metadata) bool {
	return c.members(kindComputeProject, func(id int) (ok bool) {
		switch id {
		case 0:
			p.Name, ok = c.memberStr()
		case 1:
			p.CommonInstanceMetadata, ok = c.metadata(spare)
		case 2:
			p.DefaultServiceAccount, ok = c.memberStr()
		case 3:
			p.XpnProjectStatus, ok = c.memberStr()
		}
		return ok
	})
}

// float reads a number as encoding/json does for a float64 (null leaves it zero).
func (c *cursor) float() (float64, bool) {
	if c.null() {
		return 0, true
	}
	end := numberEnd(c.b, c.i)
	if end < 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(c.b[c.i:end]), 64)
	c.i = end
	return f, err == nil
}

// stringMap reads an object of strings (labels), or null as nil. A null value is an
// empty string and a repeated key keeps its last value, as encoding/json has them.
func (c *cursor) stringMap() (map[string]string, bool) {
	if c.null() {
		return nil, true
	}
	b := c.b
	i := skipSpace(b, c.i)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	m := map[string]string{}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		c.i = i + 1
		return m, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		c.i = i
		k, ok := c.strBytes()
		if !ok {
			return nil, false
		}
		key := c.d.in.str(k)
		if i = skipSpace(b, c.i); i >= len(b) || b[i] != ':' {
			return nil, false
		}
		c.i = skipSpace(b, i+1)
		if c.i < len(b) && b[c.i] != '"' && b[c.i] != 'n' {
			return nil, false // not a string: encoding/json words the error
		}
		v, ok := c.shortStr()
		if !ok {
			return nil, false
		}
		m[key] = v
		switch i = skipSpace(b, c.i); {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			c.i = i + 1
			return m, true
		default:
			return nil, false
		}
	}
}
