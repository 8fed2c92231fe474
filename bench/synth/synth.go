// Package synth writes synthetic Cloud Asset Inventory exports for benchmarks: JSON lines in
// the shape `gcloud asset export` writes (snake_case keys), about 1.5 KB per asset on
// average, deterministic for a seed.
//
// The mix, per 100 assets (average line size in parentheses):
//
//   - 30 firewalls (1.3 KB), logging on; 1 in 10 is open to 0.0.0.0/0, on one of 22, 443,
//     8080-8090, 3389 or 5432, with logging off; one is the project's egress deny-all;
//   - 25 instances (2.5 KB), with metadata (OS Login on), disks, tags, labels, Shielded VM
//     and a custom service account;
//   - 19 subnetworks (1.4 KB), flow logs and Private Google Access on;
//   - 1 network (1.1 KB), vpc-main; 1 in 20 is named default instead (and then lacks the
//     egress deny-all, which names vpc-main);
//   - 10 service accounts (1.0 KB);
//   - 10 service account keys (0.9 KB); half user-managed, a third of those older than 90
//     days;
//   - 5 project IAM policies (1.2 KB, IAM-policy-only lines) with Data Access audit logs
//     for allServices; in 1 in 5 a service account holds roles/editor.
//
// Projects hold 100 assets each and folders 100 projects. With the default rule set and a
// clock of 2026-12-01, about 13% of assets drift: 100,000 assets give 13,178 findings
// (5,018 sa-user-managed-key, 2,869 firewall-open-ingress, 2,869 firewall-logging-disabled,
// 1,634 sa-key-not-rotated, 688 sa-admin-role, 50 network-default, 50
// egress-deny-not-set). Options.NoDrift writes the same mix, in the same sizes, without
// any of that drift: no finding at all.
package synth

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// Options vary the export.
type Options struct {
	// NoDrift leaves out the drift: firewalls keep private sources, no network is named
	// default, keys are system-managed and service accounts hold no admin role.
	NoDrift bool
}

// Write writes n assets to w, deterministically for a seed.
func Write(w io.Writer, n int, seed uint64) error { return WriteOptions(w, n, seed, Options{}) }

// WriteOptions writes n assets to w, deterministically for a seed and options.
func WriteOptions(w io.Writer, n int, seed uint64, opts Options) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i < n; i++ {
		if err := writeAsset(bw, rng, i, opts); err != nil {
			return fmt.Errorf("writing synthetic asset %d: %w", i, err)
		}
	}
	return bw.Flush()
}

const cb = "https://www.googleapis.com/compute/v1/projects/"

