// Package test runs the built zerodrift binary end to end against the sandbox, as a user
// would. The binary is built once per test run (TestMain), not once per test.
package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zerodrift-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "zerodrift")
	args := []string{"build", "-o", binary}
	if os.Getenv("ZERODRIFT_E2E_RACE") != "" {
		args = append(args, "-race") // the binary under test reports its own data races
	}
	build := exec.Command("go", append(args, "./cmd/zerodrift")...)
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building zerodrift:", err)
		return 1
	}
	return m.Run()
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// scenarioDir is the built-in scenario's folder in the source tree.
var scenarioDir = filepath.Join(repoRoot(), "sandbox", "scenarios", "builtin")

type result struct {
	code           int
	stdout, stderr string
}

func zerodrift(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running zerodrift %v: %v", args, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// The JSON report, as scripts read it.
type finding struct {
	ID        string         `json:"id"`
	Rule      string         `json:"rule"`
	Title     string         `json:"title"`
	Severity  string         `json:"severity"`
	Category  string         `json:"category"`
	CIS       []string       `json:"cis"`
	Resource  string         `json:"resource"`
	AssetType string         `json:"assetType"`
	Project   string         `json:"project"`
	Evidence  map[string]any `json:"evidence"`
	Playbook  *string        `json:"playbook"`
}

type jsonReport struct {
	Findings []finding `json:"findings"`
	Skipped  []struct {
		Rule, Resource, Project, Reason string
	} `json:"skipped"`
	Errors  []reportError  `json:"errors"`
	Summary map[string]any `json:"summary"`
}

type reportError struct {
	Project  string `json:"project"`
	Service  string `json:"service"`
	Resource string `json:"resource"`
	Code     int    `json:"code"`
	Reason   string `json:"reason"`
	Message  string `json:"message"`
}

type expected struct {
	Now      string `json:"now"`
	Findings []struct {
		Rule, Project, Resource, Category, Severity, Role, Member string
		CIS                                                       []string
	} `json:"findings"`
	Skipped    []string `json:"skipped"`
	LiveErrors []struct {
		Project, Service, Resource string
		Code                       int
	} `json:"liveErrors"`
}

func loadExpected(t *testing.T) expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(scenarioDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func decodeReport(t *testing.T, r result) jsonReport {
	t.Helper()
	var rep jsonReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return rep
}

// key identifies a finding the way expected.json does.
func key(rule, project, resource, category, severity, role, member string, cis []string) string {
	return strings.Join([]string{rule, project, resource, category, severity, role, member, "CIS " + strings.Join(cis, ",")}, " | ")
}

func findingKeys(fs []finding) []string {
	var out []string
	for _, f := range fs {
		role, _ := f.Evidence["role"].(string)
		member, _ := f.Evidence["member"].(string)
		out = append(out, key(f.Rule, f.Project, f.Resource, f.Category, f.Severity, role, member, f.CIS))
	}
	slices.Sort(out)
	return out
}

// checkFindings compares the report with expected.json exactly: nothing missing, nothing extra.
func checkFindings(t *testing.T, rep jsonReport, exp expected) {
	t.Helper()
	var want []string
	for _, f := range exp.Findings {
		want = append(want, key(f.Rule, f.Project, f.Resource, f.Category, f.Severity, f.Role, f.Member, f.CIS))
	}
	slices.Sort(want)
	got := findingKeys(rep.Findings)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing finding: %s", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("unexpected finding: %s", g)
		}
	}
	var skipped []string
	for _, s := range rep.Skipped {
		skipped = append(skipped, s.Resource)
	}
	slices.Sort(skipped)
	if !slices.Equal(skipped, exp.Skipped) {
		t.Errorf("skipped %v, want %v", skipped, exp.Skipped)
	}
	for _, f := range rep.Findings {
		if len(f.ID) != 16 || f.Title == "" || f.AssetType == "" || f.CIS == nil || f.Evidence == nil || f.Playbook == nil {
			t.Errorf("finding %s lacks a field of the JSON contract: %+v", f.ID, f)
		}
	}
}

func TestScanSandboxFindsExactlyTheExpectedDrift(t *testing.T) {
	exp := loadExpected(t)
	r := zerodrift(t, "", "scan", "--sandbox", "--format", "json", "--now", exp.Now)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	rep := decodeReport(t, r)
	checkFindings(t, rep, exp)
	if len(rep.Errors) != len(exp.LiveErrors) {
		t.Errorf("got %d errors, want %d: %+v", len(rep.Errors), len(exp.LiveErrors), rep.Errors)
	}
	for _, want := range exp.LiveErrors {
		found := slices.ContainsFunc(rep.Errors, func(e reportError) bool {
			return e.Service == want.Service && e.Code == want.Code &&
				(want.Project == "" || e.Project == want.Project) && (want.Resource == "" || e.Resource == want.Resource)
		})
		if !found {
			t.Errorf("no error reported for %+v; errors: %+v", want, rep.Errors)
		}
	}
	if rep.Summary["findings"] != float64(len(exp.Findings)) || rep.Summary["cisBenchmark"] != "v5.0" {
		t.Errorf("summary %v", rep.Summary)
	}
}

