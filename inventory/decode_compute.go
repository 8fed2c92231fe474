package inventory

import "strconv"

// Fast decoders of the compute views the instance and subnetwork rules read; like the
// others in decode_data.go they give up on anything unusual and leave it to encoding/json.

func (c *cursor) subnetwork(s *Subnetwork) bool {
	return c.members(kindSubnetwork, func(id int) (ok bool) {
		switch id {
		case 0:
			s.Name, ok = c.uniqueStr()
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
			s.LogConfig, ok = c.subnetworkLogConfig()
		}
		return ok
	})
}

func (c *cursor) subnetworkLogConfig() (*SubnetworkLogConfig, bool) {
	if c.null() {
		return nil, true
	}
	lc := new(SubnetworkLogConfig)
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

func (c *cursor) instance(in *Instance) bool {
	return c.members(kindInstance, func(id int) (ok bool) {
		switch id {
		case 0:
			in.Name, ok = c.uniqueStr()
		case 1:
			in.Zone, ok = c.memberStr()
		case 2:
			in.Status, ok = c.memberStr()
		case 3:
			in.CanIPForward, ok = c.boolean()
		case 4:
			in.NetworkInterfaces, ok = listOf(c, (*cursor).networkInterface)
		case 5:
			in.ServiceAccounts, ok = listOf(c, (*cursor).instanceSA)
		case 6:
			in.Metadata, ok = c.metadata()
		case 7:
			in.ShieldedInstanceConfig, ok = c.shieldedConfig()
		case 8:
			in.Labels, ok = c.stringMap()
		}
		return ok
	})
}

// listOf reads an array of objects with read, or null as nil; a null element is the
// zero value, as encoding/json leaves it.
func listOf[T any](c *cursor, read func(*cursor, *T) bool) ([]T, bool) {
	var out []T
	set, ok := c.elements(func() bool {
		var v T
		if !c.null() && !read(c, &v) {
			return false
		}
		out = append(out, v)
		return true
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
			n.AccessConfigs, ok = listOf(c, (*cursor).accessConfig)
		case 5:
			n.IPv6AccessConfigs, ok = listOf(c, (*cursor).accessConfig)
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

func (c *cursor) shieldedConfig() (*ShieldedInstanceConfig, bool) {
	if c.null() {
		return nil, true
	}
	sc := new(ShieldedInstanceConfig)
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

func (c *cursor) metadata() (*Metadata, bool) {
	if c.null() {
		return nil, true
	}
	m := new(Metadata)
	ok := c.members(kindMetadata, func(id int) (ok bool) {
		switch id {
		case 0:
			m.Fingerprint, ok = c.uniqueStr()
		case 1:
			m.Items, ok = listOf(c, (*cursor).metadataItem)
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
			v, ok = c.uniqueStr()
			it.Value = &v
		}
		return ok
	})
}

func (c *cursor) computeProject(p *ComputeProject) bool {
	return c.members(kindComputeProject, func(id int) (ok bool) {
		switch id {
		case 0:
			p.Name, ok = c.memberStr()
		case 1:
			p.CommonInstanceMetadata, ok = c.metadata()
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
		key := string(k)
		if i = skipSpace(b, c.i); i >= len(b) || b[i] != ':' {
			return nil, false
		}
		c.i = skipSpace(b, i+1)
		if c.i < len(b) && b[c.i] != '"' && b[c.i] != 'n' {
			return nil, false // not a string: encoding/json words the error
		}
		v, ok := c.uniqueStr()
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