func writeAsset(w *bufio.Writer, rng *rand.Rand, i int, opts Options) error {
	p := fmt.Sprintf("synth-project-%05d", i/100)
	num := fmt.Sprintf("%012d", 500000000000+i/100)
	anc := fmt.Sprintf(`["projects/%s","folders/%d","organizations/123456789012"]`, num, 100+i/10000)
	head := func(name, typ, discovery, location string) string {
		return fmt.Sprintf(`{"name":"%s","asset_type":"%s","ancestors":%s,"update_time":"2026-11-20T09:%02d:%02d.%06dZ","resource":{"version":"v1","discovery_document_uri":"https://www.googleapis.com/discovery/v1/apis/compute/v1/rest","discovery_name":"%s","parent":"//cloudresourcemanager.googleapis.com/projects/%s","location":"%s","data":`,
			name, typ, anc, i/60%60, i%60, rng.IntN(1000000), discovery, num, location)
	}
	var line string
	switch k := i % 100; {
	case k < 30: // firewalls
		name := fmt.Sprintf("fw-%d", i)
		src := fmt.Sprintf(`"10.%d.0.0/16","192.168.%d.0/24"`, rng.IntN(256), rng.IntN(256))
		logs := "true"
		if rng.IntN(10) == 0 && !opts.NoDrift {
			src, logs = `"0.0.0.0/0"`, "false"
		}
		if k == 25 { // the project's egress deny-all, at the lowest priority
			line = head("//compute.googleapis.com/projects/"+p+"/global/firewalls/"+name, "compute.googleapis.com/Firewall", "Firewall", "global") +
				fmt.Sprintf(`{"kind":"compute#firewall","id":"%d","creationTimestamp":"2026-03-02T10:11:12.000-08:00","name":"%s","description":"baseline: deny all egress not allowed by a higher-priority rule (ticket NETSEC-1200)","network":"%s%s/global/networks/vpc-main","priority":65535,"destinationRanges":["0.0.0.0/0"],"denied":[{"IPProtocol":"all"}],"direction":"EGRESS","logConfig":{"enable":true,"metadata":"EXCLUDE_ALL_METADATA"},"disabled":false,"selfLink":"%s%s/global/firewalls/%s"}}}`,
					rng.Uint64()>>1, name, cb, p, cb, p, name)
			break
		}
		ports := []string{`"22"`, `"443"`, `"8080-8090"`, `"3389"`, `"5432"`}[rng.IntN(5)]
		line = head("//compute.googleapis.com/projects/"+p+"/global/firewalls/"+name, "compute.googleapis.com/Firewall", "Firewall", "global") +
			fmt.Sprintf(`{"kind":"compute#firewall","id":"%d","creationTimestamp":"2026-03-02T10:11:12.000-08:00","name":"%s","description":"synthetic rule for benchmark traffic between tiers of the application, owned by the network security team (ticket NETSEC-1234)","sourceServiceAccounts":null,"network":"%s%s/global/networks/vpc-main","priority":%d,"sourceRanges":[%s],"targetTags":["app-tier","web-tier"],"allowed":[{"IPProtocol":"tcp","ports":[%s]},{"IPProtocol":"udp","ports":["53"]}],"direction":"INGRESS","logConfig":{"enable":%s},"disabled":false,"selfLink":"%s%s/global/firewalls/%s"}}}`,
				rng.Uint64()>>1, name, cb, p, 1000+rng.IntN(1000), src, ports, logs, cb, p, name)
	case k < 55: // instances
		name := fmt.Sprintf("vm-%d", i)
		zone := []string{"europe-west1-b", "us-central1-a", "asia-east1-c"}[rng.IntN(3)]
		line = head("//compute.googleapis.com/projects/"+p+"/zones/"+zone+"/instances/"+name, "compute.googleapis.com/Instance", "Instance", zone) +
			fmt.Sprintf(`{"kind":"compute#instance","id":"%d","creationTimestamp":"2026-02-01T08:00:00.000-08:00","name":"%s","machineType":"%s%s/zones/%s/machineTypes/e2-standard-4","status":"RUNNING","zone":"%s%s/zones/%s","canIpForward":false,"networkInterfaces":[{"kind":"compute#networkInterface","network":"%s%s/global/networks/vpc-main","subnetwork":"%s%s/regions/%s/subnetworks/main","networkIP":"10.0.%d.%d","name":"nic0","fingerprint":"abcdEFGH123="}],"tags":{"items":["app-tier","web-tier","allow-health-checks"],"fingerprint":"Zx9Yw8Vu7="},"disks":[{"kind":"compute#attachedDisk","type":"PERSISTENT","mode":"READ_WRITE","source":"%s%s/zones/%s/disks/%s","deviceName":"persistent-disk-0","index":0,"boot":true,"autoDelete":true,"diskSizeGb":"50"}],"serviceAccounts":[{"email":"app@%s.iam.gserviceaccount.com","scopes":["https://www.googleapis.com/auth/cloud-platform"]}],"metadata":{"kind":"compute#metadata","fingerprint":"q1w2e3r4t5y=","items":[{"key":"startup-script","value":"#!/bin/bash\\nset -euo pipefail\\napt-get update \\u0026\\u0026 apt-get install -y nginx\\nsystemctl enable --now nginx\\n"},{"key":"enable-oslogin","value":"TRUE"}]},"shieldedInstanceConfig":{"enableSecureBoot":true,"enableVtpm":true,"enableIntegrityMonitoring":true},"scheduling":{"onHostMaintenance":"MIGRATE","automaticRestart":true,"preemptible":false,"provisioningModel":"STANDARD"},"labels":{"env":"prod","team":"payments","cost-center":"cc-4711"},"selfLink":"%s%s/zones/%s/instances/%s"}}}`,
				rng.Uint64()>>1, name, cb, p, zone, cb, p, zone, cb, p, cb, p, zone[:len(zone)-2], rng.IntN(256), rng.IntN(256), cb, p, zone, name, p, cb, p, zone, name)
	case k < 75 && k != 70: // subnetworks
		region := []string{"europe-west1", "us-central1", "asia-east1"}[rng.IntN(3)]
		name := fmt.Sprintf("subnet-%d", i)
		line = head("//compute.googleapis.com/projects/"+p+"/regions/"+region+"/subnetworks/"+name, "compute.googleapis.com/Subnetwork", "Subnetwork", region) +
			fmt.Sprintf(`{"kind":"compute#subnetwork","id":"%d","creationTimestamp":"2025-06-01T08:00:00.000-07:00","name":"%s","network":"%s%s/global/networks/vpc-main","ipCidrRange":"10.%d.%d.0/24","gatewayAddress":"10.0.0.1","region":"%s%s/regions/%s","privateIpGoogleAccess":true,"secondaryIpRanges":[{"rangeName":"gke-pods","ipCidrRange":"10.64.0.0/14"},{"rangeName":"gke-services","ipCidrRange":"10.68.0.0/20"}],"logConfig":{"enable":true,"aggregationInterval":"INTERVAL_5_SEC","flowSampling":0.5,"metadata":"INCLUDE_ALL_METADATA"},"purpose":"PRIVATE","stackType":"IPV4_ONLY","fingerprint":"xYz0123abc=","selfLink":"%s%s/regions/%s/subnetworks/%s"}}}`,
				rng.Uint64()>>1, name, cb, p, rng.IntN(256), rng.IntN(256), cb, p, region, cb, p, region, name)
	case k == 70: // the project's network
		name := "vpc-main"
		if rng.IntN(20) == 0 && !opts.NoDrift {
			name = "default"
		}
		line = head("//compute.googleapis.com/projects/"+p+"/global/networks/"+name, "compute.googleapis.com/Network", "Network", "global") +
			fmt.Sprintf(`{"kind":"compute#network","id":"%d","creationTimestamp":"2025-06-01T08:00:00.000-07:00","name":"%s","autoCreateSubnetworks":false,"subnetworks":["%s%s/regions/europe-west1/subnetworks/main","%s%s/regions/us-central1/subnetworks/main"],"routingConfig":{"routingMode":"GLOBAL"},"mtu":1460,"networkFirewallPolicyEnforcementOrder":"AFTER_CLASSIC_FIREWALL","selfLink":"%s%s/global/networks/%s"}}}`,
				rng.Uint64()>>1, name, cb, p, cb, p, cb, p, name)
	case k < 85: // service accounts
		uid := fmt.Sprintf("1%020d", i)
		line = strings.Replace(head("//iam.googleapis.com/projects/"+p+"/serviceAccounts/"+uid, "iam.googleapis.com/ServiceAccount", "ServiceAccount", "global"), "apis/compute/", "apis/iam/", 1) +
			fmt.Sprintf(`{"name":"projects/%s/serviceAccounts/sa-%d@%s.iam.gserviceaccount.com","projectId":"%s","uniqueId":"%s","email":"sa-%d@%s.iam.gserviceaccount.com","displayName":"Synthetic workload identity %d","description":"Runs the synthetic workload of the benchmark organisation; rotated by the platform team","oauth2ClientId":"%s","etag":"MDEwMjE5MjA=","disabled":false}}}`,
				p, i, p, p, uid, i, p, i, uid)
	case k < 95: // keys
		ktype, after := "SYSTEM_MANAGED", "2026-11-01T00:00:00Z"
		if rng.IntN(2) == 0 && !opts.NoDrift {
			ktype = "USER_MANAGED"
			if rng.IntN(3) == 0 {
				after = "2025-01-01T00:00:00Z"
			}
		}
		keyID := fmt.Sprintf("%040x", rng.Uint64())
		line = strings.Replace(head(fmt.Sprintf("//iam.googleapis.com/projects/%s/serviceAccounts/1%020d/keys/%s", p, i, keyID), "iam.googleapis.com/ServiceAccountKey", "ServiceAccountKey", "global"), "apis/compute/", "apis/iam/", 1) +
			fmt.Sprintf(`{"name":"projects/%s/serviceAccounts/sa-%d@%s.iam.gserviceaccount.com/keys/%s","validAfterTime":"%s","validBeforeTime":"9999-12-31T23:59:59Z","keyAlgorithm":"KEY_ALG_RSA_2048","keyOrigin":"GOOGLE_PROVIDED","keyType":"%s"}}}`,
				p, i, p, keyID, after, ktype)
	default: // project IAM policies
		editorRole, editor := "roles/compute.admin", "group:devs@acme.example"
		if rng.IntN(5) == 0 && !opts.NoDrift {
			editorRole, editor = "roles/editor", fmt.Sprintf("serviceAccount:deployer@%s.iam.gserviceaccount.com", p)
		}
		line = fmt.Sprintf(`{"name":"//cloudresourcemanager.googleapis.com/projects/%s","asset_type":"cloudresourcemanager.googleapis.com/Project","ancestors":%s,"update_time":"2026-11-20T09:00:00Z","iam_policy":{"version":3,"etag":"BwYx%04dAAA=","audit_configs":[{"service":"allServices","audit_log_configs":[{"log_type":"ADMIN_READ"},{"log_type":"DATA_READ"},{"log_type":"DATA_WRITE"}]}],"bindings":[{"role":"roles/resourcemanager.projectIamAdmin","members":["group:owners@acme.example"]},{"role":"%s","members":["%s"]},{"role":"roles/monitoring.viewer","members":["group:sre@acme.example","group:security@acme.example","serviceAccount:monitoring@%s.iam.gserviceaccount.com"]},{"role":"roles/logging.logWriter","members":["serviceAccount:app@%s.iam.gserviceaccount.com","serviceAccount:batch@%s.iam.gserviceaccount.com"]},{"role":"roles/monitoring.metricWriter","members":["serviceAccount:app@%s.iam.gserviceaccount.com"]},{"role":"roles/cloudsql.client","members":["serviceAccount:app@%s.iam.gserviceaccount.com"]},{"role":"roles/storage.objectViewer","members":["serviceAccount:app@%s.iam.gserviceaccount.com","group:analysts@acme.example"]}]}}`,
			num, anc, i%10000, editorRole, editor, p, p, p, p, p, p)
	}
	if _, err := w.WriteString(line); err != nil {
		return err
	}
	return w.WriteByte('\n')
}
