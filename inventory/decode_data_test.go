package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// diffData fails t when decodeDataFast accepts data for one of the typed views and
// encoding/json decodes it differently or rejects it.
func diffData(t testing.TB, data []byte) {
	t.Helper()
	for _, newView := range []func() any{
		func() any { return new(Firewall) },
		func() any { return new(Network) },
		func() any { return new(ServiceAccount) },
		func() any { return new(ServiceAccountKey) },
		func() any { return new(ProjectData) },
		func() any { return new(Subnetwork) },
		func() any { return new(Instance) },
		func() any { return new(ComputeProject) },
	} {
		got, want := newView(), newView()
		if !decodeDataFast(data, got) {
			continue // left to encoding/json
		}
		if err := json.Unmarshal(data, want); err != nil {
			t.Fatalf("%T: fast decoder accepted what encoding/json rejects (%v): %q", got, err, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%T: fast decoder differs from encoding/json:\n got %+v\nwant %+v\ndata %q", got, got, want, data)
		}
	}
}

var dataEdgeCases = []string{
	`{}`,
	`null`,
	`[]`,
	`{"name":"fw","priority":1000,"disabled":true,"direction":"EGRESS","sourceRanges":[],"targetTags":null,"allowed":[]}`,
	`{"name":"fw","priority":null,"allowed":[null,{"IPProtocol":"tcp"},{"IPProtocol":"udp","ports":["53","1-2"]}],"denied":null}`,
	`{"name":"fw","priority":1000.0}`,
	`{"name":"fw","priority":1e3}`,
	`{"name":"fw","priority":-5}`,
	`{"name":"fw","priority":"5"}`,
	`{"name":"fw","priority":99999999999999999999}`,
	`{"name":"fw","disabled":"true"}`,
	`{"name":"fw","disabled":null}`,
	`{"Name":"fw"}`,
	`{"name":"fw","allowed":[{"ipProtocol":"tcp"}]}`,
	`{"name":"fw","allowed":[{"IPProtocol":"tcp","IPProtocol":"udp"}]}`,
	`{"name":"fw","name":"other"}`,
	`{"name":"fw","sourceRanges":["0.0.0.0/0",null]}`,
	`{"name":"fw","sourceRanges":[1]}`,
	`{"name":"fw\u00e9\n","description":"tab\there"}`,
	`{"name":"fw"} x`,
	`{"name":"fw"}  `,
	` {"name":"fw"}`,
	`{"name":"fw",}`,
	`{"name":"fw","logConfig":{"enable":true,"metadata":"INCLUDE_ALL_METADATA"}}`,
	`{"name":"fw","logConfig":{"enable":false}}`,
	`{"name":"fw","logConfig":null}`,
	`{"name":"fw","logConfig":{}}`,
	`{"name":"fw","logConfig":{"enable":"true"}}`,
	`{"name":"fw","logConfig":[]}`,
	`{"name":"fw","logConfig":{"enable":true,"enable":false}}`,
	`{"name":"default","autoCreateSubnetworks":true,"IPv4Range":"10.0.0.0/8","subnetworks":[]}`,
	`{"name":"default","autoCreateSubnetworks":null}`,
	`{"name":"default","autoCreateSubnetworks":false}`,
	`{"name":"default","autoCreateSubnetworks":"false"}`,
	`{"name":"default","ipv4Range":"10.0.0.0/8"}`,
	`{"email":"a@p.iam.gserviceaccount.com","uniqueId":"1","projectId":"p","disabled":false}`,
	`{"name":"projects/p/serviceAccounts/a@p/keys/k","keyType":"USER_MANAGED","validAfterTime":"2025-01-01T00:00:00Z","validBeforeTime":"9999-12-31T23:59:59Z"}`,
	`{"validAfterTime":"2025-01-01T00:00:00.123456Z"}`,
	`{"validAfterTime":"2025-01-01T00:00:00+01:00"}`,
	`{"validAfterTime":"2025-01-01T00:00:00.1234567891234Z"}`,
	`{"validAfterTime":"2025-02-30T00:00:00Z"}`,
	`{"validAfterTime":"2025-01-01T00:00:00\u005a"}`,
	`{"validAfterTime":null,"validBeforeTime":""}`,
	`{"validAfterTime":5}`,
	`{"validAfterTime":{}}`,
	`{"projectId":"p","projectNumber":"123","name":"projects/123","parent":{"type":"folder","id":"1"}}`,
	`{"projectId":"p","projectNumber":123}`,
	`{"projectId":"p","PROJECTID":"q"}`,
	`{"projectıd":"p"}`,
	`{"name":"main","network":"n","region":"r","ipCidrRange":"10.0.0.0/24","purpose":"PRIVATE","privateIpGoogleAccess":true,"enableFlowLogs":false}`,
	`{"name":"s","logConfig":{"enable":true,"aggregationInterval":"INTERVAL_5_SEC","flowSampling":0.5,"metadata":"INCLUDE_ALL_METADATA"}}`,
	`{"name":"s","logConfig":{"flowSampling":1e-1}}`,
	`{"name":"s","logConfig":{"flowSampling":1e999}}`,
	`{"name":"s","logConfig":{"flowSampling":"0.5"}}`,
	`{"name":"s","logConfig":{"flowSampling":-0}}`,
	`{"name":"s","logConfig":null,"enableFlowLogs":null,"privateIpGoogleAccess":null}`,
	`{"name":"vm","zone":"z","status":"RUNNING","canIpForward":true,"networkInterfaces":[{"name":"nic0","network":"n","networkIP":"10.0.0.2","accessConfigs":[{"name":"External NAT","type":"ONE_TO_ONE_NAT","natIP":"34.1.2.3"}],"ipv6AccessConfigs":[{"type":"DIRECT_IPV6","externalIpv6":"2600::1"}]}],"serviceAccounts":[{"email":"1-compute@developer.gserviceaccount.com","scopes":["https://www.googleapis.com/auth/cloud-platform"]}],"metadata":{"fingerprint":"f=","items":[{"key":"enable-oslogin","value":"TRUE"},{"key":"empty"},{"key":"nul","value":null}]},"shieldedInstanceConfig":{"enableSecureBoot":false,"enableVtpm":true,"enableIntegrityMonitoring":true},"labels":{"goog-gke-node":"","env":"prod"}}`,
	`{"name":"vm","networkInterfaces":[],"serviceAccounts":null,"metadata":{},"labels":{}}`,
	`{"name":"vm","networkInterfaces":[null,{"accessConfigs":[null]}]}`,
	`{"name":"vm","labels":{"a":"1","a":"2"}}`,
	`{"name":"vm","labels":{"a":null}}`,
	`{"name":"vm","labels":{"a":1}}`,
	`{"name":"vm","labels":{"a\u00e9":"x\n"}}`,
	`{"name":"vm","labels":{"a":"1",}}`,
	`{"name":"vm","labels":[]}`,
	`{"name":"vm","metadata":{"items":[{"key":"k","value":5}]}}`,
	`{"name":"vm","shieldedInstanceConfig":null,"metadata":null}`,
	`{"name":"vm","serviceAccounts":[{"email":"e","scopes":["a",null]}]}`,
	`{"name":"p","commonInstanceMetadata":{"fingerprint":"f","items":[{"key":"serial-port-enable","value":"true"}]},"defaultServiceAccount":"1-compute@developer.gserviceaccount.com","xpnProjectStatus":"HOST"}`,
}

func TestDecodeDataMatchesReference(t *testing.T) {
	for i, d := range dataEdgeCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { diffData(t, []byte(d)) })
	}
	seen := map[string]int{}
	for _, line := range bytes.Split(synthExport(t, 2000, 13), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		a, err := decodeAssetReference(line)
		if err != nil {
			t.Fatal(err)
		}
		if a.Resource == nil {
			continue
		}
		diffData(t, a.Resource.Data)
		var view any
		switch a.AssetType {
		case TypeFirewall:
			view = new(Firewall)
		case TypeInstance:
			view = new(Instance)
		case TypeSubnetwork:
			view = new(Subnetwork)
		default:
			continue
		}
		if !decodeDataFast(a.Resource.Data, view) {
			t.Fatalf("fast decoder left a synthetic %s to encoding/json: %s", a.AssetType, a.Resource.Data)
		}
		seen[a.AssetType]++
	}
	if seen[TypeFirewall] == 0 || seen[TypeInstance] == 0 || seen[TypeSubnetwork] == 0 {
		t.Fatalf("the synthetic export lacks a type the fast views read: %v", seen)
	}
}

