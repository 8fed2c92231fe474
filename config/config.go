// Package config reads zerodrift's YAML configuration strictly: an unknown key is an error,
// and every problem is reported at once with its line and field path.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/zerodrift/zerodrift/internal/gcspath"
	"github.com/zerodrift/zerodrift/internal/problems"
	"github.com/zerodrift/zerodrift/rules"
)

// Config is the whole configuration file. Field names are the contract in DESIGN.md.
type Config struct {
	Scope      Scope  `yaml:"scope"`
	GCP        GCP    `yaml:"gcp"`
	Mode       string `yaml:"mode"`
	MaxChanges *int   `yaml:"maxChanges"`
	// MaxChangesPerProject bounds live changes in one project per run; 0 means no bound
	// beyond maxChanges.
	MaxChangesPerProject int         `yaml:"maxChangesPerProject"`
	Paused               bool        `yaml:"paused"`
	Ledger               string      `yaml:"ledger"`
	GitHub               GitHub      `yaml:"github"`
	IaC                  IaC         `yaml:"iac"`
	Baseline             Baseline    `yaml:"baseline"`
	Exemptions           []Exemption `yaml:"exemptions"`
	PlaybookDirs         []string    `yaml:"playbookDirs"`
	// UnattendedPlaybooks turns unattended running on or off per playbook name, e.g.
	// {iam-remove-admin-binding: true}.
	UnattendedPlaybooks map[string]bool `yaml:"unattendedPlaybooks"`
	// Schedule is when `zerodrift serve` runs: five cron fields or a descriptor such as
	// "@every 30m" (default "*/30 * * * *"), in ScheduleTimeZone (an IANA name, default UTC).
	Schedule         string `yaml:"schedule"`
	ScheduleTimeZone string `yaml:"scheduleTimeZone"`
	// Events makes serve fix drift as it happens, from a Cloud Asset Inventory feed.
	Events Events `yaml:"events"`
}

// Events is the Pub/Sub subscription a Cloud Asset Inventory real-time feed publishes to.
type Events struct {
	// Subscription is an ID (in Project) or projects/P/subscriptions/S; empty: no events.
	Subscription string `yaml:"subscription"`
	Project      string `yaml:"project"`
	// Concurrency bounds the changes evaluated at once (default 16).
	Concurrency int `yaml:"concurrency"`
}

// ParseSchedule parses a schedule: the five standard cron fields ("*/30 * * * *") or a descriptor
// ("@hourly", "@every 30m"), evaluated in the named IANA time zone (UTC when empty).
func ParseSchedule(spec, timeZone string) (cron.Schedule, error) {
	loc := time.UTC
	if timeZone != "" {
		var err error
		if loc, err = time.LoadLocation(timeZone); err != nil {
			return nil, fmt.Errorf("time zone %q: %w", timeZone, err)
		}
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q: give the time zone in scheduleTimeZone, not in the schedule", spec)
	}
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := p.Parse("CRON_TZ=" + loc.String() + " " + spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w (want five cron fields such as \"*/30 * * * *\" or a descriptor such as \"@every 30m\")", spec, err)
	}
	return s, nil
}

// DefaultSchedule is when serve runs when the configuration does not say.
const DefaultSchedule = "*/30 * * * *"

// LedgerEnv names the environment variable that, when set, replaces the ledger URL of the
// configuration (a PostgreSQL URL with its password, kept in a Kubernetes Secret).
const LedgerEnv = "ZERODRIFT_LEDGER"

// LedgerURL returns the ledger URL: getenv(LedgerEnv) when set, else the configuration's.
func (c *Config) LedgerURL(getenv func(string) string) string {
	if u := getenv(LedgerEnv); u != "" {
		return u
	}
	return c.Ledger
}

// Scope says what to scan.
type Scope struct {
	Projects     []string `yaml:"projects"`
	Organization string   `yaml:"organization"`
	Folders      []string `yaml:"folders"`
	// Include, when set, keeps only what lies in these projects or folders; Exclude drops
	// what lies in them. Entries are project IDs (or projects/ID) and folders/NUMBER.
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// Export, gs://BUCKET/PREFIX, makes the organization and folders read through Cloud Asset
	// Inventory ExportAssets to that folder of a Cloud Storage bucket (each export streamed
	// back, then deleted) instead of ListAssets; only with Organization or Folders.
	Export string `yaml:"export"`
}

