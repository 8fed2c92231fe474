package sandbox

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// Shape of the synthetic organisation.
const (
	syntheticOrg             = "organizations/900000000001"
	syntheticProjectsPerTeam = 25 // projects per team folder
	syntheticTeamsPerDept    = 10 // team folders per department folder
	syntheticFirstNumber     = 700000000000
	syntheticFirstFolder     = 810000000000
	syntheticCompute         = "https://www.googleapis.com/compute/v1/projects/"
)

// SyntheticScenario builds an organisation of n projects for load tests, the same for the
// same seed. The organisation holds department folders, each holding up to 10 team folders
// of up to 25 projects; every node has an IAM policy. A project is named synth-pNNNNN
// (numbered from 0) and holds what a typical workload project does: an IAM policy of five or
// so bindings, its compute settings (common instance metadata, OS Login off in 1 project of
// 7), 1 or 2 networks (a default network in 1 project of 5), 1 to 3 subnetworks, 2 to 5
// firewalls (1 project in 10 opens SSH to the internet), 0 to 3 instances, and 1 to 3
// service accounts with 0 to 2 keys each, mostly user-managed.
func SyntheticScenario(n int, seed int64) *Scenario {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	g := &synth{rng: rng, at: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	g.node(syntheticOrg, "", []string{syntheticOrg}, map[string]any{
		"name": syntheticOrg, "displayName": "synthetic.example", "directoryCustomerId": "C0synth01", "lifecycleState": "ACTIVE",
	})
	teams := (n + syntheticProjectsPerTeam - 1) / syntheticProjectsPerTeam
	for t := range teams {
		dept := fmt.Sprintf("folders/%d", syntheticFirstFolder+t/syntheticTeamsPerDept)
		if t%syntheticTeamsPerDept == 0 {
			g.node(dept, syntheticOrg, []string{dept, syntheticOrg}, map[string]any{
				"name": dept, "parent": syntheticOrg, "displayName": fmt.Sprintf("dept-%d", t/syntheticTeamsPerDept), "lifecycleState": "ACTIVE",
			})
		}
		team := fmt.Sprintf("folders/%d", syntheticFirstFolder+500000+t)
		g.node(team, dept, []string{team, dept, syntheticOrg}, map[string]any{
			"name": team, "parent": dept, "displayName": fmt.Sprintf("team-%d", t), "lifecycleState": "ACTIVE",
		})
		for i := t * syntheticProjectsPerTeam; i < min(n, (t+1)*syntheticProjectsPerTeam); i++ {
			g.project(i, team, []string{team, dept, syntheticOrg})
		}
	}
	return &Scenario{Assets: g.assets}
}

type synth struct {
	rng    *rand.Rand
	at     time.Time
	assets []*inventory.Asset
}

func (g *synth) add(name, assetType string, ancestors []string, r *inventory.Resource, data map[string]any, policy *inventory.Policy) {
	a := &inventory.Asset{Name: name, AssetType: assetType, Ancestors: ancestors, UpdateTime: g.at, IAMPolicy: policy}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			// Maps of strings, numbers and slices of them always encode.
			panic(fmt.Sprintf("encoding synthetic asset %s: %v", name, err))
		}
		a.Resource = r
		a.Resource.Data = b
	}
	g.assets = append(g.assets, a)
}

// node adds a folder or the organisation, with an IAM policy.
func (g *synth) node(name, parent string, ancestors []string, data map[string]any) {
	t := inventory.TypeFolder
	if parent == "" {
		t = inventory.TypeOrganization
	}
	policy := &inventory.Policy{Version: 1, Bindings: []inventory.Binding{
		{Role: "roles/resourcemanager.folderViewer", Members: []string{"group:security@synthetic.example"}},
		{Role: "roles/browser", Members: []string{"group:everyone@synthetic.example"}},
	}}
	g.add(crmPrefix+name, t, ancestors, &inventory.Resource{Version: "v1"}, data, policy)
}

