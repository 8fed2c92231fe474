package playbooks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/zerodrift/zerodrift/rules"
)

// portMatch is one entry of when.ports: a set of ports of one protocol, or of any protocol
// with ports when protocol is "".
type portMatch struct {
	protocol string
	ports    rules.PortSet
}

// parsePortMatch reads "22", "20-30" or "tcp:22".
func parsePortMatch(s string) (portMatch, error) {
	var m portMatch
	spec := strings.TrimSpace(s)
	if proto, rest, ok := strings.Cut(spec, ":"); ok {
		m.protocol = rules.NormalizeProtocol(proto)
		if !rules.HasPorts(m.protocol) {
			return m, fmt.Errorf("%q is not a protocol with ports: want tcp, udp or sctp", proto)
		}
		spec = rest
	}
	r, err := rules.ParsePortRange(spec)
	if err != nil {
		// rules' message repeats the value; this one says what is wanted instead.
		return m, fmt.Errorf("%q is not a port or port range such as 22 or 20-30 (optionally tcp:22)", s)
	}
	m.ports = rules.NewPortSet(r)
	return m, nil
}

// holds reports whether the finding meets every condition; a nil When always holds.
func (w *When) holds(f rules.Finding) bool {
	if w == nil {
		return true
	}
	if len(w.Categories) > 0 && !w.categoryHolds(f) {
		return false
	}
	if len(w.Ports) > 0 && !w.portsHold(f) {
		return false
	}
	return true
}

func (w *When) categoryHolds(f rules.Finding) bool {
	if slices.Contains(w.Categories, f.Category) {
		return true
	}
	cats, _ := asStrings(f.Evidence["categories"])
	for _, c := range cats {
		if slices.Contains(w.Categories, c) {
			return true
		}
	}
	return false
}

// portsHold reads evidence.exposed, a list of {protocol, ports} where ports is "all" or a
// list of Compute API port entries, as the firewall rule writes it (or as JSON gives it
// back). Entries of w.Ports that do not parse match nothing (the loader refuses them).
func (w *When) portsHold(f rules.Finding) bool {
	var want []portMatch
	for _, s := range w.Ports {
		if m, err := parsePortMatch(s); err == nil {
			want = append(want, m)
		}
	}
	for _, e := range asMaps(f.Evidence["exposed"]) {
		proto, _ := e["protocol"].(string)
		proto = rules.NormalizeProtocol(proto)
		var set rules.PortSet
		if proto == rules.ProtocolAll {
			set = rules.AllPorts()
		} else if !rules.HasPorts(proto) {
			continue // icmp and the like reach no port
		} else if s, ok := e["ports"].(string); ok && s == "all" {
			set = rules.AllPorts()
		} else if list, ok := asStrings(e["ports"]); ok {
			var err error
			if set, err = rules.ParsePortSet(list); err != nil {
				continue
			}
		} else {
			continue
		}
		for _, m := range want {
			if (m.protocol == "" || m.protocol == proto || proto == rules.ProtocolAll) && set.Overlaps(m.ports) {
				return true
			}
		}
	}
	return false
}

// asStrings reads a list of strings held as []string or, after a JSON round trip, []any.
func asStrings(v any) ([]string, bool) {
	switch l := v.(type) {
	case []string:
		return l, true
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			switch s := x.(type) {
			case string:
				out = append(out, s)
			case float64:
				out = append(out, strconv.FormatFloat(s, 'f', -1, 64))
			case int:
				out = append(out, strconv.Itoa(s))
			default:
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// asMaps reads a list of objects held as []map[string]any or, after a JSON round trip, []any.
func asMaps(v any) []map[string]any {
	switch l := v.(type) {
	case []map[string]any:
		return l
	case []any:
		var out []map[string]any
		for _, x := range l {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}