func TestTypedViewsKeepErrors(t *testing.T) {
	a := &Asset{Name: "//compute.googleapis.com/projects/p/global/firewalls/f", AssetType: TypeFirewall,
		Resource: &Resource{Data: []byte(`{"name":"f","priority":"high"}`)}}
	_, err := a.Firewall()
	if err == nil || !strings.Contains(err.Error(), "decoding resource.data of //compute.googleapis.com/projects/p/global/firewalls/f: json: cannot unmarshal string") {
		t.Fatalf("got %v, want encoding/json's error", err)
	}
}

func FuzzDecodeDataMatchesReference(f *testing.F) {
	for _, d := range dataEdgeCases {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) { diffData(t, data) })
}

// TestTypedViewsRepeat: a view decoded twice from the same bytes (two rules read one key)
// comes out equal and independent each time.
func TestTypedViewsRepeat(t *testing.T) {
	key := &Asset{Name: "//iam.googleapis.com/projects/p/serviceAccounts/1/keys/k", AssetType: TypeServiceAccountKey,
		Resource: &Resource{Data: []byte(`{"name":"projects/p/serviceAccounts/a@p/keys/k","keyType":"USER_MANAGED","validAfterTime":"2025-01-01T00:00:00Z"}`)}}
	k1, err1 := key.ServiceAccountKey()
	k1.KeyType = "changed"
	k2, err2 := key.ServiceAccountKey()
	if err1 != nil || err2 != nil || k2.KeyType != "USER_MANAGED" || k1 == k2 {
		t.Fatalf("second decode %+v (%v, %v)", k2, err1, err2)
	}
	netAsset := &Asset{Name: "//compute.googleapis.com/projects/p/global/networks/default", AssetType: TypeNetwork,
		Resource: &Resource{Data: []byte(`{"name":"default","autoCreateSubnetworks":true,"subnetworks":["a","b"]}`)}}
	n1, _ := netAsset.Network()
	n1.Subnetworks[0] = "changed"
	*n1.AutoCreateSubnetworks = false
	n2, err := netAsset.Network()
	want := &Network{}
	if err := json.Unmarshal(netAsset.Resource.Data, want); err != nil {
		t.Fatal(err)
	}
	if err != nil || !reflect.DeepEqual(n2, want) {
		t.Fatalf("second decode %+v, want %+v", n2, want)
	}
	// Other bytes, or another view of the same bytes, are decoded afresh.
	netAsset.Resource.Data = []byte(`{"name":"default","autoCreateSubnetworks":false}`)
	if n3, _ := netAsset.Network(); n3.Subnetworks != nil || *n3.AutoCreateSubnetworks {
		t.Fatalf("decoded %+v from other bytes", n3)
	}
}

