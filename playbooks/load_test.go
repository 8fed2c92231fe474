package playbooks

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/zerodrift/zerodrift/iac"
	"github.com/zerodrift/zerodrift/rules"
)

// validDoc is a minimal valid team playbook; the invalid cases below edit it. Its lines:
//
//	1 apiVersion  2 kind  3 metadata  4 name  5 title  6 spec  7 fixes  8 - rule
//	9 actions  10 - action  11 risk  12 rank
const validDoc = `apiVersion: zerodrift.dev/v1
kind: Playbook
metadata:
  name: team-fw
  title: Team firewall fix
spec:
  fixes:
    - rule: firewall-open-ingress
  actions:
    - action: firewall.disable
  risk: low
  rank: 5
`

// edit returns validDoc with old replaced by new, exactly once.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if strings.Count(validDoc, old) != 1 {
		t.Fatalf("%q is not in validDoc exactly once", old)
	}
	return strings.Replace(validDoc, old, new, 1)
}

// problemsOf returns the problems of err, which must be an *Error.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *playbooks.Error", err)
	}
	out := make([]string, len(pe.Problems))
	for i, p := range pe.Problems {
		out[i] = p.String()
	}
	return out
}

func TestBuiltinsLoadAndValidate(t *testing.T) {
	s, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name       string
		rules      []string
		rank       int
		unattended bool
		risk       Risk
		effect     Effect
		terraform  string
	}{
		{"firewall-deny-ports", []string{"firewall-open-ingress"}, 30, false, RiskMedium, EffectContains, "add-deny-firewall"},
		{"firewall-disable", []string{"firewall-open-ingress"}, 20, false, RiskMedium, EffectResolves, "disable-firewall"},
		{"firewall-enable-logging", []string{"firewall-open-ingress"}, 40, true, RiskLow, EffectObserves, "enable-firewall-logging"},
		{"firewall-log-connections", []string{"firewall-logging-disabled"}, 10, true, RiskLow, EffectResolves, "enable-firewall-logging"},
		{"firewall-restrict-sources", []string{"firewall-open-ingress"}, 10, true, RiskLow, EffectResolves, "replace-world-source-ranges"},
		{"iam-remove-admin-binding", []string{"sa-admin-role"}, 10, false, RiskHigh, EffectResolves, "remove-iam-member"},
		{"iam-remove-outside-member", []string{"iam-non-org-member"}, 10, false, RiskHigh, EffectResolves, "remove-iam-member"},
		{"iam-remove-primitive-role", []string{"iam-primitive-role-user"}, 10, false, RiskHigh, EffectResolves, "remove-iam-member"},
		{"iam-remove-project-sa-user", []string{"sa-user-project-level"}, 10, false, RiskMedium, EffectResolves, "remove-iam-member"},
		{"iam-remove-public-member", []string{"iam-public-member"}, 10, false, RiskMedium, EffectResolves, "remove-iam-member"},
		{"instance-block-project-ssh-keys", []string{"compute-project-ssh-keys-allowed"}, 10, false, RiskMedium, EffectResolves, "set-instance-metadata"},
		{"instance-disable-serial-port", []string{"compute-serial-port-enabled"}, 10, false, RiskMedium, EffectResolves, "set-instance-metadata"},
		{"instance-enable-os-login", []string{"compute-os-login-disabled"}, 10, false, RiskHigh, EffectResolves, "set-instance-metadata"},
		{"instance-remove-external-ip", []string{"compute-public-ip"}, 10, false, RiskHigh, EffectResolves, "remove-external-ip"},
		{"network-add-egress-deny", []string{"egress-deny-not-set"}, 10, false, RiskHigh, EffectContains, "add-egress-deny"},
		{"network-delete-default", []string{"network-default"}, 10, true, RiskHigh, EffectResolves, "remove-resource"},
		{"project-enable-audit-logs", []string{"audit-logging-disabled"}, 10, true, RiskLow, EffectResolves, "set-audit-config"},
		{"sa-key-disable", []string{"sa-user-managed-key", "sa-key-not-rotated"}, 10, false, RiskMedium, EffectResolves, ""},
		{"subnet-enable-flow-logs", []string{"subnet-flow-logs-disabled"}, 10, true, RiskLow, EffectResolves, "enable-subnet-flow-logs"},
		{"subnet-enable-private-google-access", []string{"private-google-access-disabled"}, 10, true, RiskLow, EffectResolves, "enable-private-google-access"},
	}
	all := s.All()
	if len(all) != len(want) {
		t.Fatalf("%d built-ins, want %d", len(all), len(want))
	}
	entries, err := fs.ReadDir(builtinFS, builtinDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("%d files in builtin/, want one per built-in (%d)", len(entries), len(want))
	}
	for i, w := range want {
		p := all[i]
		tf := ""
		if p.Spec.Terraform != nil {
			tf = p.Spec.Terraform.Edit
		}
		if p.Metadata.Name != w.name || !slices.Equal(p.Rules(), w.rules) || p.Spec.Rank != w.rank ||
			p.Spec.Unattended != w.unattended || p.Spec.Risk != w.risk || p.Spec.Effect != w.effect || tf != w.terraform {
			t.Errorf("built-in %d = %s %v rank %d unattended %v %s %s %q, want %+v", i, p.Metadata.Name, p.Rules(),
				p.Spec.Rank, p.Spec.Unattended, p.Spec.Risk, p.Spec.Effect, tf, w)
		}
		if want := "builtin/" + w.name + ".yaml"; p.Source.File != want || !p.Source.Builtin {
			t.Errorf("%s: source %+v, want built-in %s", w.name, p.Source, want)
		}
		if !strings.Contains(p.Source.Text, "name: "+w.name+"\n") {
			t.Errorf("%s: source text does not hold the document:\n%s", w.name, p.Source.Text)
		}
		if p.Metadata.Description == "" || !slices.Contains(p.Spec.Preconditions, "notExempt") {
			t.Errorf("%s: built-ins have a description and name notExempt", w.name)
		}
	}
	// sa-key-disable never deletes: its only action disables.
	if p, _ := s.Get("sa-key-disable"); len(p.Spec.Actions) != 1 || p.Spec.Actions[0].Action != "serviceAccountKey.disable" {
		t.Errorf("sa-key-disable actions = %+v", p.Spec.Actions)
	}
	// The actions and parameters agreed with the remediators, exactly.
	for name, want := range map[string]Step{
		"firewall-log-connections": {Action: "firewall.enableLogging", Params: map[string]any{"metadata": "INCLUDE_ALL_METADATA"}},
		"subnet-enable-flow-logs": {Action: "subnetwork.enableFlowLogs",
			Params: map[string]any{"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}},
		"project-enable-audit-logs":           {Action: "iam.setAuditConfig", Params: map[string]any{"logTypes": []string{"DATA_READ", "DATA_WRITE", "ADMIN_READ"}}},
		"subnet-enable-private-google-access": {Action: "subnetwork.enablePrivateGoogleAccess"},
		"network-add-egress-deny":             {Action: "firewall.createEgressDeny", Params: map[string]any{"priority": 65535}},
		"instance-block-project-ssh-keys":     {Action: "compute.setMetadata", Params: map[string]any{"key": "block-project-ssh-keys", "value": "TRUE"}},
		"instance-disable-serial-port":        {Action: "compute.setMetadata", Params: map[string]any{"key": "serial-port-enable", "value": "FALSE"}},
		"instance-enable-os-login":            {Action: "compute.setMetadata", Params: map[string]any{"key": "enable-oslogin", "value": "TRUE"}},
		"instance-remove-external-ip":         {Action: "instance.removeExternalIP"},
	} {
		p, ok := s.Get(name)
		if !ok || len(p.Spec.Actions) != 1 || p.Spec.Actions[0].Action != want.Action || !reflect.DeepEqual(p.Spec.Actions[0].Params, want.Params) {
			t.Errorf("%s: actions %+v, want one %+v", name, p.Spec.Actions, want)
		}
	}
	// Unattended built-ins are the low-risk ones, and network-delete-default, whose action
	// refuses while anything uses the network.
	for _, p := range all {
		if p.Spec.Unattended && p.Spec.Risk != RiskLow && p.Metadata.Name != "network-delete-default" {
			t.Errorf("%s runs unattended at risk %s", p.Metadata.Name, p.Spec.Risk)
		}
	}
}

// withoutBuiltin lists the rules no built-in playbook fixes, and why: what fixes them is a
// person's decision or a change that stops or rebuilds something.
var withoutBuiltin = map[string]string{
	"network-legacy":                 "moving workloads off a legacy network is a migration, not a live fix",
	"network-too-many":               "consolidating networks is a migration",
	"firewall-overly-broad-internal": "the narrower rules that replace it depend on which tiers talk to which",
	"compute-default-sa":             "a dedicated service account needs its roles chosen, and the instance stopped to switch",
	"compute-default-sa-full-scope":  "narrowing scopes stops the instance and may break what its code calls",
	"compute-ip-forwarding":          "routes and appliances may depend on it, and changing it rebuilds the instance",
	"compute-shielded-vm-disabled":   "it needs the instance stopped and an image that supports it",
	"sa-role-separation":             "which of the two roles the member keeps is a person's decision",
}

func TestEveryRuleHasABuiltinOrAReason(t *testing.T) {
	s, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, r := range rules.Default() {
		id := r.Meta().ID
		known[id] = true
		found := slices.ContainsFunc(s.All(), func(p *Playbook) bool { return slices.Contains(p.Rules(), id) })
		if _, without := withoutBuiltin[id]; found == without {
			t.Errorf("rule %s: has a built-in playbook = %v, listed as without one = %v", id, found, without)
		}
	}
	for id := range withoutBuiltin {
		if !known[id] {
			t.Errorf("withoutBuiltin lists %s, which is no rule", id)
		}
	}
}

// TestBuiltinEditsArePatched: every Terraform edit of the catalogue is one the iac package
// writes, and the other way round, so a built-in never names an edit no pull request can make.
func TestBuiltinEditsArePatched(t *testing.T) {
	var names []string
	for _, e := range TerraformEdits() {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, iac.Edits()) {
		t.Errorf("the catalogue's Terraform edits are %v; iac.Patch makes %v", names, iac.Edits())
	}
}

func TestInvalidPlaybooks(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown key", edit(t, "  title: Team firewall fix\n", "  title: Team firewall fix\n  colour: red\n"),
			[]string{`team/x.yaml:6: metadata.colour: unknown field: want name, title or description`}},
		{"unknown top-level key", validDoc + "status: {}\n",
			[]string{`team/x.yaml:13: status: unknown field: want apiVersion, kind, metadata or spec`}},
		{"bad apiVersion", edit(t, "zerodrift.dev/v1", "zerodrift.dev/v2"),
			[]string{`team/x.yaml:1: apiVersion: "zerodrift.dev/v2" is not supported: want zerodrift.dev/v1`}},
		{"bad kind", edit(t, "kind: Playbook", "kind: playbook"),
			[]string{`team/x.yaml:2: kind: "playbook" is not supported: want Playbook`}},
		{"unknown rule", edit(t, "rule: firewall-open-ingress", "rule: firewall-open"),
			[]string{`team/x.yaml:8: spec.fixes[0].rule: no rule is named "firewall-open": want ` + orList(ruleIDs(), "or")}},
		{"unknown action", edit(t, "firewall.disable", "firewall.delete"),
			[]string{`team/x.yaml:10: spec.actions[0].action: no action is named "firewall.delete": want ` + orList(actionNames(), "or")}},
		{"bad param type: string for a list", edit(t, "    - action: firewall.disable\n",
			"    - action: firewall.restrictSources\n      params:\n        ranges: 10.0.0.0/8\n"),
			[]string{`team/x.yaml:12: spec.actions[0].params.ranges: want a list of strings, got a string`}},
		{"bad param type: quoted int", edit(t, "    - action: firewall.disable\n",
			"    - action: firewall.denyPorts\n      params: {priorityOffset: \"1\"}\n"),
			[]string{`team/x.yaml:11: spec.actions[0].params.priorityOffset: want an integer, got a string`}},
		{"bad param value: enum, range, CIDR, port, role", edit(t, "    - action: firewall.disable\n",
			"    - action: firewall.enableLogging\n      params: {metadata: ALL}\n"+
				"    - action: firewall.denyPorts\n      params: {priorityOffset: 0, ports: [22, \"tcp:70000\"]}\n"+
				"    - action: firewall.restrictSources\n      params: {ranges: [10.0.0.0/8, 0.0.0.0/0, nonsense]}\n"),
			[]string{
				`team/x.yaml:11: spec.actions[0].params.metadata: "ALL" is not allowed: want INCLUDE_ALL_METADATA or EXCLUDE_ALL_METADATA`,
				`team/x.yaml:13: spec.actions[1].params.priorityOffset: must be from 1 to 65535, got 0`,
				`team/x.yaml:13: spec.actions[1].params.ports[1]: "tcp:70000" is not a port or port range such as 22 or 20-30 (optionally tcp:22)`,
				`team/x.yaml:15: spec.actions[2].params.ranges[1]: 0.0.0.0/0 is the whole internet, not a trusted range`,
				`team/x.yaml:15: spec.actions[2].params.ranges[2]: "nonsense" is not a CIDR range such as 35.235.240.0/20`,
			}},
		{"ranges that together cover the internet", edit(t, "    - action: firewall.disable\n",
			"    - action: firewall.restrictSources\n      params:\n        ranges: [0.0.0.0/1, 128.0.0.0/1]\n"),
			[]string{`team/x.yaml:12: spec.actions[0].params.ranges: 0.0.0.0/1 and 128.0.0.0/1 together cover the whole internet, which is what the fix takes away`}},
		{"unknown parameter and templates", edit(t, "    - action: firewall.disable\n",
			"    - action: firewall.disable\n      params: {force: true}\n"+
				"    - action: firewall.restrictSources\n      params:\n        ranges: \"{{ .Baseline.TrustedSourceRanges }}\"\n"),
			[]string{
				`team/x.yaml:11: spec.actions[0].params.force: unknown parameter: firewall.disable takes none`,
				`team/x.yaml:14: spec.actions[1].params.ranges: templates are not supported: write the value, or leave ranges out for its default (the baseline's trusted source ranges)`,
			}},
		{"templates in a list, empty and null values", edit(t, "    - action: firewall.disable\n",
			"    - action: firewall.restrictSources\n      params: {ranges: [10.0.0.0/8, \"{{ .Baseline.Extra }}\"]}\n"+
				"    - action: firewall.denyPorts\n      params: {ports: [], priorityOffset: }\n"),
			[]string{
				`team/x.yaml:11: spec.actions[0].params.ranges[1]: templates are not supported: write the value, or leave ranges out for its default (the baseline's trusted source ranges)`,
				`team/x.yaml:13: spec.actions[1].params.ports: is empty: give at least one value, or leave ports out for its default (the finding's exposed SSH and RDP ports, from evidence.exposed)`,
				`team/x.yaml:13: spec.actions[1].params.priorityOffset: has no value: give an integer, or leave priorityOffset out for its default (1)`,
			}},
		{"missing required fields", "apiVersion: zerodrift.dev/v1\nkind: Playbook\nmetadata:\n  name: team-fw\nspec:\n  risk: low\n",
			[]string{
				`team/x.yaml:3: metadata.title: is required: what the playbook does, in one line`,
				`team/x.yaml:5: spec.fixes: is required: a list of {rule, when} naming the findings the playbook fixes`,
				`team/x.yaml:5: spec.actions: is required: a list of {action, params}, run in order`,
				`team/x.yaml:5: spec.rank: is required: 0 or more; the lowest-ranked playbook that fits a finding is preferred`,
			}},
		{"empty values are missing", edit(t, "  rank: 5\n", "  rank:\n  unattended: ~\n"),
			[]string{`team/x.yaml:12: spec.rank: is required: 0 or more; the lowest-ranked playbook that fits a finding is preferred`}},
		{"bad risk", edit(t, "risk: low", "risk: none"),
			[]string{`team/x.yaml:11: spec.risk: "none" is not a risk: want low, medium or high`}},
		{"bad rank, effect and unattended", edit(t, "  rank: 5\n", "  rank: -1\n  effect: fixes\n  unattended: \"yes\"\n"),
			[]string{
				`team/x.yaml:12: spec.rank: must be 0 or more, got -1`,
				`team/x.yaml:13: spec.effect: "fixes" is not an effect: want resolves, contains or observes`,
				`team/x.yaml:14: spec.unattended: want true or false, got a string`,
			}},
		{"bad name", edit(t, "name: team-fw", "name: Team_FW"),
			[]string{`team/x.yaml:4: metadata.name: "Team_FW" is not a playbook name: want lower-case letters, digits and dashes, ` +
				`starting and ending with a letter or digit, at most 63 characters`}},
		{"repeated key", edit(t, "  risk: low\n", "  risk: low\n  risk: high\n"),
			[]string{`team/x.yaml:12: spec.risk: appears twice (first on line 11)`}},
		{"wrong shapes", edit(t, "  fixes:\n    - rule: firewall-open-ingress\n", "  fixes: firewall-open-ingress\n  preconditions: notExempt\n"),
			[]string{
				`team/x.yaml:7: spec.fixes: want a list of fixes, got a string`,
				`team/x.yaml:8: spec.preconditions: want a list of strings, got a string`,
			}},
		{"action that does not fit the rule", edit(t, "firewall.disable", "serviceAccountKey.disable"),
			[]string{`team/x.yaml:10: spec.actions[0].action: serviceAccountKey.disable changes iam.googleapis.com/ServiceAccountKey resources, ` +
				`but firewall-open-ingress judges compute.googleapis.com/Firewall`}},
		{"preconditions", edit(t, "  actions:\n", "  preconditions: [notManagedByGKE, unconditionalGrant, notManagedByGKE, noDependents]\n  actions:\n"),
			[]string{
				`team/x.yaml:9: spec.preconditions[1]: unconditionalGrant is about cloudresourcemanager.googleapis.com/Project, ` +
					`cloudresourcemanager.googleapis.com/Folder and cloudresourcemanager.googleapis.com/Organization resources, but firewall-open-ingress judges compute.googleapis.com/Firewall`,
				`team/x.yaml:9: spec.preconditions[2]: notManagedByGKE is listed twice`,
				`team/x.yaml:9: spec.preconditions[3]: no precondition is named "noDependents": want notExempt, notManagedByGKE, notOwnAccess or unconditionalGrant`,
			}},
		{"when", edit(t, "    - rule: firewall-open-ingress\n",
			"    - rule: firewall-open-ingress\n      when:\n        categories: [OPEN_SHH_PORT]\n        ports: [\"ssh\", \"icmp:1\"]\n"+
				"    - rule: sa-admin-role\n      when: {ports: [\"22\"], hosts: [a]}\n"),
			[]string{
				`team/x.yaml:10: spec.fixes[0].when.categories[0]: "OPEN_SHH_PORT" is not a category of firewall-open-ingress findings: want ` +
					orList(ruleCategories(rules.ByID(rules.Default())["firewall-open-ingress"].Meta()), "or"),
				`team/x.yaml:11: spec.fixes[0].when.ports[0]: "ssh" is not a port or port range such as 22 or 20-30 (optionally tcp:22)`,
				`team/x.yaml:11: spec.fixes[0].when.ports[1]: "icmp" is not a protocol with ports: want tcp, udp or sctp`,
				`team/x.yaml:13: spec.fixes[1].when.hosts: unknown field: want categories or ports`,
				`team/x.yaml:13: spec.fixes[1].when.ports: narrows only findings on firewall rules, whose evidence lists the exposed ports; ` +
					`sa-admin-role judges cloudresourcemanager.googleapis.com/Project, cloudresourcemanager.googleapis.com/Folder and cloudresourcemanager.googleapis.com/Organization`,
				`team/x.yaml:15: spec.actions[0].action: firewall.disable changes compute.googleapis.com/Firewall resources, but sa-admin-role judges ` +
					`cloudresourcemanager.googleapis.com/Project, cloudresourcemanager.googleapis.com/Folder and cloudresourcemanager.googleapis.com/Organization`,
			}},
		{"replaceWith a privileged role", edit(t, "    - rule: firewall-open-ingress\n  actions:\n    - action: firewall.disable\n",
			"    - rule: sa-admin-role\n  actions:\n    - action: iam.removeBinding\n      params: {replaceWith: roles/editor}\n"+
				"    - action: iam.removeBinding\n      params: {replaceWith: editor}\n"),
			[]string{
				`team/x.yaml:11: spec.actions[0].params.replaceWith: roles/editor is not narrower: owner, editor and admin roles are what the finding is about`,
				`team/x.yaml:13: spec.actions[1].params.replaceWith: "editor" is not an IAM role: want roles/NAME, projects/P/roles/NAME or organizations/O/roles/NAME`,
			}},
		{"syntax error", validDoc + "  terraform: {edit: [}\n",
			[]string{`team/x.yaml:13: not valid YAML: did not find expected node content`}},
		{"terraform edit and types", validDoc + "  terraform:\n    resourceTypes: [google_compute_network, aws_security_group]\n    edit: disable-firewall\n",
			[]string{
				`team/x.yaml:14: spec.terraform.resourceTypes[0]: the disable-firewall edit does not apply to google_compute_network: want google_compute_firewall`,
				`team/x.yaml:14: spec.terraform.resourceTypes[1]: "aws_security_group" is not a Terraform resource type of the google provider, such as google_compute_firewall`,
			}},
		{"terraform unknown edit", validDoc + "  terraform: {edit: rewrite}\n",
			[]string{
				`team/x.yaml:13: spec.terraform.edit: no Terraform edit is named "rewrite": want ` + orList(editNames(), "or"),
				`team/x.yaml:13: spec.terraform.resourceTypes: is required: the Terraform resource types the edit applies to, e.g. [google_compute_firewall]`,
			}},
		{"not a mapping", "- a\n- b\n",
			[]string{`team/x.yaml:1: want a mapping with apiVersion, kind, metadata and spec, got a list`}},
		{"control characters", edit(t, "title: Team firewall fix", `title: "Team \e[31mfix"`),
			[]string{`team/x.yaml:5: metadata.title: must be one line of text without control characters`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(fstest.MapFS{"team/x.yaml": {Data: []byte(c.doc)}}, "team")
			if err == nil {
				t.Fatalf("loaded:\n%s", c.doc)
			}
			if got := problemsOf(t, err); !slices.Equal(got, c.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

// ruleIDs returns the IDs of the default rules, sorted, as the loader lists them.
func ruleIDs() []string {
	var ids []string
	for _, r := range rules.Default() {
		ids = append(ids, r.Meta().ID)
	}
	slices.Sort(ids)
	return ids
}

// TestCatalogueListsInMessages: the lists the messages above are built from hold what they
// must, so that the computed messages still say something.
func TestCatalogueListsInMessages(t *testing.T) {
	for _, c := range []struct {
		list []string
		must []string
	}{
		{ruleIDs(), []string{"firewall-open-ingress", "network-legacy", "subnet-flow-logs-disabled", "audit-logging-disabled"}},
		{actionNames(), []string{"firewall.disable", "serviceAccountKey.disable", "compute.setMetadata", "subnetwork.enableFlowLogs"}},
		{editNames(), []string{"add-deny-firewall", "replace-world-source-ranges", "set-audit-config", "remove-external-ip"}},
	} {
		if !slices.IsSorted(c.list) {
			t.Errorf("%v is not sorted", c.list)
		}
		for _, m := range c.must {
			if !slices.Contains(c.list, m) {
				t.Errorf("%v lacks %s", c.list, m)
			}
		}
	}
}

func TestValidTeamPlaybook(t *testing.T) {
	doc := edit(t, "    - action: firewall.disable\n",
		"    - action: firewall.restrictSources\n      params: {ranges: [10.0.0.0/8, \"2001:db8::/32\"]}\n"+
			"    - action: firewall.enableLogging\n")
	pbs, err := Load(fstest.MapFS{"team/x.yaml": {Data: []byte(doc)}}, "team")
	if err != nil {
		t.Fatal(err)
	}
	p := pbs[0]
	if p.Spec.Effect != EffectResolves || p.Spec.Unattended || p.Spec.Terraform != nil || p.Source.File != "team/x.yaml" ||
		p.Source.Line != 1 || p.Source.Text != doc {
		t.Errorf("decoded %+v", p)
	}
	if got := p.Spec.Actions[0].Params["ranges"]; !slices.Equal(got.([]string), []string{"10.0.0.0/8", "2001:db8::/32"}) {
		t.Errorf("ranges = %v", got)
	}
	if p.Spec.Actions[1].Params != nil {
		t.Errorf("enableLogging params = %v, want none", p.Spec.Actions[1].Params)
	}
}

func TestAllProblemsOfAllFilesAtOnce(t *testing.T) {
	second := "apiVersion: zerodrift.dev/v1\nkind: Playbook\nmetadata: {name: second, title: Second}\n" +
		"spec: {fixes: [{rule: network-default}], actions: [{action: network.deleteDefault}], risk: high, rank: 1}\n"
	fsys := fstest.MapFS{
		// Three documents: a valid one, an invalid one, and a duplicate of the first.
		"team/a.yaml": {Data: []byte(validDoc + "---\n" + second + "...\n---\n" +
			strings.Replace(validDoc, "risk: low", "risk: lowest", 1) + "---\n" + validDoc)},
		"team/b.yml":        {Data: []byte(edit(t, "name: team-fw", "name: second"))},
		"team/c.yaml":       {Data: []byte("apiVersion: [\n")},
		"team/notes.txt":    {Data: []byte("not a playbook")},
		"team/.hidden.yaml": {Data: []byte("not: [a playbook")},
		"team/sub/d.yaml":   {Data: []byte("not: [a playbook")},
		"team/empty.yaml":   {Data: []byte("# nothing yet\n---\n")},
	}
	_, err := Load(fsys, "team")
	want := []string{
		`team/a.yaml:23: metadata.name: "team-fw" is already defined at team/a.yaml:4: playbook names must be unique`,
		`team/a.yaml:30: spec.risk: "lowest" is not a risk: want low, medium or high`,
		`team/a.yaml:36: metadata.name: "team-fw" is already defined at team/a.yaml:4: playbook names must be unique`,
		`team/b.yml:4: metadata.name: "second" is already defined at team/a.yaml:16: playbook names must be unique`,
		`team/c.yaml:1: not valid YAML: did not find expected node content`, // the unclosed [, not the empty line after it
	}
	if got := problemsOf(t, err); !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !strings.HasPrefix(err.Error(), "invalid playbooks (5 problems):\n  team/a.yaml:23: ") {
		t.Errorf("error text:\n%s", err)
	}
}

func TestMultipleDocumentsKeepTheirOwnText(t *testing.T) {
	second := edit(t, "name: team-fw", "name: second")
	pbs, err := Load(fstest.MapFS{"x.yaml": {Data: []byte("# first\n" + validDoc + "---\n# second\n" + second)}}, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(pbs) != 2 || pbs[0].Source.Text != "# first\n"+validDoc || pbs[1].Source.Text != "# second\n"+second ||
		pbs[1].Source.Line != 16 || pbs[1].Source.File != "x.yaml" {
		t.Errorf("documents: %q at %d, %q at %d", pbs[0].Source.Text, pbs[0].Source.Line, pbs[1].Source.Text, pbs[1].Source.Line)
	}
}

func TestFolderMayNotShadowABuiltin(t *testing.T) {
	dir := t.TempDir()
	shadow := edit(t, "name: team-fw", "name: firewall-disable")
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(shadow), 0o644); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "bad.yaml"), []byte(edit(t, "risk: low", "risk: extreme")), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	_, err := LoadAll(true, []string{dir, other, missing})
	want := []string{
		filepath.Join(dir, "mine.yaml") + `:4: metadata.name: "firewall-disable" is the name of the built-in playbook at builtin/firewall-disable.yaml:5: ` +
			`a folder playbook may not replace a built-in; choose another name (and turn the built-in's unattended off in the configuration if it must not run alone)`,
		filepath.Join(other, "bad.yaml") + `:11: spec.risk: "extreme" is not a risk: want low, medium or high`,
		missing + `: cannot read the playbook folder: no such file or directory`,
	}
	if got := problemsOf(t, err); !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false, want the missing folder's error wrapped", err)
	}
}

func TestLoadAllFoldersAndBuiltins(t *testing.T) {
	// A Kubernetes ConfigMap volume: keys are links into ..data, a link to a timestamped
	// folder; only the links at the top are read.
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_11_01_12_00_00.1")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "team.yaml"), []byte(validDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, link := range [][2]string{{filepath.Base(data), "..data"}, {"..data/team.yaml", "team.yaml"}, {"..data", "linked-dir.yaml"}} {
		if err := os.Symlink(link[0], filepath.Join(dir, link[1])); err != nil {
			t.Fatal(err)
		}
	}
	s, err := LoadAll(true, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := s.Get("team-fw")
	b, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if !ok || s.Len() != b.Len()+1 || p.Source.Builtin || p.Source.File != filepath.Join(dir, "team.yaml") {
		t.Errorf("loaded %d playbooks; team-fw = %+v", s.Len(), p)
	}
	if s, err := LoadAll(false, nil); err != nil || s.Len() != 0 {
		t.Errorf("LoadAll(false, nil) = %d playbooks, %v; want none", s.Len(), err)
	}
}

func TestLoaderRules(t *testing.T) {
	// Only the rules given are known.
	l := Loader{Rules: []rules.Rule{rules.ByID(rules.Default())["network-default"]}}
	_, err := l.Load(fstest.MapFS{"x.yaml": {Data: []byte(validDoc)}}, ".")
	want := []string{`x.yaml:8: spec.fixes[0].rule: no rule is named "firewall-open-ingress": want network-default`}
	if got := problemsOf(t, err); !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func TestResolveFillsBaselineDefaults(t *testing.T) {
	s, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Get("firewall-restrict-sources")
	env := rules.DefaultEnv(time.Time{})
	got := p.Spec.Actions[0].Resolve(env)
	if r, _ := got["ranges"].([]string); !slices.Equal(r, []string{"35.235.240.0/20"}) {
		t.Errorf("Resolve = %v, want the baseline's ranges", got)
	}
	if p.Spec.Actions[0].Params != nil {
		t.Errorf("Resolve changed the step: %v", p.Spec.Actions[0].Params)
	}
	// A given value wins, and other actions' parameters are left as they are.
	step := Step{Action: "firewall.restrictSources", Params: map[string]any{"ranges": []string{"10.0.0.0/8"}}}
	if r := step.Resolve(env)["ranges"].([]string); !slices.Equal(r, []string{"10.0.0.0/8"}) {
		t.Errorf("Resolve overrode a given value: %v", r)
	}
	defaults := ConfigDefaults(env)
	if len(defaults) != 1 || !slices.Equal(defaults["firewall.restrictSources"]["ranges"].([]string), []string{"35.235.240.0/20"}) {
		t.Errorf("ConfigDefaults = %v", defaults)
	}
	if len(ConfigDefaults(nil)) != 0 {
		t.Error("ConfigDefaults(nil) is not empty")
	}
	lg, _ := s.Get("firewall-enable-logging")
	if got := lg.Spec.Actions[0].Resolve(env); len(got) != 1 || got["metadata"] != "INCLUDE_ALL_METADATA" {
		t.Errorf("Resolve = %v", got)
	}
}
