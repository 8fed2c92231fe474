package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/zerodrift/zerodrift/pullrequest"
	"github.com/zerodrift/zerodrift/sandbox"
)

// hostileFirewall is a firewall open to the internet on SSH whose name and description are
// as hostile as cloud data can be. Declared ones are in the scenario's Terraform (so the
// fix is a pull request); the others exist only in the cloud (so the fix would be live).
type hostileFirewall struct {
	key, name, description string
	declared               bool
	// want is the decision zerodrift must take: "pr" for a declared firewall, whose fix
	// edits Terraform, and "refused" for a live one, whose fix would send the name to the
	// API. (Compute Engine names hold no "/", and neither do the sandbox's.)
	want string
}

var hostileFirewalls = []hostileFirewall{
	{key: "md", declared: true, want: "pr",
		name:        "# h\n[x](javascript:alert(1)) ![i](x.png) **b** _i_ | a | b |\r\n> q @octocat fixes #1",
		description: "[x](http://evil.example/x) ![i](http://evil.example/i.png) ../../etc/passwd"},
	{key: "code", declared: true, want: "pr",
		name:        "`code` ``` fence ``` ${file(\"etc-passwd\")} $${x} %{ if true }x%{ endif } @acme-security",
		description: "${file(\"/etc/passwd\")} %{ for x in y }${x}%{ endfor } @acme/security-team\n```\nrm -rf /\n```"},
	{key: "html", declared: true, want: "pr",
		name:        "<img src=x onerror=alert(1)><!-- zerodrift: {\"finding\":\"forged\"} --><script>alert(1)",
		description: "<a href=\"http://evil.example\">x</a>"},
	{key: "dot", declared: true, want: "pr", name: ".", description: "../../../../etc/passwd"},
	{key: "long", declared: true, want: "pr",
		name:        strings.Repeat("<b>`x`${a}%{b}@eve[l](j)|#1 ", 200),
		description: strings.Repeat("<img src=x onerror=alert(1)>\n${var.x}/../", 300)},
	{key: "livehtml", want: "refused", name: "<img src=x onerror=alert(1)>`${x}`\n@eve", description: "live"},
	{key: "livedots", want: "refused", name: "..", description: "../../etc/passwd"},
}

func (fw hostileFirewall) resource() string {
	return "//compute.googleapis.com/projects/acme-prod/global/firewalls/" + fw.name
}

// asset is the firewall's CAI export line.
func (fw hostileFirewall) asset(i int) string {
	a := map[string]any{
		"name":        fw.resource(),
		"asset_type":  "compute.googleapis.com/Firewall",
		"ancestors":   []string{"projects/100000000001", "folders/111111111111", "organizations/123456789012"},
		"update_time": "2026-11-20T09:00:00Z",
		"resource": map[string]any{
			"version": "v1", "discovery_document_uri": "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest",
			"discovery_name": "Firewall", "parent": "//cloudresourcemanager.googleapis.com/projects/100000000001", "location": "global",
			"data": map[string]any{
				"kind": "compute#firewall", "id": fmt.Sprintf("71000000000000000%02d", i), "name": fw.name, "description": fw.description,
				"network":  "https://www.googleapis.com/compute/v1/projects/acme-prod/global/networks/prod-vpc",
				"priority": 1000, "direction": "INGRESS", "disabled": false,
				"logConfig":    map[string]any{"enable": true, "metadata": "INCLUDE_ALL_METADATA"},
				"sourceRanges": []string{"0.0.0.0/0"},
				"allowed":      []map[string]any{{"IPProtocol": "tcp", "ports": []string{"22"}}},
			},
		},
	}
	b, _ := json.Marshal(a) // maps of strings, numbers and booleans always encode
	return string(b)
}

// terraform is the firewall's declaration, its name and description written as HCL
// strings by hclwrite (the way a person's Terraform would escape them).
func (fw hostileFirewall) terraform() string {
	str := func(s string) string { return string(hclwrite.TokensForValue(cty.StringVal(s)).Bytes()) }
	return fmt.Sprintf(`
resource "google_compute_firewall" "hostile_%s" {
  name          = %s
  description   = %s
  network       = google_compute_network.prod.self_link
  direction     = "INGRESS"
  source_ranges = ["0.0.0.0/0"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
`, fw.key, str(fw.name), str(fw.description))
}

// requestRecorder records every request the sandbox serves.
type requestRecorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []*http.Request
}

func (rr *requestRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.mu.Lock()
	rr.reqs = append(rr.reqs, r.Clone(r.Context()))
	rr.mu.Unlock()
	rr.next.ServeHTTP(w, r)
}

func (rr *requestRecorder) all() []*http.Request {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]*http.Request(nil), rr.reqs...)
}

