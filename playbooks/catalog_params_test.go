package playbooks

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// flowLogsDoc is a team playbook running subnetwork.enableFlowLogs with params (a YAML
// flow mapping) for the flow logs rule; its params are on line 10.
func flowLogsDoc(params string) string {
	return `apiVersion: zerodrift.dev/v1
kind: Playbook
metadata:
  name: team-flow
  title: Team flow logs
spec:
  fixes:
    - rule: subnet-flow-logs-disabled
  actions:
    - action: subnetwork.enableFlowLogs
      params: ` + params + `
  risk: low
  rank: 5
`
}

// Number parameters take YAML integers and floats within their range, and nothing else.
func TestNumberParams(t *testing.T) {
	for params, want := range map[string]float64{"{flowSampling: 0.25}": 0.25, "{flowSampling: 1}": 1, "{flowSampling: 1.0}": 1, "{flowSampling: 5e-1}": 0.5} {
		pbs, err := Load(fstest.MapFS{"team/x.yaml": {Data: []byte(flowLogsDoc(params))}}, "team")
		if err != nil {
			t.Errorf("%s: %v", params, err)
			continue
		}
		if got, ok := pbs[0].Spec.Actions[0].Params["flowSampling"].(float64); !ok || got != want {
			t.Errorf("%s: flowSampling = %#v, want %v", params, pbs[0].Spec.Actions[0].Params["flowSampling"], want)
		}
	}
	for params, want := range map[string]string{
		"{flowSampling: 0}":     "spec.actions[0].params.flowSampling: must be more than 0 and at most 1, got 0",
		"{flowSampling: 1.5}":   "spec.actions[0].params.flowSampling: must be more than 0 and at most 1, got 1.5",
		"{flowSampling: -0.1}":  "spec.actions[0].params.flowSampling: must be more than 0 and at most 1, got -0.1",
		`{flowSampling: "0.5"}`: "spec.actions[0].params.flowSampling: want a number, got a string",
		"{flowSampling: .nan}":  "spec.actions[0].params.flowSampling: .nan is not a number zerodrift can hold",
		"{flowSampling: [0.5]}": "spec.actions[0].params.flowSampling: want a number, got a list",
		"{aggregationInterval: INTERVAL_2_SEC}": `spec.actions[0].params.aggregationInterval: "INTERVAL_2_SEC" is not allowed: want ` +
			"INTERVAL_5_SEC, INTERVAL_30_SEC, INTERVAL_1_MIN, INTERVAL_5_MIN, INTERVAL_10_MIN or INTERVAL_15_MIN",
	} {
		_, err := Load(fstest.MapFS{"team/x.yaml": {Data: []byte(flowLogsDoc(params))}}, "team")
		if err == nil {
			t.Errorf("%s: loaded", params)
			continue
		}
		if got := problemsOf(t, err); len(got) != 1 || got[0] != "team/x.yaml:11: "+want {
			t.Errorf("%s: problems %q, want %q", params, got, want)
		}
	}
}

// The new actions' parameters are checked as their catalogue entries say: an egress deny
// rule's name is a Compute Engine name; a metadata key is one of three; audit log types are
// Data Access types.
func TestNewActionParams(t *testing.T) {
	doc := func(rule, action, params string) string {
		return strings.NewReplacer("subnet-flow-logs-disabled", rule, "subnetwork.enableFlowLogs", action).Replace(flowLogsDoc(params))
	}
	for _, c := range []struct{ rule, action, params, problem string }{
		{"egress-deny-not-set", "firewall.createEgressDeny", "{name: Deny-All}",
			`params.name: "Deny-All" is not a Compute Engine name: 1 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen`},
		{"egress-deny-not-set", "firewall.createEgressDeny", "{name: deny-all-}", `params.name: "deny-all-" is not a Compute Engine name`},
		{"egress-deny-not-set", "firewall.createEgressDeny", "{priority: 70000}", "params.priority: must be from 0 to 65535, got 70000"},
		{"compute-os-login-disabled", "compute.setMetadata", "{key: startup-script, value: x}", `params.key: "startup-script" is not allowed`},
		{"compute-os-login-disabled", "compute.setMetadata", "{key: enable-oslogin}", "params.value: is required by compute.setMetadata"},
		// A bare TRUE is a YAML boolean: the value must be quoted.
		{"compute-os-login-disabled", "compute.setMetadata", "{key: enable-oslogin, value: TRUE}", "params.value: want a string, got a boolean"},
		{"audit-logging-disabled", "iam.setAuditConfig", "{logTypes: [ADMIN_WRITE]}", `params.logTypes[0]: "ADMIN_WRITE" is not allowed`},
		{"compute-public-ip", "instance.removeExternalIP", "{all: true}", "params.all: unknown parameter: instance.removeExternalIP takes none"},
	} {
		_, err := Load(fstest.MapFS{"team/x.yaml": {Data: []byte(doc(c.rule, c.action, c.params))}}, "team")
		if err == nil {
			t.Errorf("%s %s: loaded", c.action, c.params)
			continue
		}
		if got := problemsOf(t, err); !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, c.problem) }) {
			t.Errorf("%s %s: problems %q, want one saying %q", c.action, c.params, got, c.problem)
		}
	}
	for _, c := range []struct{ rule, action, params string }{
		{"egress-deny-not-set", "firewall.createEgressDeny", "{name: zd-deny-egress, priority: 65534}"},
		{"compute-os-login-disabled", "compute.setMetadata", `{key: enable-oslogin, value: "TRUE"}`},
		{"compute-serial-port-enabled", "compute.setMetadata", `{key: serial-port-enable, value: "FALSE"}`},
		{"compute-project-ssh-keys-allowed", "compute.setMetadata", `{key: block-project-ssh-keys, value: "TRUE"}`},
		{"audit-logging-disabled", "iam.setAuditConfig", "{logTypes: [DATA_READ, DATA_WRITE]}"},
		{"private-google-access-disabled", "subnetwork.enablePrivateGoogleAccess", "{}"},
	} {
		if _, err := Load(fstest.MapFS{"team/x.yaml": {Data: []byte(doc(c.rule, c.action, c.params))}}, "team"); err != nil {
			t.Errorf("%s %s: %v", c.action, c.params, err)
		}
	}
}