// The same organisation read from its CAI export gives the same findings, with the same
// IDs, as the live scan of the sandbox: one model, one rule set.
func TestScanExportMatchesLiveScan(t *testing.T) {
	exp := loadExpected(t)
	live := decodeReport(t, zerodrift(t, "", "scan", "--sandbox", "--format", "json", "--now", exp.Now))
	r := zerodrift(t, "", "scan", "--assets", filepath.Join(scenarioDir, "assets.json"), "--format", "json", "--now", exp.Now)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	file := decodeReport(t, r)
	checkFindings(t, file, exp)
	ids := func(fs []finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.ID+" "+f.Rule+" "+f.Resource)
		}
		return out
	}
	if !slices.Equal(ids(live.Findings), ids(file.Findings)) {
		t.Errorf("live and export findings differ in IDs or order:\nlive:   %v\nexport: %v", ids(live.Findings), ids(file.Findings))
	}
	// A second scan gives the same IDs in the same order: IDs are stable across runs.
	again := decodeReport(t, zerodrift(t, "", "scan", "--sandbox", "--format", "json", "--now", exp.Now))
	if !slices.Equal(ids(live.Findings), ids(again.Findings)) {
		t.Errorf("a second scan changed the findings")
	}
}

func TestScanStdinAndFailOn(t *testing.T) {
	exp := loadExpected(t)
	export, err := os.ReadFile(filepath.Join(scenarioDir, "assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := zerodrift(t, string(export), "scan", "--assets", "-", "--format", "json", "--fail-on", "critical", "--now", exp.Now)
	if r.code != 3 || !strings.Contains(r.stderr, "1 findings at or above CRITICAL") {
		t.Errorf("--fail-on critical: exit %d, stderr %q; want 3 naming one critical finding", r.code, r.stderr)
	}
	checkFindings(t, decodeReport(t, r), exp)

	// An export with nothing at or above the threshold passes.
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(string(export)), "\n") {
		if strings.Contains(line, `"asset_type":"iam.googleapis.com/ServiceAccountKey"`) {
			keys = append(keys, line)
		}
	}
	r = zerodrift(t, strings.Join(keys, "\n"), "scan", "--assets", "-", "--fail-on", "high", "--now", exp.Now)
	if r.code != 0 {
		t.Errorf("keys only, --fail-on high: exit %d, want 0; stderr %s", r.code, r.stderr)
	}
}

func TestScanMalformedExport(t *testing.T) {
	in := `{"name":"//compute.googleapis.com/projects/p/global/networks/default","asset_type":"compute.googleapis.com/Network","resource":{"data":{"name":"default"}}}
{"name": "broken",
{"name":"//compute.googleapis.com/projects/p/global/networks/legacy","asset_type":"compute.googleapis.com/Network","resource":{"data":{"name":"legacy","IPv4Range":"10.0.0.0/16"}}}
`
	r := zerodrift(t, in, "scan", "--assets", "-", "--format", "json")
	if r.code != 1 || !strings.Contains(r.stderr, "stdin:2:") || strings.Contains(r.stderr, "goroutine") {
		t.Errorf("malformed line: exit %d, stderr %q; want exit 1 and an error naming stdin:2", r.code, r.stderr)
	}
	r = zerodrift(t, in, "scan", "--assets", "-", "--format", "json", "--skip-invalid")
	if r.code != 0 {
		t.Fatalf("--skip-invalid: exit %d; stderr %s", r.code, r.stderr)
	}
	rep := decodeReport(t, r)
	// Lines 1 and 3 are judged: the default network, the legacy one, neither with an egress
	// deny rule, and two networks in project p.
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Rule+" "+f.Resource[strings.LastIndexByte(f.Resource, '/')+1:])
	}
	slices.Sort(got)
	want := []string{"egress-deny-not-set default", "egress-deny-not-set legacy", "network-default default",
		"network-legacy legacy", "network-too-many p"}
	if !slices.Equal(got, want) || len(rep.Errors) != 1 || rep.Errors[0].Resource != "stdin:2" {
		t.Errorf("--skip-invalid: findings %q and errors %+v; want %q and line 2 reported skipped", got, rep.Errors, want)
	}
}

