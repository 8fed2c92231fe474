package network

import (
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"
)

func TestNetRef(t *testing.T) {
	n := netRef{"p", "default"}
	for ref, want := range map[string]bool{
		"https://www.googleapis.com/compute/v1/projects/p/global/networks/default":     true,
		"https://compute.googleapis.com/compute/v1/projects/p/global/networks/default": true,
		"projects/p/global/networks/default":                                           true,
		"global/networks/default":                                                      true,
		"default":                                                                      true,
		"projects/q/global/networks/default":                                           false,
		"projects/p/global/networks/default2":                                          false,
		"":                                                                             false,
	} {
		if got := n.is(ref); got != want {
			t.Errorf("is(%q) = %v", ref, got)
		}
	}
}

func TestSystemRoutes(t *testing.T) {
	n := netRef{"p", "default"}
	gw := "https://www.googleapis.com/compute/v1/projects/p/global/gateways/default-internet-gateway"
	for name, c := range map[string]struct {
		route *computepb.Route
		want  bool
	}{
		"internet":        {&computepb.Route{Name: proto.String("default-route-1"), DestRange: proto.String("0.0.0.0/0"), NextHopGateway: proto.String(gw)}, true},
		"subnet":          {&computepb.Route{Name: proto.String("default-route-2"), DestRange: proto.String("10.128.0.0/20"), NextHopNetwork: proto.String("projects/p/global/networks/default")}, true},
		"custom internet": {&computepb.Route{Name: proto.String("egress"), DestRange: proto.String("0.0.0.0/0"), NextHopGateway: proto.String(gw)}, false},
		"custom":          {&computepb.Route{Name: proto.String("default-route-3"), DestRange: proto.String("0.0.0.0/0"), NextHopIp: proto.String("10.0.0.2")}, false},
	} {
		if got := isSystemRoute(c.route, n); got != c.want {
			t.Errorf("%s: %v", name, got)
		}
	}
}
