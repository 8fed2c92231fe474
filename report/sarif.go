package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

// The subset of SARIF 2.1.0 zerodrift writes. GitHub code scanning reads ruleId, level,
// message, the rule's help and its security-severity, and partialFingerprints to follow
// a result across uploads.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Results     []sarifResult     `json:"results"`
	Properties  map[string]any    `json:"properties,omitempty"`
	Invocations []sarifInvocation `json:"invocations,omitempty"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level   string       `json:"level"`
	Message sarifMessage `json:"message"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifMessage    `json:"shortDescription"`
	FullDescription      sarifMessage    `json:"fullDescription"`
	Help                 sarifHelp       `json:"help"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
	Properties           map[string]any  `json:"properties"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation  `json:"physicalLocation"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations"`
}

// sarifPhysicalLocation is required by GitHub code scanning, which rejects a whole upload
// when a result has only a logical location. A cloud resource has no file, so its artifact
// is a stable pseudo-path built from its resource name (gcp/compute.googleapis.com/...).
type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           sarifRegion           `json:"region"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogicalLocation struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// sarifLevel maps severities onto SARIF's three levels.
func sarifLevel(s rules.Severity) string {
	switch {
	case s >= rules.SeverityHigh:
		return "error"
	case s == rules.SeverityMedium:
		return "warning"
	default:
		return "note"
	}
}

// securitySeverity is the CVSS-like score GitHub uses to rank security alerts.
func securitySeverity(s rules.Severity) string {
	switch s {
	case rules.SeverityCritical:
		return "9.5"
	case rules.SeverityHigh:
		return "8.0"
	case rules.SeverityMedium:
		return "5.5"
	default:
		return "3.0"
	}
}

func writeSARIF(w io.Writer, r *scan.Report, opts Options) error {
	ids := make([]string, 0, len(r.Rules))
	for id := range r.Rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	index := map[string]int{}
	driver := sarifDriver{Name: "zerodrift", InformationURI: "https://github.com/zerodrift/zerodrift", Version: opts.Version}
	for i, id := range ids {
		m := r.Rules[id]
		index[id] = i
		cis := m.CIS.Controls(strings.TrimPrefix(r.Summary.CISBenchmark, "v"))
		tags := []string{"security", "gcp", "zero-trust"}
		if m.Category != "" {
			tags = append(tags, m.Category)
		}
		for _, c := range cis {
			tags = append(tags, "CIS-"+c)
		}
		driver.Rules = append(driver.Rules, sarifRule{
			ID: id, Name: ruleName(id),
			ShortDescription: sarifMessage{Text: m.Title},
			FullDescription:  sarifMessage{Text: m.Description},
			Help: sarifHelp{
				Text:     m.Description + "\n\nRemediation: " + m.Remediation,
				Markdown: fmt.Sprintf("**%s**\n\n%s\n\n**Remediation:** %s\n\nSCC category: `%s`. CIS Google Cloud Foundations Benchmark %s: %s.", m.Title, m.Description, m.Remediation, m.Category, r.Summary.CISBenchmark, cisText(cis)),
			},
			DefaultConfiguration: sarifRuleConfig{Level: sarifLevel(m.Severity)},
			Properties:           map[string]any{"tags": tags, "security-severity": securitySeverity(m.Severity), "precision": "high"},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}
	for _, f := range r.Findings {
		evidence, err := json.Marshal(f.Evidence)
		if err != nil {
			return fmt.Errorf("writing SARIF evidence of finding %s: %w", f.ID, err)
		}
		run.Results = append(run.Results, sarifResult{
			RuleID:    f.Rule,
			RuleIndex: index[f.Rule],
			Level:     sarifLevel(f.Severity),
			Message:   sarifMessage{Text: fmt.Sprintf("%s: %s (%s, %s). Evidence: %s", f.Title, f.Resource, f.Category, f.Severity, evidence)},
			Locations: []sarifLocation{{PhysicalLocation: physicalLocation(f, opts.Declared), LogicalLocations: []sarifLogicalLocation{{
				Name: f.Resource[strings.LastIndexByte(f.Resource, '/')+1:], FullyQualifiedName: f.Resource, Kind: "resource",
			}}}},
			PartialFingerprints: map[string]string{"zerodriftFindingId/v1": f.ID},
			Properties: map[string]any{"project": f.Project, "assetType": f.AssetType, "category": f.Category,
				"severity": f.Severity.String(), "cis": f.CIS, "security-severity": securitySeverity(f.Severity)},
		})
	}
	inv := sarifInvocation{ExecutionSuccessful: true}
	for _, e := range r.Errors {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "warning", Message: sarifMessage{Text: e.Error()}})
	}
	run.Invocations = []sarifInvocation{inv}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("writing SARIF: %w", err)
	}
	return nil
}

// physicalLocation is the Terraform block that declares the resource when one does, so
// GitHub annotates the code; otherwise the resource named as a relative gcp/... URI, which
// GitHub accepts as an artifact.
func physicalLocation(f rules.Finding, declared map[string]FileLine) sarifPhysicalLocation {
	if fl, ok := declared[f.ID]; ok && fl.File != "" {
		line := max(fl.Line, 1)
		u := url.URL{Path: strings.TrimPrefix(fl.File, "/")}
		return sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: u.EscapedPath()}, Region: sarifRegion{StartLine: line}}
	}
	u := url.URL{Path: "gcp/" + strings.TrimPrefix(f.Resource, "//")}
	return sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: u.EscapedPath()}, Region: sarifRegion{StartLine: 1}}
}

// ruleName turns "firewall-open-ingress" into "FirewallOpenIngress", SARIF's name style.
func ruleName(id string) string {
	var b strings.Builder
	for _, part := range strings.Split(id, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func cisText(c []string) string {
	if len(c) == 0 {
		return "none"
	}
	return strings.Join(c, ", ")
}