func FuzzParseTimeZ(f *testing.F) {
	for _, s := range []string{"2026-11-01T10:00:00Z", "2026-11-01T10:00:00.123456789Z", "2024-02-29T23:59:59.5Z",
		"2023-02-29T00:00:00Z", "2026-11-01T24:00:00Z", "2026-11-01T10:00:00.Z", "2026-11-01T10:00:00.1234567891Z",
		"2026-11-01t10:00:00Z", "0000-01-01T00:00:00Z", "2026-11-01T10:00:00+01:00"} {
		f.Add(s, "2026-11-01T09:59:59Z")
	}
	f.Fuzz(func(t *testing.T, s, before string) {
		want, err := time.Parse(time.RFC3339Nano, s)
		if got, ok := parseTimeZ([]byte(s)); ok && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Fatalf("parseTimeZ(%q) = %v, time.Parse: %v, %v", s, got, want, err)
		}
		d := &fastDecoder{}
		d.timeZ([]byte(before))
		if got, ok := d.timeZ([]byte(s)); ok && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Fatalf("timeZ(%q) after %q = %v, time.Parse: %v, %v", s, before, got, want, err)
		}
	})
}

// TestTypedViewsConcurrent: the typed views may be read from several goroutines at once.
func TestTypedViewsConcurrent(t *testing.T) {
	var assets []*Asset
	for _, line := range bytes.Split(bytes.TrimSpace(synthExport(t, 400, 17)), []byte("\n")) {
		a, err := decodeAssetReference(line)
		if err != nil {
			t.Fatal(err)
		}
		if a.AssetType == TypeFirewall || a.AssetType == TypeServiceAccountKey || a.AssetType == TypeNetwork {
			assets = append(assets, a)
		}
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range assets {
				a := assets[(i+g*37)%len(assets)]
				var got, want any
				var err error
				switch a.AssetType {
				case TypeFirewall:
					got, err = a.Firewall()
					want = new(Firewall)
				case TypeNetwork:
					got, err = a.Network()
					want = new(Network)
				default:
					got, err = a.ServiceAccountKey()
					want = new(ServiceAccountKey)
				}
				if err == nil {
					err = json.Unmarshal(a.Resource.Data, want)
				}
				if err == nil && !reflect.DeepEqual(got, want) {
					err = fmt.Errorf("%s: got %+v, want %+v", a.Name, got, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestDecodeKeepsOnlyTheDataAsked checks DecodeOptions.DataTypes: the data of the listed
// types is kept as it was, that of others is left out, and malformed data is an error
// whatever the type, with the line it is on.
func TestDecodeKeepsOnlyTheDataAsked(t *testing.T) {
	const export = `{"name":"//compute.googleapis.com/projects/p/global/firewalls/a","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":"a","sourceRanges":["0.0.0.0/0"]}}}
{"name":"//compute.googleapis.com/projects/p/zones/z/instances/i","asset_type":"compute.googleapis.com/Instance","resource":{"data":{"name":"i","labels":{"x":"y"}}}}
{"name":"//compute.googleapis.com/projects/p/global/networks/n","resource":{"data":{"name":"n"}},"asset_type":"compute.googleapis.com/Network"}
`
	var got []*Asset
	_, err := DecodeCAI(t.Context(), strings.NewReader(export), DecodeOptions{Name: "x.json", DataTypes: []string{TypeFirewall}},
		func(a *Asset) error { got = append(got, a); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("decoded %d assets, want 3", len(got))
	}
	if string(got[0].Resource.Data) != `{"name":"a","sourceRanges":["0.0.0.0/0"]}` {
		t.Errorf("firewall data %q, want it kept as written", got[0].Resource.Data)
	}
	if got[1].Resource == nil || got[1].Resource.Data != nil {
		t.Errorf("instance data %q, want it left out", got[1].Resource.Data)
	}
	// The type comes after the data: it cannot be left out.
	if string(got[2].Resource.Data) != `{"name":"n"}` {
		t.Errorf("network data %q, want it kept (its type was not known when it was read)", got[2].Resource.Data)
	}

	bad := strings.Replace(export, `"labels":{"x":"y"}`, `"labels":{"x":y}`, 1)
	_, err = DecodeCAI(t.Context(), strings.NewReader(bad), DecodeOptions{Name: "x.json", DataTypes: []string{TypeFirewall}},
		func(*Asset) error { return nil })
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 2 || !strings.Contains(err.Error(), "x.json") {
		t.Errorf("malformed data of a type whose data is left out: got %v, want an error naming x.json line 2", err)
	}
}

// The views several rules read (firewalls, instances, subnetworks) are read with the
// asset as the export is decoded, and the typed accessors hand that view on; an asset
// given other data gets a view of its new data.
func TestViewsReadWithTheAsset(t *testing.T) {
	got := runDecode(decodeCAI, synthExport(t, 200, 3), DecodeOptions{})
	if got.err != nil {
		t.Fatal(got.err)
	}
	read := map[string]int{}
	for _, a := range got.assets {
		if a.Resource == nil || a.Resource.view == nil {
			continue
		}
		read[a.AssetType]++
		v1, v2 := sharedViewOf(t, a), sharedViewOf(t, a)
		if v1 != a.Resource.view || v2 != v1 {
			t.Fatalf("%s: the accessor did not hand on the view read with the asset", a.Name)
		}
	}
	for _, typ := range []string{TypeFirewall, TypeInstance, TypeSubnetwork} {
		if read[typ] == 0 {
			t.Errorf("no %s was read with its view: %v", typ, read)
		}
	}

	// Other data: the view read with the old data no longer stands for it.
	for _, a := range got.assets {
		if a.AssetType != TypeFirewall || a.Resource.view == nil {
			continue
		}
		old := a.Resource.view.(*Firewall)
		a.Resource.Data = bytes.Replace(a.Resource.Data, []byte(`"name":"`+old.Name+`"`), []byte(`"name":"renamed"`), 1)
		fw, err := a.Firewall()
		if err != nil || fw.Name != "renamed" || old.Name == "renamed" {
			t.Fatalf("after new data: %+v, %v; want the firewall renamed", fw, err)
		}
		break
	}
}

// With ViewsOnly, an asset whose shared view was read comes with the view and without its
// data; the accessor hands on the view, which is what encoding/json makes of the data a
// whole decode keeps. Other assets keep their data.
func TestViewsOnlyKeepsTheViewsAlone(t *testing.T) {
	in := synthExport(t, 300, 7)
	whole := runDecode(decodeCAI, in, DecodeOptions{})
	views := runDecode(decodeCAI, in, DecodeOptions{ViewsOnly: true})
	if whole.err != nil || views.err != nil || len(whole.assets) != len(views.assets) {
		t.Fatalf("decoding: %v, %v; %d and %d assets", whole.err, views.err, len(whole.assets), len(views.assets))
	}
	dropped := 0
	for i, a := range views.assets {
		w := whole.assets[i]
		if a.Resource == nil || a.Resource.view == nil {
			if !reflect.DeepEqual(withoutView(a), withoutView(w)) {
				t.Fatalf("%s: decoded %+v without a view, want %+v", a.Name, a, w)
			}
			continue
		}
		dropped++
		if a.Resource.Data != nil {
			t.Fatalf("%s: kept %d bytes of data beside its view", a.Name, len(a.Resource.Data))
		}
		w.Resource.view, w.Resource.viewSrc = nil, nil // read from the data again below
		got, want := sharedViewOf(t, a), sharedViewOf(t, w)
		if got != a.Resource.view || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the accessor gave %+v, the data reads %+v", a.Name, got, want)
		}
	}
	if dropped == 0 {
		t.Fatal("no asset was decoded as a view alone")
	}
}

// sharedViewOf returns what the typed accessor of a's type gives, failing the test for a
// type the decoder reads no shared view of, or when the accessor fails.
func sharedViewOf(t *testing.T, a *Asset) any {
	t.Helper()
	var (
		v   any
		err error
	)
	switch a.AssetType {
	case TypeFirewall:
		v, err = a.Firewall()
	case TypeInstance:
		v, err = a.Instance()
	case TypeSubnetwork:
		v, err = a.Subnetwork()
	case TypeComputeProject:
		v, err = a.ComputeProject()
	default:
		t.Fatalf("%s: a %s was given a view", a.Name, a.AssetType)
	}
	if err != nil {
		t.Fatalf("%s: %v", a.Name, err)
	}
	return v
}

// A view's name read with its asset is the data's name, whether or not the asset's name
// ends with it (the decoder shares the asset name's bytes when it does), and whichever of
// the two comes first. The metadata values and labels read through the interner are the
// data's too.
func TestViewNamesAndValuesReadWithTheAsset(t *testing.T) {
	const fw = `"asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":%q,"network":"n"}}`
	const vm = `"asset_type":"compute.googleapis.com/Instance","resource":{"data":{"name":"vm","metadata":{"items":[{"key":"enable-oslogin","value":"TRUE"},{"key":"k","value":%q}]},"labels":{"env":"prod","team":%q}}}`
	long := strings.Repeat("x", shortMaxLen+1)
	lines := []struct{ line, want string }{
		{`{"name":"//compute.googleapis.com/projects/p/global/firewalls/allow-ssh",` + fmt.Sprintf(fw, "allow-ssh") + `}`, "allow-ssh"},
		{`{"name":"//compute.googleapis.com/projects/p/global/firewalls/other",` + fmt.Sprintf(fw, "renamed") + `}`, "renamed"},
		{`{"name":"//compute.googleapis.com/projects/p/global/firewalls/xssh",` + fmt.Sprintf(fw, "ssh") + `}`, "ssh"},
		{`{` + fmt.Sprintf(fw, "first") + `,"name":"//compute.googleapis.com/projects/p/global/firewalls/first"}`, "first"},
		{`{"name":"//compute.googleapis.com/projects/p/global/firewalls/esc\u00e9",` + fmt.Sprintf(fw, "esc\u00e9") + `}`, "esc\u00e9"},
	}
	var in strings.Builder
	for _, l := range lines {
		in.WriteString(l.line + "\n")
	}
	for _, v := range []string{"short", long} {
		in.WriteString(`{"name":"//compute.googleapis.com/projects/p/zones/z/instances/vm",` + fmt.Sprintf(vm, v, v) + "}\n")
	}
	got := runDecode(decodeCAI, []byte(in.String()), DecodeOptions{ViewsOnly: true})
	if got.err != nil || len(got.assets) != len(lines)+2 {
		t.Fatalf("decoding: %v, %d assets", got.err, len(got.assets))
	}
	for i, l := range lines {
		f, err := got.assets[i].Firewall()
		if err != nil || f.Name != l.want {
			t.Errorf("line %d: firewall %+v, %v; want the name %q", i+1, f, err, l.want)
		}
	}
	for i, v := range []string{"short", long} {
		vmv, err := got.assets[len(lines)+i].Instance()
		if err != nil {
			t.Fatal(err)
		}
		osLogin, _ := vmv.Metadata.Get("enable-oslogin")
		k, _ := vmv.Metadata.Get("k")
		if vmv.Name != "vm" || osLogin != "TRUE" || k != v || vmv.Labels["env"] != "prod" || vmv.Labels["team"] != v {
			t.Errorf("instance %d: %+v; want its name, metadata and labels as written", i, vmv)
		}
	}
}
