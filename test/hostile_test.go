package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hostileMember is an IAM member as hostile as the cloud could hand over: a quote and an
// HCL interpolation to break out of a Terraform string, HTML and a Markdown link to inject
// into a PR body, a mention to ping a team.
const hostileMember = "user:eve\"${file(\"/etc/passwd\")}<img src=x onerror=alert(1)>](javascript:alert(1))@acme.example"

// copyScenario copies the built-in scenario to dir, with the hostile grant added to
// acme-prod's policy and declared in its Terraform.
func copyScenario(t *testing.T, dir string) {
	t.Helper()
	copyTree(t, scenarioDir, dir)
	assets := filepath.Join(dir, "assets.json")
	b, err := os.ReadFile(assets)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, assets, string(addHostileBinding(t, b)))
	hclMember := strings.NewReplacer(`"`, `\"`, "${", "$${").Replace(hostileMember)
	tf := fmt.Sprintf(`
# Eve mints tokens for the nightly job.
resource "google_project_iam_member" "eve_token_creator" {
  project = "acme-prod"
  role    = "roles/iam.serviceAccountTokenCreator"
  member  = "%s"
}
`, hclMember)
	if err := os.WriteFile(filepath.Join(dir, "iac", "envs", "prod", "eve.tf"), []byte(tf), 0o644); err != nil {
		t.Fatal(err)
	}
}

func addHostileBinding(t *testing.T, export []byte) []byte {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(export)), "\n") {
		if strings.Contains(line, `"name":"//cloudresourcemanager.googleapis.com/projects/100000000001"`) && strings.Contains(line, `"iam_policy"`) {
			var a map[string]any
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatal(err)
			}
			pol := a["iam_policy"].(map[string]any)
			pol["bindings"] = append(pol["bindings"].([]any), map[string]any{"role": "roles/iam.serviceAccountTokenCreator", "members": []any{hostileMember}})
			b, _ := json.Marshal(a)
			line = string(b)
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

var codeSpan = regexp.MustCompile("`+[^`]*`+")

// A hostile value from the cloud yields a safe branch name, a safe Terraform edit and a PR
// body where it cannot inject HTML, links or a fake marker.
func TestHostileCloudValuesYieldSafePullRequests(t *testing.T) {
	exp := loadExpected(t)
	scenario := t.TempDir()
	copyScenario(t, scenario)
	addr := serveSandbox(t, "--scenario", scenario)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zerodrift.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`scope:
  projects: [acme-prod]
gcp:
  endpoint: http://%s
ledger: sqlite://%s
github:
  repository: acme/infra
  apiURL: http://%s/api/v3/
  tokenEnv: ZERODRIFT_TEST_GITHUB_TOKEN
  writeInterval: 0s
iac:
  roots: [envs/prod, envs/dev]
`, addr, filepath.Join(dir, "ledger.db"), addr)), 0o600)
	t.Setenv("ZERODRIFT_TEST_GITHUB_TOKEN", "zerodrift-sandbox-token")

	r := zerodrift(t, "", "run", "--config", cfg, "--apply", "--format", "json", "--now", exp.Now)
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "zerodrift-sandbox-token") || strings.Contains(r.stdout, "zerodrift-sandbox-token") {
		t.Error("the GitHub token reached the output")
	}
	var rep struct {
		Decisions []struct {
			Action, Reason string
			PR             *struct {
				Branch, Diff, File, Address string
				Number                      int
			} `json:"pr"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var number int
	for _, d := range rep.Decisions {
		if d.PR == nil || d.PR.Address != "google_project_iam_member.eve_token_creator" {
			continue
		}
		if d.Action != "pr" || d.PR.Number == 0 {
			t.Fatalf("hostile grant decided %+v", d)
		}
		number = d.PR.Number
		if !regexp.MustCompile(`^zerodrift/[a-z0-9._-]+/[0-9a-f]{8}$`).MatchString(d.PR.Branch) {
			t.Errorf("unsafe branch name %q", d.PR.Branch)
		}
		// The edit removes the whole block: nothing of the hostile value is written anew.
		for _, l := range strings.Split(d.PR.Diff, "\n") {
			if strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++") && strings.TrimSpace(l) != "+" {
				t.Errorf("the diff adds a line: %q", l)
			}
		}
	}
	if number == 0 {
		t.Fatalf("no PR for the hostile grant; decisions: %+v", rep.Decisions)
	}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/api/v3/repos/acme/infra/pulls/%d", addr, number), nil)
	req.Header.Set("Authorization", "token zerodrift-sandbox-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr struct{ Body string }
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &pr); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	outside := codeSpan.ReplaceAllString(pr.Body, "")
	for _, bad := range []string{"<img", "javascript:", "](", "${file"} {
		if strings.Contains(outside, bad) {
			t.Errorf("PR body has %q outside code spans:\n%s", bad, pr.Body)
		}
	}
	if n := strings.Count(pr.Body, "<!-- zerodrift:"); n != 1 {
		t.Errorf("PR body has %d markers, want exactly 1", n)
	}
}