func TestScanSARIF(t *testing.T) {
	exp := loadExpected(t)
	out := filepath.Join(t.TempDir(), "zerodrift.sarif")
	r := zerodrift(t, "", "scan", "--sandbox", "--format", "sarif", "--output", out, "--now", exp.Now)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID         string         `json:"id"`
						Help       map[string]any `json:"help"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
					LogicalLocations []struct {
						FullyQualifiedName string `json:"fullyQualifiedName"`
						Kind               string `json:"kind"`
					} `json:"logicalLocations"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatalf("not SARIF JSON: %v", err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "zerodrift" {
		t.Fatalf("SARIF header: %+v", log)
	}
	run := log.Runs[0]
	if len(run.Results) != len(exp.Findings) {
		t.Errorf("%d SARIF results, want %d", len(run.Results), len(exp.Findings))
	}
	for _, res := range run.Results {
		rule := run.Tool.Driver.Rules[res.RuleIndex]
		if rule.ID != res.RuleID || rule.Help["text"] == "" || rule.Properties["security-severity"] == nil {
			t.Errorf("result %s points at rule %+v", res.RuleID, rule)
		}
		if len(res.Locations) != 1 || res.Locations[0].LogicalLocations[0].Kind != "resource" ||
			!strings.HasPrefix(res.Locations[0].LogicalLocations[0].FullyQualifiedName, "//") {
			t.Errorf("result %s has no logical resource location: %+v", res.RuleID, res.Locations)
		}
		// GitHub rejects the whole upload when a result lacks a physical location. A resource
		// the scenario's Terraform declares points at its block; others at a gcp/... artifact.
		uri := res.Locations[0].PhysicalLocation.ArtifactLocation.URI
		fqn := res.Locations[0].LogicalLocations[0].FullyQualifiedName
		switch {
		case strings.Contains(uri, "//"):
			t.Errorf("result %s has artifact URI %q, want a relative path", res.RuleID, uri)
		case fqn == "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-world":
			if uri != "envs/prod/firewall.tf" {
				t.Errorf("allow-ssh-world's result points at %q, want the Terraform that declares it", uri)
			}
		case strings.HasSuffix(fqn, "/allow-https") && uri != "gcp/compute.googleapis.com/projects/acme-prod/global/firewalls/allow-https":
			t.Errorf("an undeclared firewall's result points at %q", uri)
		}
		if !slices.Contains([]string{"error", "warning", "note"}, res.Level) || res.PartialFingerprints["zerodriftFindingId/v1"] == "" {
			t.Errorf("result %s: level %q, fingerprints %v", res.RuleID, res.Level, res.PartialFingerprints)
		}
	}
}

func TestScanTableForPeople(t *testing.T) {
	exp := loadExpected(t)
	r := zerodrift(t, "", "scan", "--sandbox", "--now", exp.Now)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"acme-prod\n", "acme-dev\n", "acme-legacy\n", "acme-analytics\n", "(organization and folders)\n",
		"CRITICAL", "allow-all-world", fmt.Sprintf("Skipped (%d)", len(exp.Skipped)), "Could not read (2)",
		fmt.Sprintf("%d findings", len(exp.Findings))} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("colour codes written to a pipe")
	}
}

func TestScanUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scan"}, "nothing to scan"},
		{[]string{"scan", "--sandbox", "--format", "xml"}, `--format: "xml" is not one of`},
		{[]string{"scan", "--sandbox", "--fail-on", "severe"}, `--fail-on: unknown severity "severe"`},
		{[]string{"scan", "--assets", "/nonexistent/export.json"}, "--assets: open /nonexistent/export.json"},
		{[]string{"scan", "--assets", "x.json", "--sandbox"}, "cannot be combined"},
		{[]string{"scan", "--sandbox=/nonexistent/scenario"}, "loading scenario /nonexistent/scenario"},
	} {
		r := zerodrift(t, "", tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "zerodrift.yaml")
	os.WriteFile(cfg, []byte(`scope:
  projects: [prod-1]
mode: yolo
maxChanges: 5
baseline:
  trustedSourceRanges: [35.235.240.0/20, not-a-range]
  keyMaxAgeDay: 30
exemptions:
  - resource: //compute.googleapis.com/projects/prod-1/global/firewalls/allow-lb
    rules: [firewall-open-ingress, no-such-rule]
    reason: public load balancer health checks
    owner: netsec@acme.example
    expires: 31/03/2027
`), 0o600)
	r := zerodrift(t, "", "validate", "--config", cfg)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{
		cfg + ":3: mode: \"yolo\" is not a mode",
		cfg + ":6: baseline.trustedSourceRanges[1]: \"not-a-range\" is not a CIDR range",
		cfg + ":7: field keyMaxAgeDay not found",
		cfg + ":10: exemptions[0].rules[1]: no rule is named \"no-such-rule\"",
		cfg + ":13: exemptions[0].expires: \"31/03/2027\" is not a date",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate output lacks %q:\n%s", want, r.stderr)
		}
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte("scope:\n  projects: [prod-1]\nmode: report\n"), 0o600)
	if r := zerodrift(t, "", "validate", "--config", good); r.code != 0 || !strings.Contains(r.stdout, "valid") {
		t.Errorf("valid config: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
}
