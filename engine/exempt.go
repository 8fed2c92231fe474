package engine

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/rules"
)

// ExemptLabel is the resource (or project) label that exempts a resource from every rule;
// its value should say why.
const ExemptLabel = "zerodrift-exempt"

// exemptions matches findings against the configured exemptions at one moment.
type exemptions struct {
	now     time.Time
	entries []exemption
}

type exemption struct {
	config.Exemption
	index   int
	pattern *regexp.Regexp
}

// newExemptions compiles the configured exemptions; a resource pattern's * matches any run
// of characters, slashes included.
func newExemptions(list []config.Exemption, now time.Time) *exemptions {
	x := &exemptions{now: now}
	for i, e := range list {
		expr := "^" + strings.ReplaceAll(regexp.QuoteMeta(e.Resource), `\*`, ".*") + "$"
		x.entries = append(x.entries, exemption{Exemption: e, index: i, pattern: regexp.MustCompile(expr)})
	}
	return x
}

// match returns the unexpired exemption that covers the finding, if any.
func (x *exemptions) match(f *rules.Finding) (*exemption, bool) {
	for i := range x.entries {
		e := &x.entries[i]
		if !e.pattern.MatchString(f.Resource) {
			continue
		}
		if len(e.Rules) > 0 && !slices.Contains(e.Rules, f.Rule) && !slices.Contains(e.Rules, "*") {
			continue
		}
		if !x.now.Before(e.ExpiresAt()) {
			continue // expired: no longer exempts, and is reported on its own
		}
		return e, true
	}
	return nil, false
}

// ExpiredRule is the ID of the pseudo-rule that reports an expired exemption.
const ExpiredRule = "exemption-expired"

// expired reports each expired exemption as a finding, so the team reviews it.
func (x *exemptions) expired() []rules.Finding {
	m := &rules.Meta{ID: ExpiredRule, Title: "Exemption has expired", Severity: rules.SeverityLow, Category: "EXEMPTION_EXPIRED"}
	var out []rules.Finding
	for _, e := range x.entries {
		if x.now.Before(e.ExpiresAt()) {
			continue
		}
		id := rules.FindingID(ExpiredRule, e.Resource, fmt.Sprintf("%d %s %v", e.index, e.Expires, e.Rules))
		out = append(out, rules.Finding{
			ID: id, Rule: ExpiredRule, Title: m.Title, Severity: m.Severity, Category: m.Category, CIS: []string{},
			Resource: e.Resource, Project: projectOf(e.Resource),
			Evidence: map[string]any{
				"exemption": fmt.Sprintf("exemptions[%d]", e.index), "rules": e.Rules, "reason": e.Reason,
				"owner": e.Owner, "expires": e.Expires,
			},
		})
	}
	return out
}

// projectOf reads the project ID out of a full resource name, if it has one.
func projectOf(resource string) string {
	_, rest, ok := strings.Cut(resource, "/projects/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if strings.ContainsAny(id, "*") {
		return ""
	}
	return id
}