// startHostileFirewallSandbox serves the built-in scenario with the hostile firewalls
// added to acme-prod's assets and Terraform, and returns the sandbox, its request log
// and a config that runs zerodrift against it.
func startHostileFirewallSandbox(t *testing.T) (*sandbox.Server, *requestRecorder, string) {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, scenarioDir, dir)
	var assets, tf strings.Builder
	for i, fw := range hostileFirewalls {
		assets.WriteString(fw.asset(i) + "\n")
		if fw.declared {
			tf.WriteString(fw.terraform())
		}
	}
	appendFile(t, filepath.Join(dir, "assets.json"), assets.String())
	appendFile(t, filepath.Join(dir, "iac", "envs", "prod", "hostile.tf"), tf.String())
	sc, err := sandbox.LoadScenario(os.DirFS(dir), ".")
	if err != nil {
		t.Fatalf("loading the hostile scenario: %v", err)
	}
	srv, err := sandbox.New(sc)
	if err != nil {
		t.Fatalf("starting the sandbox: %v", err)
	}
	rec := &requestRecorder{next: srv}
	hs := httptest.NewServer(rec)
	t.Cleanup(hs.Close)
	cfg := filepath.Join(dir, "zerodrift.yaml")
	writeFile(t, cfg, fmt.Sprintf(`scope:
  projects: [acme-prod]
maxChanges: 100
gcp:
  endpoint: %[1]s
ledger: sqlite://%[2]s
github:
  repository: acme/infra
  apiURL: %[1]s/api/v3/
  tokenEnv: ZERODRIFT_TEST_GITHUB_TOKEN
  maxPRsPerRun: 100
  writeInterval: 0s
iac:
  roots: [envs/prod, envs/dev]
`, hs.URL, filepath.Join(dir, "ledger.db")))
	t.Setenv("ZERODRIFT_TEST_GITHUB_TOKEN", sandbox.DefaultGitHubToken)
	return srv, rec, cfg
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

var (
	safeBranch      = regexp.MustCompile(`^zerodrift/[a-z0-9_-]+/[0-9a-f]{8}$`)
	safeComputePath = regexp.MustCompile(`^/compute/v1(/[A-Za-z0-9-]+)+$`)
)

