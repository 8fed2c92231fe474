package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFullDesignExample(t *testing.T) {
	in := `scope:
  projects: [prod-1, prod-2]
gcp:
  endpoint: ""
mode: report
maxChanges: 5
paused: false
ledger: sqlite:///var/lib/zerodrift/ledger.db
github:
  repository: acme/infra
  baseBranch: main
  apiURL: ""
  tokenEnv: GITHUB_TOKEN
iac:
  roots: [envs/prod, envs/dev]
baseline:
  trustedSourceRanges: [35.235.240.0/20]
  keyMaxAgeDays: 90
exemptions:
  - resource: //compute.googleapis.com/projects/prod-1/global/firewalls/allow-lb
    rules: [firewall-open-ingress]
    reason: public load balancer health checks
    owner: netsec@acme.example
    expires: 2027-03-31
playbookDirs: [/etc/zerodrift/playbooks]
schedule: "*/30 * * * *"
`
	c, err := Parse("zerodrift.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Scope.Projects) != 2 || c.GitHub.Repository != "acme/infra" || *c.MaxChanges != 5 || c.Exemptions[0].Owner != "netsec@acme.example" {
		t.Errorf("decoded %+v", c)
	}
	if got := c.Exemptions[0].ExpiresAt(); !got.Equal(time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("exemption expires at %v, want the end of 2027-03-31", got)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("empty.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.Env(time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "report" || *c.MaxChanges != 5 || env.KeyMaxAge != 90*24*time.Hour || !env.SkipManagedFirewalls ||
		env.TrustedSourceRanges[0].String() != "35.235.240.0/20" || c.Baseline.CISVersion != "5.0" {
		t.Errorf("defaults: %+v, env %+v", c, env)
	}
	if len(c.Rules()) == 0 {
		t.Error("no rules enabled by default")
	}
}

func TestParseReportsEveryProblemWithLine(t *testing.T) {
	in := `mode: apply
maxChanges: -1
unknownKey: 1
baseline:
  trustedSourceRanges: [0.0.0.0/0]
  cisVersion: "9.9"
  disabledRules: [firewall-open-ingress, nope]
exemptions:
  - resource: ""
    reason: " "
    expires: tomorrow
`
	_, err := Parse("c.yaml", []byte(in))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *config.Error", err)
	}
	want := []string{
		"c.yaml:2: maxChanges: must be 0 or more",
		"c.yaml:3: field unknownKey not found",
		"c.yaml:5: baseline.trustedSourceRanges[0]: 0.0.0.0/0 is the whole internet",
		`c.yaml:6: baseline.cisVersion: "9.9" is not a CIS benchmark version`,
		`c.yaml:7: baseline.disabledRules[1]: no rule is named "nope"`,
		"c.yaml:9: exemptions[0].resource: is required",
		"c.yaml:10: exemptions[0].reason: is required",
		`c.yaml:11: exemptions[0].expires: "tomorrow" is not a date`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ce.Problems), len(want), msg)
	}
}

