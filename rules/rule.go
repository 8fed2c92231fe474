// Package rules holds zerodrift's detectors. A rule is a pure function of one asset and an
// Env: no network, no clock but Env.Now, no side effects. That keeps rules fast and
// table-testable, and lets every source (CAI export, live APIs, sandbox) share them.
//
// This package must never import the engine, remediators, the ledger or the sandbox.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// Severity orders findings; it follows Security Command Center's scale.
type Severity int

// Severities, lowest first.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, in any case.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames[1:] {
		if strings.EqualFold(s, n) {
			return Severity(i + 1), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q: want one of low, medium, high, critical", s)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// CIS maps CIS Google Cloud Foundations Benchmark versions to the controls a rule checks.
// A key is the first benchmark version from which its numbering applies, so
// {"1.1": {"1.5"}, "5.0": {"1.6"}} means 1.5 in v1.1 to v4.0 and 1.6 from v5.0 on.
type CIS map[string][]string

// CISVersions lists the benchmark versions zerodrift knows, oldest first.
var CISVersions = []string{"1.1", "1.2", "1.3", "2.0", "3.0", "4.0", "5.0"}

// DefaultCISVersion is the benchmark version reported unless configured otherwise.
const DefaultCISVersion = "5.0"

// Controls returns the rule's controls in benchmark version v (e.g. "5.0"), or nil.
func (c CIS) Controls(v string) []string {
	best := ""
	for from := range c {
		if compareVersions(from, v) <= 0 && (best == "" || compareVersions(from, best) > 0) {
			best = from
		}
	}
	if best == "" {
		return nil
	}
	return c[best]
}

// compareVersions compares dotted numeric versions such as "1.3" and "5.0".
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			fmt.Sscanf(as[i], "%d", &x)
		}
		if i < len(bs) {
			fmt.Sscanf(bs[i], "%d", &y)
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// Meta describes a rule for people and for reports (SARIF rules, the README table).
type Meta struct {
	// ID is stable forever: scripts, exemptions and playbooks name it.
	ID    string
	Title string
	// Description explains the risk; Remediation says what fixes it. Both are plain text.
	Description string
	Remediation string
	// Flags says exactly what the rule flags and which look-alikes it leaves alone, for the
	// catalogue (`zerodrift rules`, the README): Markdown, literal values in code spans.
	Flags string
	// Severity and Category are the defaults; a finding may carry a more precise pair.
	Severity Severity
	Category string
	// Categories lists every category findings may carry, when there are several.
	Categories []string
	// SeverityNote says how findings' severities vary, when they do, e.g.
	// "critical (all ports), high, low".
	SeverityNote string
	CIS          CIS
	// AssetTypes are the CAI asset types the rule inspects; the engine only hands it those.
	AssetTypes []string
	// Playbook names the built-in playbook that fixes a finding of this rule, if any.
	Playbook string
}

// Env is everything a rule may consult besides the asset: the baseline and the clock.
type Env struct {
	// Now is the evaluation time; rules never read the system clock.
	Now time.Time
	// KeyMaxAge is how old a user-managed service account key may be.
	KeyMaxAge time.Duration
	// SkipManagedFirewalls skips firewall rules that GKE and Google services create and
	// reconcile (gke-*, k8s-fw-*, k8s2-*, k8s-*-http-hc); they are listed as skipped instead.
	SkipManagedFirewalls bool
	// TrustedSourceRanges are the ranges the baseline allows as firewall sources.
	TrustedSourceRanges []netip.Prefix
	// AllowedDomains are the domains whose users and groups may hold IAM roles; empty
	// means any domain but the consumer ones (gmail.com and googlemail.com).
	AllowedDomains []string
	// MaxNetworksPerProject is how many VPC networks a project may have.
	MaxNetworksPerProject int
}

// DefaultEnv returns the baseline zerodrift ships with, evaluated at now.
func DefaultEnv(now time.Time) *Env {
	return &Env{
		Now:                   now,
		KeyMaxAge:             90 * 24 * time.Hour,
		SkipManagedFirewalls:  true,
		TrustedSourceRanges:   []netip.Prefix{netip.MustParsePrefix("35.235.240.0/20")},
		MaxNetworksPerProject: 1,
	}
}

// Finding is one instance of drift: a rule, a resource and the exact offending part.
type Finding struct {
	// ID is stable across runs for the same drift: a hash of rule, resource and the
	// offending part (e.g. the role and member of a binding).
	ID       string   `json:"id"`
	Rule     string   `json:"rule"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	Category string   `json:"category"`
	// CIS lists the controls in the reported benchmark version. The engine fills it from
	// Meta.CIS, unless the rule set it because the controls depend on the finding (an open
	// firewall cites 3.6 only when it exposes SSH); such controls must not vary by version.
	CIS       []string `json:"cis"`
	Resource  string   `json:"resource"`
	AssetType string   `json:"assetType"`
	Project   string   `json:"project"`
	// Evidence holds the exact offending values; keys are lower camelCase.
	Evidence map[string]any `json:"evidence"`
	Playbook string         `json:"playbook"`
}

// Skip records an asset a rule deliberately did not judge, with the reason.
type Skip struct {
	Rule     string `json:"rule"`
	Resource string `json:"resource"`
	Project  string `json:"project"`
	Reason   string `json:"reason"`
}

// Results collects what rules produce; rules append to it.
type Results struct {
	Findings []Finding
	Skipped  []Skip
}

// Rule is a detector.
type Rule interface {
	Meta() *Meta
	// Evaluate judges one asset of a type listed in Meta().AssetTypes and appends findings
	// and skips to out. An error means the asset could not be judged (malformed data); the
	// engine reports it and goes on.
	Evaluate(env *Env, a *inventory.Asset, out *Results) error
}

// NewFinding builds a finding of rule m on asset a. offending names the exact drifting part
// within the resource (e.g. "roles/editor serviceAccount:x@p.iam.gserviceaccount.com"), so two
// drifts on one resource get two IDs and the same drift gets the same ID on every run.
func NewFinding(m *Meta, a *inventory.Asset, offending string, evidence map[string]any) Finding {
	return Finding{
		ID:        FindingID(m.ID, a.Name, offending),
		Rule:      m.ID,
		Title:     m.Title,
		Severity:  m.Severity,
		Category:  m.Category,
		Resource:  a.Name,
		AssetType: a.AssetType,
		Project:   a.Project(),
		Evidence:  evidence,
		Playbook:  m.Playbook,
	}
}

// FindingID is the stable ID of a finding: 16 hex digits of SHA-256 over its parts.
func FindingID(rule, resource, offending string) string {
	var buf [512]byte
	b := buf[:0]
	for _, s := range [...]string{rule, resource, offending} {
		b = append(b, s...)
		b = append(b, 0)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Less orders findings deterministically: project, severity (highest first), rule,
// resource, ID.
func Less(a, b *Finding) int {
	if c := strings.Compare(a.Project, b.Project); c != 0 {
		return c
	}
	if a.Severity != b.Severity {
		return int(b.Severity) - int(a.Severity)
	}
	if c := strings.Compare(a.Rule, b.Rule); c != 0 {
		return c
	}
	if c := strings.Compare(a.Resource, b.Resource); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Sort sorts findings with Less.
func Sort(fs []Finding) { slices.SortFunc(fs, func(a, b Finding) int { return Less(&a, &b) }) }