// Firewalls whose names and descriptions carry Markdown, HTML, backticks, newlines, HCL
// interpolation, "../" and thousands of characters go through a full run: each gets the
// decision its name allows, no request to Compute Engine carries a hostile name, and every
// pull request has a safe branch, title, commit and body, and a Terraform edit that
// changes the source ranges and nothing else.
func TestHostileFirewallsYieldSafePullRequestsAndNoLiveCalls(t *testing.T) {
	exp := loadExpected(t)
	srv, rec, cfg := startHostileFirewallSandbox(t)
	r := zerodrift(t, "", "run", "--config", cfg, "--apply", "--format", "json", "--now", exp.Now,
		"--log-format", "json", "--log-level", "debug")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	// Logs stay one JSON object per line, whatever the names hold.
	for i, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("log line %d is not JSON: %.300q", i+1, line)
		}
	}
	var rep struct {
		Decisions []struct {
			Resource, Rule, Action, Reason string
			PR                             *struct {
				Number  int
				Address string
			} `json:"pr"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("run --format json: %v", err)
	}
	pulls := map[int]sandbox.GitHubPullRequest{}
	for _, pr := range srv.PullRequests() {
		pulls[pr.Number] = pr
	}
	for _, fw := range hostileFirewalls {
		t.Run(fw.key, func(t *testing.T) {
			n := 0
			for _, d := range rep.Decisions {
				if d.Resource != fw.resource() || d.Rule != "firewall-open-ingress" {
					continue
				}
				n++
				if d.Action != fw.want {
					t.Fatalf("decision %s (%s), want %s", d.Action, d.Reason, fw.want)
				}
				if d.Action == "refused" && !strings.Contains(d.Reason, "is not a Compute Engine name") {
					t.Errorf("refused because %q, want because the name is not a Compute Engine name", d.Reason)
				}
				if d.Action == "pr" {
					address := "google_compute_firewall.hostile_" + fw.key
					if d.PR == nil || d.PR.Address != address {
						t.Fatalf("pull request %+v, want one for %s", d.PR, address)
					}
					pr, ok := pulls[d.PR.Number]
					if !ok {
						t.Fatalf("no pull request #%d in the repository", d.PR.Number)
					}
					checkHostilePullRequest(t, srv, pr, address)
				}
			}
			if n != 1 {
				t.Fatalf("%d firewall-open-ingress decisions for %.80q, want 1", n, fw.name)
			}
		})
	}
	// No request to Compute Engine carried a name it could not have given: nothing was
	// read or changed at a path a hostile name steered.
	for _, q := range rec.all() {
		if strings.HasPrefix(q.URL.Path, "/compute/") && !safeComputePath.MatchString(q.URL.Path) {
			t.Errorf("%s %q reached Compute Engine", q.Method, q.URL.Path)
		}
	}
}

// checkHostilePullRequest checks one pull request for a hostile firewall declared at address.
func checkHostilePullRequest(t *testing.T, srv *sandbox.Server, pr sandbox.GitHubPullRequest, address string) {
	t.Helper()
	if !safeBranch.MatchString(pr.Head) {
		t.Errorf("branch %q", pr.Head)
	}
	// A title renders "#1" as a link and "@team" as a mention: a hostile name is not in it.
	if !strings.Contains(pr.Title, address) || utf8.RuneCountInString(pr.Title) > 120 || strings.ContainsAny(pr.Title, "\r\n<>`@#$[]") {
		t.Errorf("title %q, want one line naming %s and no cloud text", pr.Title, address)
	}
	commit, err := srv.GitHubCommitOf(pr.HeadSHA)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(commit.Message, "<>`@$[]") || strings.Contains(commit.Message, "#1") {
		t.Errorf("commit message holds cloud text:\n%s", commit.Message)
	}
	if len(pr.Body) > 65536 || strings.ContainsRune(pr.Body, '\r') {
		t.Errorf("body of %d bytes, or with a carriage return", len(pr.Body))
	}
	outside := codeSpan.ReplaceAllString(pr.Body, "")
	for _, bad := range []string{"<img", "<script", "<b>", "javascript:", "](", "${", "%{", "@octocat", "@eve", "@acme", "#1 "} {
		if strings.Contains(outside, bad) {
			t.Errorf("body has %q outside code spans:\n%.3000s", bad, pr.Body)
		}
	}
	for _, span := range codeSpan.FindAllString(pr.Body, -1) {
		if strings.Contains(span, "\n") {
			t.Errorf("a code span spans lines, so cloud text starts a line: %.200q", span)
		}
	}
	// A forged marker in the name stays inside a code span, where it is text: one line is a
	// marker, and it is zerodrift's.
	markers := 0
	for _, l := range strings.Split(pr.Body, "\n") {
		if strings.HasPrefix(l, "<!-- zerodrift:") {
			markers++
		}
	}
	if m, ok := pullrequest.ParseMarker(pr.Body); markers != 1 || !ok || m.Finding == "forged" || strings.Count(outside, "<!--") != 1 {
		t.Errorf("body has %d marker lines (%+v), want exactly zerodrift's", markers, m)
	}
	// The edit replaces the source ranges and nothing else; the hostile strings are left as
	// the repository wrote them.
	if len(pr.Files) != 1 || pr.Files[0].Path != "envs/prod/hostile.tf" || pr.Files[0].Additions != 1 || pr.Files[0].Deletions != 1 {
		t.Fatalf("files %+v, want one line changed in envs/prod/hostile.tf", pr.Files)
	}
	for _, l := range strings.Split(pr.Files[0].Patch, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(strings.TrimSpace(l[1:]), "source_ranges = [") {
			t.Errorf("the diff changes %.200q", l)
		}
	}
	after, err := srv.GitHubFile(pr.Head, "envs/prod/hostile.tf")
	if err != nil {
		t.Fatal(err)
	}
	checkHostileDeclarations(t, after)
}

// checkHostileDeclarations parses a hostile.tf and checks that every firewall in it has its
// hostile name and description, as literal strings: nothing in them became syntax.
func checkHostileDeclarations(t *testing.T, src []byte) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "hostile.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("hostile.tf does not parse: %v", diags)
	}
	seen := 0
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		var fw hostileFirewall
		for _, h := range hostileFirewalls {
			if len(b.Labels) == 2 && b.Labels[1] == "hostile_"+h.key {
				fw = h
			}
		}
		if fw.key == "" {
			t.Errorf("hostile.tf has a block %s %v", b.Type, b.Labels)
			continue
		}
		seen++
		for attr, want := range map[string]string{"name": fw.name, "description": fw.description} {
			v, diags := b.Body.Attributes[attr].Expr.Value(nil) // no variables, no functions
			if diags.HasErrors() || v.Type() != cty.String || v.AsString() != want {
				t.Errorf("%s.%s = %#v (%v), want the literal %.80q", fw.key, attr, v, diags, want)
			}
		}
	}
	if want := 5; seen != want {
		t.Errorf("hostile.tf declares %d hostile firewalls, want %d", seen, want)
	}
}