func TestParseBrokenYAML(t *testing.T) {
	_, err := Parse("c.yaml", []byte("scope:\n  projects: [a\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:") {
		t.Fatalf("got %v, want an error naming the file and line", err)
	}
	_, err = Parse("c.yaml", []byte("maxChanges: lots\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:1:") {
		t.Fatalf("got %v, want an error naming line 1", err)
	}
}

func TestScopeAllows(t *testing.T) {
	anc := []string{"projects/42", "folders/7", "organizations/1"}
	for _, tc := range []struct {
		scope   Scope
		project string
		want    bool
	}{
		{Scope{}, "p1", true},
		{Scope{Exclude: []string{"p1"}}, "p1", false},
		{Scope{Exclude: []string{"projects/p1"}}, "p1", false},
		{Scope{Exclude: []string{"folders/7"}}, "p1", false},
		{Scope{Exclude: []string{"folders/8"}}, "p1", true},
		{Scope{Include: []string{"folders/7"}}, "p1", true},
		{Scope{Include: []string{"p2"}}, "p1", false},
		{Scope{Include: []string{"folders/7"}, Exclude: []string{"p1"}}, "p1", false},
		{Scope{Include: []string{"folders/7"}}, "", true}, // the folder's own policy
	} {
		if got := tc.scope.Allows(tc.project, anc); got != tc.want {
			t.Errorf("%+v allows %q: %v, want %v", tc.scope, tc.project, got, tc.want)
		}
	}
}

func TestIaCStateSettings(t *testing.T) {
	c, err := Parse("c.yaml", []byte("iac:\n  roots: [envs/prod]\n  workspaces: [default, blue]\n  states:\n    - {root: envs/prod, bucket: corp-tfstate, prefix: terraform/prod}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.IaC.StateWorkspaces(); !slices.Equal(got, []string{"default", "blue"}) {
		t.Errorf("workspaces %v", got)
	}
	if d, _ := Parse("c.yaml", nil); !slices.Equal(d.IaC.StateWorkspaces(), []string{"default"}) {
		t.Errorf("default workspaces %v", d.IaC.StateWorkspaces())
	}
	in := `iac:
  workspaces: [default, "blue green"]
  states:
    - root: ../prod
      bucket: Corp_TFState
    - root: envs/prod
      bucket: corp-tfstate
      prefix: ../x
    - root: envs/prod/
      bucket: corp-tfstate
`
	_, err = Parse("c.yaml", []byte(in))
	want := []string{
		`c.yaml:2: iac.workspaces[1]: "blue green" is not a Terraform workspace name`,
		`c.yaml:4: iac.states[0].root: "../prod" is not a folder inside the repository`,
		`c.yaml:5: iac.states[0].bucket: "Corp_TFState" is not a Cloud Storage bucket name`,
		`c.yaml:8: iac.states[1].prefix: "../x" is not an object prefix`,
		`c.yaml:9: iac.states[2].root: "envs/prod/" is given twice`,
	}
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != len(want) {
		t.Fatalf("got %v, want %d problems", err, len(want))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%s", w, err)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		spec, zone string
		from, want time.Time
	}{
		{"*/30 * * * *", "", start.Add(time.Minute), start.Add(30 * time.Minute)},
		{"@every 45m", "", start, start.Add(45 * time.Minute)},
		{"@daily", "", start, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		{"0 9 * * 1-5", "Europe/Paris", start, time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)},
	} {
		s, err := ParseSchedule(tc.spec, tc.zone)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got := s.Next(tc.from); !got.Equal(tc.want) {
			t.Errorf("%q in %q after %s: %s, want %s", tc.spec, tc.zone, tc.from, got.UTC(), tc.want)
		}
	}
	for _, tc := range []struct{ spec, zone, want string }{
		{"*/30 * * *", "", `schedule "*/30 * * *"`},
		{"0 0 * * * *", "", "want five cron fields"},
		{"@sometimes", "", `schedule "@sometimes"`},
		{"@hourly", "Mars/Olympus", `time zone "Mars/Olympus"`},
		{"TZ=UTC @hourly", "", "scheduleTimeZone"},
	} {
		if _, err := ParseSchedule(tc.spec, tc.zone); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q, %q) = %v, want an error with %q", tc.spec, tc.zone, err, tc.want)
		}
	}
}

func TestScheduleIsValidated(t *testing.T) {
	_, err := Parse("c.yaml", []byte("mode: report\nschedule: \"*/30 * * *\"\nscheduleTimeZone: Mars/Olympus\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3: scheduleTimeZone: time zone \"Mars/Olympus\"") {
		t.Fatalf("got %v, want the time zone named at line 3", err)
	}
	_, err = Parse("c.yaml", []byte("mode: report\nschedule: \"*/30 * * *\"\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:2: schedule: schedule \"*/30 * * *\"") {
		t.Fatalf("got %v, want the schedule named at line 2", err)
	}
	if c, err := Parse("c.yaml", []byte("schedule: \"@every 10m\"\nscheduleTimeZone: Europe/Paris\n")); err != nil || c.ScheduleTimeZone != "Europe/Paris" {
		t.Fatalf("valid schedule: %v", err)
	}
}

func TestLedgerURLFromEnvironment(t *testing.T) {
	c := &Config{Ledger: "sqlite:///var/lib/zerodrift/ledger.db"}
	env := map[string]string{}
	if got := c.LedgerURL(func(k string) string { return env[k] }); got != c.Ledger {
		t.Errorf("without the variable: %s", got)
	}
	env[LedgerEnv] = "postgres://zerodrift:secret@db/zerodrift"
	if got := c.LedgerURL(func(k string) string { return env[k] }); got != env[LedgerEnv] {
		t.Errorf("with the variable: %s", got)
	}
}

func TestOrgWideScopeIsValidated(t *testing.T) {
	c, err := Parse("c.yaml", []byte("scope:\n  organization: organizations/123\n  folders: [\"456\", folders/789]\n"))
	if err != nil || c.Scope.Organization != "organizations/123" || len(c.Scope.Folders) != 2 {
		t.Fatalf("valid scope: %v %+v", err, c)
	}
	_, err = Parse("c.yaml", []byte("scope:\n  organization: acme.example\n  folders: [prod]\n"))
	for _, want := range []string{`c.yaml:2: scope.organization: "acme.example" is not an organization number`, `c.yaml:3: scope.folders[0]: "prod" is not a folder number`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

// scope.export is a Cloud Storage folder, and only exports an organization or folders.
func TestScopeExport(t *testing.T) {
	for _, in := range []string{
		"scope:\n  organization: \"123\"\n  export: gs://zerodrift-exports/scans\n",
		"scope:\n  folders: [folders/456]\n  export: gs://zerodrift-exports\n",
	} {
		c, err := Parse("c.yaml", []byte(in))
		if err != nil || !strings.HasPrefix(c.Scope.Export, "gs://zerodrift-exports") {
			t.Errorf("%s: %+v, %v", in, c, err)
		}
	}
	for in, want := range map[string]string{
		"scope:\n  organization: \"123\"\n  export: zerodrift-exports/scans\n":  `c.yaml:3: scope.export: export destination "zerodrift-exports/scans" is not gs://BUCKET`,
		"scope:\n  organization: \"123\"\n  export: gs://Exports/scans\n":       `c.yaml:3: scope.export: export destination "gs://Exports/scans": "Exports" is not a Cloud Storage bucket name`,
		"scope:\n  folders: [\"4\"]\n  export: gs://zerodrift-exports/a/../b\n": `c.yaml:3: scope.export: export destination "gs://zerodrift-exports/a/../b": the prefix "a/../b" is not a folder`,
		"scope:\n  projects: [p]\n  export: gs://zerodrift-exports/scans\n":     "c.yaml:3: scope.export: exports scope.organization or scope.folders through Cloud Asset Inventory, and neither is set",
		"scope:\n  export: gs://zerodrift-exports/scans\n":                      "c.yaml:2: scope.export: exports scope.organization or scope.folders",
	} {
		_, err := Parse("c.yaml", []byte(in))
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want one problem: %s", in, err, want)
		}
	}
	if _, err := Parse("c.yaml", []byte("gcp:\n  endpoints: {storage: \"https://storage.example\"}\n")); err != nil {
		t.Errorf("gcp.endpoints.storage: %v", err)
	}
}

// A secret in the wrong field is named by its field, never echoed: a token pasted into
// github.tokenEnv and a password in a malformed ledger URL reach no error message.
func TestMisplacedSecretsAreNotEchoed(t *testing.T) {
	const token, password = "ghp_CANARY0123456789abcdefghijklmnopqrst", "pa55-CANARY-word"
	_, err := Parse("c.yaml", []byte("ledger: mysql://zd:"+password+"@db/zd\ngithub:\n  repository: acme/infra\n  tokenEnv: "+token+"\n"))
	if err == nil {
		t.Fatal("accepted a token as tokenEnv and a mysql ledger")
	}
	for _, want := range []string{"c.yaml:1: ledger: is not a ledger URL", "c.yaml:4: github.tokenEnv: is not an environment variable name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), password) {
		t.Errorf("the error echoes a secret: %v", err)
	}
	g := GitHub{TokenEnv: token}
	if _, err := g.Token(func(string) string { return "" }); err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("Token with a token as tokenEnv: %v", err)
	}
	g.TokenEnv = "ZD_GITHUB_TOKEN"
	if _, err := g.Token(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "ZD_GITHUB_TOKEN is not set") {
		t.Errorf("Token with the variable unset: %v, want it named", err)
	}
}

// github.writeInterval paces pull request writes; 0s turns the pause off, and a negative or
// unreadable one is an error at its line.
func TestGitHubWriteInterval(t *testing.T) {
	c, err := Parse("c.yaml", []byte("github:\n  writeInterval: 0s\n"))
	if err != nil || c.GitHub.WriteInterval == nil || *c.GitHub.WriteInterval != 0 {
		t.Fatalf("writeInterval: 0s gave %v, %v", c.GitHub.WriteInterval, err)
	}
	if c, err := Parse("c.yaml", nil); err != nil || c.GitHub.WriteInterval != nil {
		t.Fatalf("no writeInterval gave %v, %v, want it left to the client's default", c.GitHub.WriteInterval, err)
	}
	_, err = Parse("c.yaml", []byte("github:\n  writeInterval: -1s\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:2: github.writeInterval: must be 0s or more") {
		t.Errorf("writeInterval: -1s gave %v", err)
	}
	_, err = Parse("c.yaml", []byte("github:\n  writeInterval: soon\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:2:") {
		t.Errorf("writeInterval: soon gave %v, want an error at line 2", err)
	}
}
