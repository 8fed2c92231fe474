// Package catalog describes zerodrift's rules for people and scripts: what each flags, its
// Security Command Center categories, the CIS controls it checks in every benchmark version,
// the playbooks that fix its findings, and whether configuration disables it. It backs
// `zerodrift rules` and the rules table of README.md, which is generated from it.
package catalog

import (
	"cmp"
	"slices"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/playbooks"
	"github.com/zerodrift/zerodrift/rules"
)

// Formats lists the output formats of `zerodrift rules`, in the order help text shows them.
var Formats = []string{"table", "json", "markdown"}

// Entry is one rule of the catalogue. Its JSON form is the contract of
// `zerodrift rules --format json`: every key is always present, lists are never null.
type Entry struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Severity is the rule's default severity; SeverityNote says how findings' severities
	// vary, when they do ("" otherwise).
	Severity     rules.Severity `json:"severity"`
	SeverityNote string         `json:"severityNote"`
	// Categories are the SCC categories findings may carry: Meta.Categories, or the single
	// Meta.Category.
	Categories []string `json:"categories"`
	// CIS holds, for every benchmark version in rules.CISVersions, the controls the rule
	// checks in it ([] when none).
	CIS map[string][]string `json:"cis"`
	// Playbooks fix the rule's findings, gentlest first (by rank, then name).
	Playbooks []Playbook `json:"playbooks"`
	// Unattended is true when one of Playbooks may run unattended.
	Unattended bool `json:"unattended"`
	// Disabled is true when configuration turns the rule off (baseline.disabledRules).
	Disabled    bool     `json:"disabled"`
	AssetTypes  []string `json:"assetTypes"`
	Flags       string   `json:"flags"`
	Description string   `json:"description"`
	Remediation string   `json:"remediation"`
}

// Playbook is a playbook that fixes some or all findings of a rule.
type Playbook struct {
	Name       string `json:"name"`
	Unattended bool   `json:"unattended"`
	// When says, for people, which of the rule's findings the playbook fixes, from its
	// fixes' when (e.g. "SSH, RDP"); "" when it fixes every finding.
	When string `json:"when"`

	rank int
}

// Build describes rules rs in their order (the product's deliberate order), with the
// playbooks of set that fix them and the rules disabled by configuration. A nil set means
// no playbooks; nil rules are left out.
func Build(rs []rules.Rule, set *playbooks.Set, disabled []string) []Entry {
	es := make([]Entry, 0, len(rs))
	for _, r := range rs {
		if r == nil || r.Meta() == nil {
			continue
		}
		m := r.Meta()
		e := Entry{
			ID:           m.ID,
			Title:        m.Title,
			Severity:     m.Severity,
			SeverityNote: m.SeverityNote,
			Categories:   categories(m),
			CIS:          make(map[string][]string, len(rules.CISVersions)),
			Playbooks:    playbooksFor(m.ID, set),
			Disabled:     slices.Contains(disabled, m.ID),
			AssetTypes:   append([]string{}, m.AssetTypes...),
			Flags:        m.Flags,
			Description:  m.Description,
			Remediation:  m.Remediation,
		}
		for _, v := range rules.CISVersions {
			e.CIS[v] = append([]string{}, m.CIS.Controls(v)...)
		}
		for _, p := range e.Playbooks {
			e.Unattended = e.Unattended || p.Unattended
		}
		es = append(es, e)
	}
	return es
}

func categories(m *rules.Meta) []string {
	if len(m.Categories) > 0 {
		return slices.Clone(m.Categories)
	}
	if m.Category != "" {
		return []string{m.Category}
	}
	return []string{}
}

// playbooksFor returns the playbooks of set with a fix naming rule, gentlest first.
func playbooksFor(rule string, set *playbooks.Set) []Playbook {
	out := []Playbook{}
	for _, p := range set.All() {
		when, fixes := whenText(p.Spec.Fixes, rule)
		if !fixes {
			continue
		}
		out = append(out, Playbook{Name: p.Metadata.Name, Unattended: p.Spec.Unattended, When: when, rank: p.Spec.Rank})
	}
	slices.SortStableFunc(out, func(a, b Playbook) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.Name, b.Name))
	})
	return out
}

// whenText reports whether fixes name rule and, if so, describes which of its findings
// they cover: "" for all of them (a fix without when), else each fix's when, joined by
// " or ".
func whenText(fixes []playbooks.Fix, rule string) (string, bool) {
	var parts []string
	found := false
	for _, f := range fixes {
		if f.Rule != rule {
			continue
		}
		found = true
		if f.When == nil || (len(f.When.Categories) == 0 && len(f.When.Ports) == 0) {
			return "", true
		}
		if d := describeWhen(f.When); !slices.Contains(parts, d) {
			parts = append(parts, d)
		}
	}
	return strings.Join(parts, " or "), found
}

