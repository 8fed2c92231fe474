package firewall

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/rules"
)

func TestRestrictRanges(t *testing.T) {
	iap, iap6 := netip.MustParsePrefix("35.235.240.0/20"), netip.MustParsePrefix("2600:2d00:1:7::/64")
	for _, c := range []struct {
		name    string
		current []string
		implied bool
		trusted []netip.Prefix
		want    []string
		refused bool
	}{
		{"world", []string{"0.0.0.0/0"}, false, []netip.Prefix{iap}, []string{"35.235.240.0/20"}, false},
		{"world and others, in order", []string{"192.0.2.0/24", "0.0.0.0/0", "10.0.0.0/8"}, false, []netip.Prefix{iap},
			[]string{"192.0.2.0/24", "10.0.0.0/8", "35.235.240.0/20"}, false},
		{"trusted already there", []string{"35.235.240.0/20", "0.0.0.0/0"}, false, []netip.Prefix{iap}, []string{"35.235.240.0/20"}, false},
		{"halves", []string{"0.0.0.0/1", "128.0.0.0/1"}, false, []netip.Prefix{iap}, []string{"35.235.240.0/20"}, false},
		{"nested covers left after the first pass", []string{"0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"}, false,
			[]netip.Prefix{iap}, []string{"10.0.0.0/8", "35.235.240.0/20"}, false},
		{"two spellings", []string{"0.0.0.0/0", " 0.0.0.0/0"}, false, []netip.Prefix{iap}, []string{"35.235.240.0/20"}, false},
		{"implied", nil, true, []netip.Prefix{iap, iap6}, []string{"35.235.240.0/20"}, false},
		{"ipv6", []string{"::/0"}, false, []netip.Prefix{iap, iap6}, []string{"2600:2d00:1:7::/64"}, false},
		{"ipv6 with no ipv6 trusted range", []string{"::/0"}, false, []netip.Prefix{iap}, nil, true},
		{"ipv6 keeps a narrower range", []string{"::/0", "2001:db8::/32"}, false, []netip.Prefix{iap}, []string{"2001:db8::/32"}, false},
		{"mixed families", []string{"0.0.0.0/0", "::/0"}, false, []netip.Prefix{iap, iap6}, nil, true},
		{"kept and trusted cover the internet", []string{"0.0.0.0/0", "0.0.0.0/1"}, false,
			[]netip.Prefix{netip.MustParsePrefix("128.0.0.0/1")}, nil, true},
	} {
		got, err := restrictRanges(c.current, c.implied, c.trusted)
		var r *remediators.RefusedError
		switch {
		case c.refused && !errors.As(err, &r):
			t.Errorf("%s: %v, %v; want a refusal", c.name, got, err)
		case !c.refused && (err != nil || !slices.Equal(got, c.want)):
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestPortSets(t *testing.T) {
	ps := func(specs ...string) rules.PortSet {
		s, err := rules.ParsePortSet(specs)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := intersect(ps("20-30", "100-200"), ps("25-150")).String(); got != "25-30,100-150" {
		t.Errorf("intersect = %s", got)
	}
	if !containsAll(ps("0-65535"), ps("22", "3389")) || containsAll(ps("22"), ps("22-23")) || !containsAll(ps("20-30"), ps("22", "25-30")) {
		t.Error("containsAll")
	}
}

func TestCovers(t *testing.T) {
	net := "https://www.googleapis.com/compute/v1/projects/p/global/networks/n"
	open := &computepb.Firewall{Name: proto.String("open"), Network: proto.String(net), Priority: proto.Int32(1000),
		TargetTags: []string{"web"}, SourceRanges: []string{"0.0.0.0/0"},
		Allowed: []*computepb.Allowed{{IPProtocol: proto.String("tcp"), Ports: []string{"22"}}}}
	d, err := newDenyRequest(open, remediators.Request{})
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := families()[0], families()[1]
	mine := buildDeny(d, v4)
	if !covers(mine, d, v4) || covers(mine, d, v6) {
		t.Error("a rule built for a family covers it, and only it")
	}
	if n := mine.GetName(); len(n) != len(DenyRulePrefix)+16 || n == buildDeny(d, v6).GetName() {
		t.Errorf("names %s and %s", n, buildDeny(d, v6).GetName())
	}
	for name, change := range map[string]func(*computepb.Firewall){
		"disabled":         func(x *computepb.Firewall) { x.Disabled = proto.Bool(true) },
		"behind":           func(x *computepb.Firewall) { x.Priority = proto.Int32(1000) },
		"other network":    func(x *computepb.Firewall) { x.Network = proto.String(net + "2") },
		"other targets":    func(x *computepb.Firewall) { x.TargetTags = []string{"db"} },
		"narrower sources": func(x *computepb.Firewall) { x.SourceRanges = []string{"0.0.0.0/1"} },
		"other port":       func(x *computepb.Firewall) { x.Denied[0].Ports = []string{"23"} },
		"egress":           func(x *computepb.Firewall) { x.Direction = proto.String("EGRESS") },
		"destinations":     func(x *computepb.Firewall) { x.DestinationRanges = []string{"10.0.0.0/8"} },
	} {
		x := proto.Clone(mine).(*computepb.Firewall)
		change(x)
		if covers(x, d, v4) {
			t.Errorf("%s: still covers", name)
		}
	}
	for name, change := range map[string]func(*computepb.Firewall){
		"every instance": func(x *computepb.Firewall) { x.TargetTags = nil },
		"more tags":      func(x *computepb.Firewall) { x.TargetTags = []string{"db", "web"} },
		"all ports":      func(x *computepb.Firewall) { x.Denied = []*computepb.Denied{{IPProtocol: proto.String("all")}} },
		"further ahead":  func(x *computepb.Firewall) { x.Priority = proto.Int32(10) },
		"implied source": func(x *computepb.Firewall) { x.SourceRanges = nil },
	} {
		x := proto.Clone(mine).(*computepb.Firewall)
		change(x)
		if !covers(x, d, v4) {
			t.Errorf("%s: does not cover", name)
		}
	}
}