// project adds project i under folder, and what it holds.
func (g *synth) project(i int, folder string, above []string) {
	id := fmt.Sprintf("synth-p%05d", i)
	number := fmt.Sprintf("%d", syntheticFirstNumber+i)
	anc := append([]string{"projects/" + number}, above...)
	rng := g.rng
	regions := []string{"europe-west1", "us-central1", "asia-east1"}
	ports := []string{"22", "443", "8080-8090", "3389", "5432"}
	editor := "group:devs@synthetic.example"
	if rng.IntN(5) == 0 {
		editor = "serviceAccount:deployer@" + id + ".iam.gserviceaccount.com"
	}
	policy := &inventory.Policy{Version: 1, Bindings: []inventory.Binding{
		{Role: "roles/owner", Members: []string{"group:owners@synthetic.example"}},
		{Role: "roles/editor", Members: []string{editor}},
		{Role: "roles/viewer", Members: []string{"group:sre@synthetic.example", "group:security@synthetic.example"}},
		{Role: "roles/logging.logWriter", Members: []string{"serviceAccount:app@" + id + ".iam.gserviceaccount.com"}},
		{Role: "roles/monitoring.metricWriter", Members: []string{"serviceAccount:app@" + id + ".iam.gserviceaccount.com"}},
	}}
	g.add(crmPrefix+"projects/"+number, inventory.TypeProject, anc, &inventory.Resource{Version: "v1"}, map[string]any{
		"projectId": id, "projectNumber": number, "name": "Synthetic project " + fmt.Sprint(i), "lifecycleState": "ACTIVE",
		"parent": map[string]string{"type": "folder", "id": folder[len("folders/"):]}, "labels": map[string]string{"env": []string{"prod", "dev", "test"}[rng.IntN(3)]},
	}, policy)

	parent := crmPrefix + "projects/" + number
	// The project's compute settings: OS Login on but in 1 project of 7, serial port access
	// on in 1 of 13. Drawn from i, not rng, so that the rest of the scenario is as before.
	items := []map[string]string{{"key": "enable-oslogin", "value": "TRUE"}}
	if i%7 == 3 {
		items[0]["value"] = "FALSE"
	}
	if i%13 == 5 {
		items = append(items, map[string]string{"key": "serial-port-enable", "value": "true"})
	}
	g.add(computePrefix+"projects/"+id, inventory.TypeComputeProject, anc,
		&inventory.Resource{Version: "v1", DiscoveryName: "Project", Parent: parent, Location: "global"}, map[string]any{
			"name": id, "commonInstanceMetadata": map[string]any{"items": items},
			"defaultServiceAccount": number + "-compute@developer.gserviceaccount.com", "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
		}, nil)
	compute := func(assetType, scope, plural, name, location string, data map[string]any) {
		col, _ := collectionOf(assetType)
		g.add(computePrefix+"projects/"+id+"/"+scope+"/"+plural+"/"+name, assetType, anc,
			&inventory.Resource{Version: "v1", DiscoveryName: col.discovery, Parent: parent, Location: location}, data, nil)
	}
	network := syntheticCompute + id + "/global/networks/vpc-main"
	compute(inventory.TypeNetwork, "global", "networks", "vpc-main", "global", map[string]any{
		"name": "vpc-main", "autoCreateSubnetworks": false, "routingConfig": map[string]string{"routingMode": "GLOBAL"}, "mtu": 1460,
	})
	if rng.IntN(5) == 0 {
		compute(inventory.TypeNetwork, "global", "networks", "default", "global", map[string]any{"name": "default", "autoCreateSubnetworks": true})
	}
	for s := range 1 + rng.IntN(3) {
		region := regions[s]
		compute(inventory.TypeSubnetwork, "regions/"+region, "subnetworks", "main-"+region, region, map[string]any{
			"name": "main-" + region, "network": network, "ipCidrRange": fmt.Sprintf("10.%d.%d.0/24", s, rng.IntN(256)),
			"privateIpGoogleAccess": rng.IntN(2) == 0, "logConfig": map[string]any{"enable": rng.IntN(2) == 0},
		})
	}
	for f := range 2 + rng.IntN(4) {
		src := []string{fmt.Sprintf("10.%d.0.0/16", rng.IntN(256))}
		port := ports[rng.IntN(len(ports))]
		if f == 0 && rng.IntN(10) == 0 {
			src, port = []string{"0.0.0.0/0"}, "22"
		}
		name := fmt.Sprintf("fw-%d", f)
		compute(inventory.TypeFirewall, "global", "firewalls", name, "global", map[string]any{
			"name": name, "network": network, "direction": "INGRESS", "priority": 1000 + rng.IntN(1000), "sourceRanges": src,
			"allowed": []map[string]any{{"IPProtocol": "tcp", "ports": []string{port}}}, "targetTags": []string{"app-tier"},
		})
	}
	for v := range rng.IntN(4) {
		zone := regions[rng.IntN(len(regions))] + "-b"
		name := fmt.Sprintf("vm-%d", v)
		compute(inventory.TypeInstance, "zones/"+zone, "instances", name, zone, map[string]any{
			"name": name, "status": "RUNNING", "machineType": syntheticCompute + id + "/zones/" + zone + "/machineTypes/e2-standard-4",
			"networkInterfaces": []map[string]any{{"network": network, "networkIP": fmt.Sprintf("10.0.%d.%d", rng.IntN(256), 2+rng.IntN(250))}},
			"serviceAccounts":   []map[string]any{{"email": "app@" + id + ".iam.gserviceaccount.com", "scopes": []string{"https://www.googleapis.com/auth/cloud-platform"}}},
		})
	}
	for a := range 1 + rng.IntN(3) {
		account := []string{"app", "deployer", "batch"}[a]
		email := account + "@" + id + ".iam.gserviceaccount.com"
		uid := fmt.Sprintf("1%08d%02d", i, a)
		saName := iamPrefix + "projects/" + id + "/serviceAccounts/" + uid
		g.add(saName, inventory.TypeServiceAccount, anc, &inventory.Resource{Version: "v1", DiscoveryName: "ServiceAccount", Parent: parent}, map[string]any{
			"email": email, "uniqueId": uid, "projectId": id, "displayName": account,
		}, nil)
		for k := range rng.IntN(3) {
			keyType, after := "USER_MANAGED", g.at.AddDate(0, -rng.IntN(24), 0)
			if rng.IntN(4) == 0 {
				keyType = "SYSTEM_MANAGED"
			}
			keyID := fmt.Sprintf("%016x%02d", rng.Uint64(), k)
			g.add(saName+"/keys/"+keyID, inventory.TypeServiceAccountKey, anc,
				&inventory.Resource{Version: "v1", DiscoveryName: "ServiceAccountKey", Parent: parent}, map[string]any{
					"keyType": keyType, "keyOrigin": "GOOGLE_PROVIDED", "keyAlgorithm": "KEY_ALG_RSA_2048",
					"validAfterTime": after.Format(time.RFC3339), "validBeforeTime": "9999-12-31T23:59:59Z",
				}, nil)
		}
	}
}