// Allows reports whether an asset of project (its ID) with the given ancestors (projects/N,
// folders/N, organizations/N) is in scope. Organization- and folder-level assets have no
// project and are matched by their ancestors only.
func (s Scope) Allows(project string, ancestors []string) bool {
	in := func(list []string) bool {
		for _, e := range list {
			if strings.HasPrefix(e, "folders/") || strings.HasPrefix(e, "organizations/") {
				if slices.Contains(ancestors, e) {
					return true
				}
			} else if project != "" && strings.TrimPrefix(e, "projects/") == project {
				return true
			}
		}
		return false
	}
	if in(s.Exclude) {
		return false
	}
	return len(s.Include) == 0 || in(s.Include)
}

// GCP configures the API clients.
type GCP struct {
	// Endpoint overrides every GCP API base URL (private endpoints, the sandbox).
	Endpoint string `yaml:"endpoint"`
	// Endpoints overrides it per service: compute, cloudresourcemanager, iam, cloudasset,
	// storage.
	Endpoints map[string]string `yaml:"endpoints"`
	// Concurrency bounds how many projects are read at once (default 64).
	Concurrency int `yaml:"concurrency"`
	// QPS caps the requests a second per service (default: cloudresourcemanager 8, whose
	// quota the caller's project pays; compute and iam 1000, paid by each scanned project).
	QPS map[string]float64 `yaml:"qps"`
	// Identity lists zerodrift's own IAM members (e.g.
	// serviceAccount:zerodrift@ops.iam.gserviceaccount.com); no change may remove their access.
	Identity []string `yaml:"identity"`
	// OperationTimeout bounds the wait for a long-running operation (default 2m).
	OperationTimeout time.Duration `yaml:"operationTimeout"`
}

// GitHub configures the IaC repository's pull requests.
type GitHub struct {
	Repository string `yaml:"repository"`
	BaseBranch string `yaml:"baseBranch"`
	// APIURL is GitHub Enterprise's API base URL (https://ghe.example/api/v3/); empty for github.com.
	APIURL string `yaml:"apiURL"`
	// TokenEnv names the environment variable holding a token; TokenFile a file holding one
	// (a mounted Kubernetes secret). App authenticates as a GitHub App instead.
	TokenEnv  string     `yaml:"tokenEnv"`
	TokenFile string     `yaml:"tokenFile"`
	App       *GitHubApp `yaml:"app"`
	// Labels are put on every pull request (created when missing).
	Labels        []string `yaml:"labels"`
	Reviewers     []string `yaml:"reviewers"`
	TeamReviewers []string `yaml:"teamReviewers"`
	Draft         bool     `yaml:"draft"`
	// MaxPRsPerRun bounds the pull requests a run opens (default 10).
	MaxPRsPerRun *int `yaml:"maxPRsPerRun"`
	// CoolOffDays is how long a pull request closed unmerged (a human "no") keeps its finding
	// declined before zerodrift proposes the fix again (default 30).
	CoolOffDays *int `yaml:"coolOffDays"`
	// WriteInterval is the least time between two write requests (default 1s, as GitHub asks
	// of integrations that write much; 0s for a GitHub Enterprise server without that limit).
	WriteInterval *time.Duration `yaml:"writeInterval"`
}

// GitHubApp authenticates as a GitHub App installation.
type GitHubApp struct {
	ID             int64  `yaml:"id"`
	InstallationID int64  `yaml:"installationID"`
	PrivateKeyFile string `yaml:"privateKeyFile"`
}

// IaC locates the Terraform roots in the repository and their state.
type IaC struct {
	Roots []string `yaml:"roots"`
	// Workspaces are the Terraform workspaces whose state is read for every root with a
	// gcs backend (default: just "default"); an object a workspace lacks is skipped.
	Workspaces []string `yaml:"workspaces"`
	// States give the gcs backend of roots whose backend block does not say it (a partial
	// backend configuration passed with -backend-config), or override it.
	States []StateBackend `yaml:"states"`
}

// StateBackend is where one root keeps its Terraform state.
type StateBackend struct {
	Root   string `yaml:"root"`
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
}

// StateWorkspaces returns the workspaces whose state is read, "default" when none is set.
func (c IaC) StateWorkspaces() []string {
	if len(c.Workspaces) == 0 {
		return []string{"default"}
	}
	return c.Workspaces
}