// describeWhen writes a when for people: categories and ports by the service they stand
// for where there is one ("SSH, RDP"), both conditions joined by " and ".
func describeWhen(w *playbooks.When) string {
	var conds []string
	if len(w.Categories) > 0 {
		names := make([]string, 0, len(w.Categories))
		for _, c := range w.Categories {
			names = appendOnce(names, serviceName(c))
		}
		conds = append(conds, strings.Join(names, ", "))
	}
	if len(w.Ports) > 0 {
		names := make([]string, 0, len(w.Ports))
		for _, p := range w.Ports {
			names = appendOnce(names, portName(p))
		}
		conds = append(conds, strings.Join(names, ", "))
	}
	return strings.Join(conds, " and ")
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// serviceNames are the services of the SCC port categories, as people name them.
var serviceNames = map[string]string{
	"OPEN_SSH_PORT":                "SSH",
	"OPEN_RDP_PORT":                "RDP",
	"OPEN_TELNET_PORT":             "telnet",
	"OPEN_FTP_PORT":                "FTP",
	"OPEN_SMTP_PORT":               "SMTP",
	"OPEN_HTTP_PORT":               "HTTP",
	"OPEN_POP3_PORT":               "POP3",
	"OPEN_MYSQL_PORT":              "MySQL",
	"OPEN_POSTGRESQL_PORT":         "PostgreSQL",
	"OPEN_REDIS_PORT":              "Redis",
	"OPEN_MONGODB_PORT":            "MongoDB",
	"OPEN_ELASTICSEARCH_PORT":      "Elasticsearch",
	"OPEN_MEMCACHED_PORT":          "Memcached",
	"OPEN_LDAP_PORT":               "LDAP",
	"OPEN_NETBIOS_PORT":            "NetBIOS",
	"OPEN_DIRECTORY_SERVICES_PORT": "directory services",
	"OPEN_DNS_PORT":                "DNS",
	"OPEN_ORACLEDB_PORT":           "OracleDB",
	"OPEN_CASSANDRA_PORT":          "Cassandra",
	"OPEN_CISCOSECURE_WEBSM_PORT":  "Cisco WebSM",
}

// serviceName returns the service a category stands for, or the category itself.
func serviceName(category string) string {
	if s, ok := serviceNames[category]; ok {
		return s
	}
	return category
}

// portName names an entry of when.ports ("22", "20-30", "tcp:22") by the one service it
// reaches ("SSH"), or else as a port ("port 8443", "ports 20-30").
func portName(spec string) string {
	s := strings.TrimSpace(spec)
	protos := []string{"tcp", "udp", "sctp"}
	if proto, rest, ok := strings.Cut(s, ":"); ok {
		protos, s = []string{rules.NormalizeProtocol(proto)}, rest
	}
	r, err := rules.ParsePortRange(s)
	switch {
	case err != nil:
		return "port " + spec
	case r.First != r.Last:
		return "ports " + spec
	}
	entries := make([]inventory.FirewallRule, len(protos))
	for i, p := range protos {
		entries[i] = inventory.FirewallRule{IPProtocol: p, Ports: []string{r.String()}}
	}
	e, err := rules.ParseAllowed(entries)
	if err != nil {
		return "port " + spec
	}
	if cs := rules.MatchPortCategories(e); len(cs) == 1 {
		return serviceName(cs[0].Name)
	}
	return "port " + spec
}

// cisRun is a run of consecutive benchmark versions in which a rule checks the same
// controls.
type cisRun struct {
	first, last string
	controls    []string
}

// cisRuns splits versions (oldest first) into runs of equal controls, leaving out the runs
// without any.
func cisRuns(cis map[string][]string, versions []string) []cisRun {
	var runs []cisRun
	for i, v := range versions {
		c := cis[v]
		if i > 0 && slices.Equal(c, cis[versions[i-1]]) {
			runs[len(runs)-1].last = v
			continue
		}
		runs = append(runs, cisRun{first: v, last: v, controls: c})
	}
	return slices.DeleteFunc(runs, func(r cisRun) bool { return len(r.controls) == 0 })
}

// cisText writes a rule's controls across versions compactly: "3.1" when they are the same
// in every one of versions, "1.5 (v1.1–v4.0), 1.6 (v5.0)" when they change, "—" when there
// are none. Runs are separated by "; " when one of them has several controls.
func cisText(cis map[string][]string, versions []string) string {
	parts := cisParts(cis, versions)
	sep := ", "
	for _, p := range parts {
		if strings.Contains(p, ", ") {
			sep = "; "
		}
	}
	return strings.Join(parts, sep)
}

// cisParts writes the runs of cisText, one a part: ["3.1"] when the controls are the same
// in every one of versions, ["1.5 (v1.1–v4.0)", "1.6 (v5.0)"] when they change, ["—"]
// when there are none.
func cisParts(cis map[string][]string, versions []string) []string {
	runs := cisRuns(cis, versions)
	switch {
	case len(runs) == 0:
		return []string{"—"}
	case len(runs) == 1 && runs[0].first == versions[0] && runs[0].last == versions[len(versions)-1]:
		return []string{strings.Join(runs[0].controls, ", ")}
	}
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = strings.Join(r.controls, ", ") + " (" + versionRange(r.first, r.last) + ")"
	}
	return out
}

// versionRange writes "v1.1–v4.0", or "v5.0" for a single version.
func versionRange(first, last string) string {
	if first == last {
		return "v" + first
	}
	return "v" + first + "–v" + last
}

// severityText is the severity as the catalogue shows it: the note, or the lower-case
// severity.
func (e *Entry) severityText() string {
	if e.SeverityNote != "" {
		return e.SeverityNote
	}
	return strings.ToLower(e.Severity.String())
}

// flagsText is what the rule flags: Flags, or the description when the rule has none.
func (e *Entry) flagsText() string {
	if strings.TrimSpace(e.Flags) != "" {
		return e.Flags
	}
	return e.Description
}