// workspaceName is what terraform workspace new accepts.
var workspaceName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,90}$`)

// envName is the name of an environment variable.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// githubToken is the shape of GitHub's tokens (personal, OAuth, user-to-server,
// server-to-server, refresh, fine-grained), which a variable name cannot have: a name
// of that shape is a token pasted into the wrong field.
var githubToken = regexp.MustCompile(`^(gh[pousr]_|github_pat_)[A-Za-z0-9_]{20,}$`)

// isEnvName reports whether name may name the environment variable holding a token.
func isEnvName(name string) bool { return envName.MatchString(name) && !githubToken.MatchString(name) }

// Baseline tunes the rules.
type Baseline struct {
	TrustedSourceRanges []string `yaml:"trustedSourceRanges"`
	KeyMaxAgeDays       int      `yaml:"keyMaxAgeDays"`
	// SkipManagedFirewalls skips rules GKE and Google services create (default true).
	SkipManagedFirewalls *bool `yaml:"skipManagedFirewalls"`
	// CISVersion selects the benchmark version findings cite (default the newest).
	CISVersion string `yaml:"cisVersion"`
	// DisabledRules turns rules off by ID.
	DisabledRules []string `yaml:"disabledRules"`
	// AllowedDomains are the domains whose users and groups may hold IAM roles
	// (iam-non-org-member); empty: any but the consumer domains (gmail.com, googlemail.com).
	AllowedDomains []string `yaml:"allowedDomains"`
	// MaxNetworksPerProject is how many VPC networks a project may have (network-too-many;
	// default 1).
	MaxNetworksPerProject int `yaml:"maxNetworksPerProject"`
}

// Exemption exempts a resource (a full resource name, or a pattern with *) from rules.
type Exemption struct {
	Resource string   `yaml:"resource"`
	Rules    []string `yaml:"rules"`
	Reason   string   `yaml:"reason"`
	Owner    string   `yaml:"owner"`
	Expires  string   `yaml:"expires"`
}

// Modes lists the valid values of mode.
var Modes = []string{"report", "apply"}

// Default returns the configuration used when no file is given.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Mode == "" {
		c.Mode = "report"
	}
	if c.MaxChanges == nil {
		n := 5
		c.MaxChanges = &n
	}
	if len(c.Baseline.TrustedSourceRanges) == 0 {
		c.Baseline.TrustedSourceRanges = []string{"35.235.240.0/20"}
	}
	if c.Baseline.KeyMaxAgeDays == 0 {
		c.Baseline.KeyMaxAgeDays = 90
	}
	if c.Baseline.SkipManagedFirewalls == nil {
		t := true
		c.Baseline.SkipManagedFirewalls = &t
	}
	if c.Baseline.CISVersion == "" {
		c.Baseline.CISVersion = rules.DefaultCISVersion
	}
	if c.Baseline.MaxNetworksPerProject == 0 {
		c.Baseline.MaxNetworksPerProject = 1
	}
	if c.GCP.OperationTimeout == 0 {
		c.GCP.OperationTimeout = 2 * time.Minute
	}
	if c.GitHub.BaseBranch == "" {
		c.GitHub.BaseBranch = "main"
	}
	if c.GitHub.TokenEnv == "" {
		c.GitHub.TokenEnv = "GITHUB_TOKEN"
	}
	if len(c.GitHub.Labels) == 0 {
		c.GitHub.Labels = []string{"zerodrift", "security"}
	}
	if c.GitHub.MaxPRsPerRun == nil {
		n := 10
		c.GitHub.MaxPRsPerRun = &n
	}
	if c.GitHub.CoolOffDays == nil {
		n := 30
		c.GitHub.CoolOffDays = &n
	}
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File  string
	Line  int
	Field string // e.g. exemptions[1].expires
	Msg   string
}

func (p Problem) String() string { return problems.Format(p.File, p.Line, p.Field, p.Msg) }

// Error lists every problem found in a configuration file.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return problems.List("configuration", "configuration", lines)
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes and validates a configuration; name is used in messages.
func Parse(name string, b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &Error{Problems: []Problem{yamlProblem(name, err.Error(), b)}}
	}
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var problems []Problem
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &Error{Problems: []Problem{yamlProblem(name, err.Error(), b)}}
		}
		for _, e := range te.Errors {
			problems = append(problems, yamlProblem(name, e, b))
		}
	}
	v := validator{file: name, root: &root}
	v.validate(c)
	problems = append(problems, v.problems...)
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
		return nil, &Error{Problems: problems}
	}
	c.applyDefaults()
	return c, nil
}

// yamlProblem places a YAML error on its line of b (see problems.YAML).
func yamlProblem(file, msg string, b []byte) Problem {
	line, text := problems.YAML(msg, b)
	return Problem{File: file, Line: line, Msg: strings.Replace(text, "in type config.", "in ", 1)}
}

// validator checks values the YAML decoder cannot, naming each field and its line.
type validator struct {
	file     string
	root     *yaml.Node
	problems []Problem
}

func (v *validator) add(path string, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Line: v.line(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

// line finds the line of a field path such as "exemptions[1].expires" in the document.
func (v *validator) line(path string) int {
	n := v.root
	if n == nil || len(n.Content) == 0 {
		return 0
	}
	n = n.Content[0]
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			key = part[:i]
			fmt.Sscanf(part[i:], "[%d]", &idx)
		}
		next := (*yaml.Node)(nil)
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					next = n.Content[i+1]
					line = n.Content[i].Line
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
		if idx >= 0 && n.Kind == yaml.SequenceNode && idx < len(n.Content) {
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func (v *validator) validate(c *Config) {
	if _, err := ParseSchedule(cmp.Or(c.Schedule, DefaultSchedule), c.ScheduleTimeZone); err != nil {
		field := "schedule"
		if strings.HasPrefix(err.Error(), "time zone") {
			field = "scheduleTimeZone"
		}
		v.add(field, "%v", err)
	}
	if c.Mode != "" && !slices.Contains(Modes, c.Mode) {
		v.add("mode", "%q is not a mode: want one of %s", c.Mode, strings.Join(Modes, ", "))
	}
	if c.MaxChanges != nil && *c.MaxChanges < 0 {
		v.add("maxChanges", "must be 0 or more, got %d", *c.MaxChanges)
	}
	if c.MaxChangesPerProject < 0 {
		v.add("maxChangesPerProject", "must be 0 (no bound) or more, got %d", c.MaxChangesPerProject)
	}
	for _, list := range []struct {
		name    string
		entries []string
	}{{"scope.include", c.Scope.Include}, {"scope.exclude", c.Scope.Exclude}} {
		for i, e := range list.entries {
			if e == "" || strings.HasPrefix(e, "organizations/") || strings.Count(e, "/") > 1 ||
				(strings.Contains(e, "/") && !strings.HasPrefix(e, "projects/") && !strings.HasPrefix(e, "folders/")) {
				v.add(fmt.Sprintf("%s[%d]", list.name, i), "%q is not a project ID, projects/ID or folders/NUMBER", e)
			}
		}
	}
	for i, r := range c.Baseline.TrustedSourceRanges {
		if _, err := netip.ParsePrefix(r); err != nil {
			v.add(fmt.Sprintf("baseline.trustedSourceRanges[%d]", i), "%q is not a CIDR range such as 35.235.240.0/20", r)
		} else if r == "0.0.0.0/0" || r == "::/0" {
			v.add(fmt.Sprintf("baseline.trustedSourceRanges[%d]", i), "%s is the whole internet, not a trusted range", r)
		}
	}
	for i, d := range c.Baseline.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/: ") || !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
			v.add(fmt.Sprintf("baseline.allowedDomains[%d]", i), "%q is not a domain such as example.com", d)
		}
	}
	if c.Baseline.MaxNetworksPerProject < 0 {
		v.add("baseline.maxNetworksPerProject", "must be at least 1, got %d", c.Baseline.MaxNetworksPerProject)
	}
	if c.Baseline.KeyMaxAgeDays < 0 {
		v.add("baseline.keyMaxAgeDays", "must be a positive number of days, got %d", c.Baseline.KeyMaxAgeDays)
	}
	if cv := c.Baseline.CISVersion; cv != "" && !slices.Contains(rules.CISVersions, cv) {
		v.add("baseline.cisVersion", "%q is not a CIS benchmark version zerodrift knows: want one of %s", cv, strings.Join(rules.CISVersions, ", "))
	}
	known := map[string]bool{}
	for _, r := range rules.Default() {
		known[r.Meta().ID] = true
	}
	for i, id := range c.Baseline.DisabledRules {
		if !known[id] {
			v.add(fmt.Sprintf("baseline.disabledRules[%d]", i), "no rule is named %q", id)
		}
	}
	for i, m := range c.GCP.Identity {
		if kind, _, ok := strings.Cut(m, ":"); !ok || !slices.Contains([]string{"serviceAccount", "user", "group"}, kind) {
			v.add(fmt.Sprintf("gcp.identity[%d]", i), "%q is not an IAM member such as serviceAccount:zerodrift@ops.iam.gserviceaccount.com", m)
		}
	}
	if c.GCP.OperationTimeout < 0 {
		v.add("gcp.operationTimeout", "must be positive, got %v", c.GCP.OperationTimeout)
	}
	if c.GCP.Concurrency < 0 {
		v.add("gcp.concurrency", "must be 0 (default) or more, got %d", c.GCP.Concurrency)
	}
	for svc := range c.GCP.Endpoints {
		if !slices.Contains([]string{"compute", "cloudresourcemanager", "iam", "cloudasset", "storage"}, svc) {
			v.add("gcp.endpoints."+svc, "unknown service: want compute, cloudresourcemanager, iam, cloudasset or storage")
		}
	}
	if r := c.GitHub.Repository; r != "" && strings.Count(r, "/") != 1 {
		v.add("github.repository", "%q is not OWNER/NAME", r)
	}
	if n := c.GitHub.MaxPRsPerRun; n != nil && *n < 0 {
		v.add("github.maxPRsPerRun", "must be 0 or more, got %d", *n)
	}
	if n := c.GitHub.CoolOffDays; n != nil && *n < 0 {
		v.add("github.coolOffDays", "must be 0 or more, got %d", *n)
	}
	if d := c.GitHub.WriteInterval; d != nil && *d < 0 {
		v.add("github.writeInterval", "must be 0s or more, got %v", *d)
	}
	if c.GitHub.TokenEnv != "" && !isEnvName(c.GitHub.TokenEnv) {
		// Not quoted: a token pasted here by mistake must not reach a log.
		v.add("github.tokenEnv", "is not an environment variable name (letters, digits and _, not starting with a digit, and not a GitHub token); the value is not shown, as it may be a token")
	}
	if a := c.GitHub.App; a != nil {
		if a.ID <= 0 {
			v.add("github.app.id", "is required: the GitHub App's numeric ID")
		}
		if a.InstallationID <= 0 {
			v.add("github.app.installationID", "is required: the App installation's numeric ID")
		}
		if a.PrivateKeyFile == "" {
			v.add("github.app.privateKeyFile", "is required: the path of the App's PEM private key")
		}
		if c.GitHub.TokenFile != "" {
			v.add("github.tokenFile", "set either app or tokenFile, not both")
		}
	}
	if o := strings.TrimPrefix(c.Scope.Organization, "organizations/"); c.Scope.Organization != "" && !isNumber(o) {
		v.add("scope.organization", "%q is not an organization number (123456789012 or organizations/123456789012)", c.Scope.Organization)
	}
	for i, f := range c.Scope.Folders {
		if !isNumber(strings.TrimPrefix(f, "folders/")) {
			v.add(fmt.Sprintf("scope.folders[%d]", i), "%q is not a folder number (456 or folders/456)", f)
		}
	}
	if e := c.Scope.Export; e != "" {
		if _, err := gcspath.ParseFolder(e); err != nil {
			v.add("scope.export", "export destination %v", err)
		} else if c.Scope.Organization == "" && len(c.Scope.Folders) == 0 {
			v.add("scope.export", "exports scope.organization or scope.folders through Cloud Asset Inventory, and neither is set: "+
				"set one, or remove scope.export (scope.projects are read project by project)")
		}
	}
	for svc, n := range c.GCP.QPS {
		if n <= 0 {
			v.add("gcp.qps."+svc, "must be more than 0 requests a second, got %v", n)
		}
	}
	if c.Events.Concurrency < 0 {
		v.add("events.concurrency", "must be 0 (the default, 16) or more, got %d", c.Events.Concurrency)
	}
	if sub := c.Events.Subscription; sub != "" && !strings.HasPrefix(sub, "projects/") && c.Events.Project == "" {
		v.add("events.project", "is required when events.subscription (%q) is an ID rather than projects/P/subscriptions/S", sub)
	}
	repoFolder := func(r string) bool {
		return r != "" && !strings.HasPrefix(r, "/") && !slices.Contains(strings.Split(r, "/"), "..")
	}
	for i, r := range c.IaC.Roots {
		if !repoFolder(r) {
			v.add(fmt.Sprintf("iac.roots[%d]", i), "%q is not a folder inside the repository (relative, no ..)", r)
		}
	}
	for i, w := range c.IaC.Workspaces {
		if !workspaceName.MatchString(w) {
			v.add(fmt.Sprintf("iac.workspaces[%d]", i), "%q is not a Terraform workspace name (letters, digits, - and _)", w)
		}
	}
	seenRoots := map[string]bool{}
	for i, st := range c.IaC.States {
		at := fmt.Sprintf("iac.states[%d]", i)
		switch {
		case !repoFolder(st.Root):
			v.add(at+".root", "%q is not a folder inside the repository (relative, no ..)", st.Root)
		case seenRoots[path.Clean(st.Root)]:
			v.add(at+".root", "%q is given twice", st.Root)
		}
		seenRoots[path.Clean(st.Root)] = true
		if !gcspath.ValidBucket(st.Bucket) {
			v.add(at+".bucket", "%q is not a Cloud Storage bucket name", st.Bucket)
		}
		if strings.HasPrefix(st.Prefix, "/") || slices.Contains(strings.Split(st.Prefix, "/"), "..") {
			v.add(at+".prefix", "%q is not an object prefix (relative, no ..)", st.Prefix)
		}
	}
	if c.Ledger != "" && !strings.HasPrefix(c.Ledger, "sqlite://") && !strings.HasPrefix(c.Ledger, "postgres://") && !strings.HasPrefix(c.Ledger, "postgresql://") {
		// Not quoted: a connection string may hold a password.
		v.add("ledger", "is not a ledger URL: want sqlite:///path or postgres://... (the value is not shown, as it may hold a password)")
	}
	for i, e := range c.Exemptions {
		at := fmt.Sprintf("exemptions[%d]", i)
		if e.Resource == "" {
			v.add(at+".resource", "is required: a full resource name such as //compute.googleapis.com/projects/p/global/firewalls/x, or a pattern with *")
		}
		for j, id := range e.Rules {
			if !known[id] && id != "*" {
				v.add(fmt.Sprintf("%s.rules[%d]", at, j), "no rule is named %q", id)
			}
		}
		if strings.TrimSpace(e.Reason) == "" {
			v.add(at+".reason", "is required: say why the resource is exempt")
		}
		if e.Expires == "" {
			v.add(at+".expires", "is required: a date such as 2027-03-31 (exemptions must be reviewed)")
		} else if _, err := time.Parse(time.DateOnly, e.Expires); err != nil {
			v.add(at+".expires", "%q is not a date: want YYYY-MM-DD", e.Expires)
		}
	}
}

// ExpiresAt returns the moment an exemption stops applying: the end of its expiry day, UTC.
func (e Exemption) ExpiresAt() time.Time {
	t, err := time.Parse(time.DateOnly, e.Expires)
	if err != nil {
		return time.Time{}
	}
	return t.Add(24 * time.Hour)
}

// Env turns the baseline into the rules' environment at now.
func (c *Config) Env(now time.Time) (*rules.Env, error) {
	env := rules.DefaultEnv(now)
	env.KeyMaxAge = time.Duration(c.Baseline.KeyMaxAgeDays) * 24 * time.Hour
	if c.Baseline.SkipManagedFirewalls != nil {
		env.SkipManagedFirewalls = *c.Baseline.SkipManagedFirewalls
	}
	env.AllowedDomains = c.Baseline.AllowedDomains
	if c.Baseline.MaxNetworksPerProject > 0 {
		env.MaxNetworksPerProject = c.Baseline.MaxNetworksPerProject
	}
	env.TrustedSourceRanges = nil
	for _, r := range c.Baseline.TrustedSourceRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("baseline.trustedSourceRanges: %w", err)
		}
		env.TrustedSourceRanges = append(env.TrustedSourceRanges, p)
	}
	return env, nil
}

// Rules returns the default rule set less the disabled rules.
func (c *Config) Rules() []rules.Rule {
	var out []rules.Rule
	for _, r := range rules.Default() {
		if !slices.Contains(c.Baseline.DisabledRules, r.Meta().ID) {
			out = append(out, r)
		}
	}
	return out
}

// Token returns the GitHub token from TokenFile or the TokenEnv environment variable. The
// token itself never appears in an error.
func (g GitHub) Token(getenv func(string) string) (string, error) {
	if g.TokenFile != "" {
		b, err := os.ReadFile(g.TokenFile)
		if err != nil {
			return "", fmt.Errorf("github.tokenFile: reading %s: %w", g.TokenFile, err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("github.tokenFile: %s is empty", g.TokenFile)
	}
	if t := strings.TrimSpace(getenv(g.TokenEnv)); t != "" {
		return t, nil
	}
	name := g.TokenEnv
	if !isEnvName(name) {
		name = "it names" // never echo what may be a token pasted in the wrong place
	}
	return "", fmt.Errorf("github.tokenEnv: the environment variable %s is not set (or set github.tokenFile or github.app)", name)
}

func isNumber(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
