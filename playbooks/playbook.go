package playbooks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zerodrift/zerodrift/rules"
)

// APIVersion and Kind are the only apiVersion and kind a playbook document may have.
const (
	APIVersion = "zerodrift.dev/v1"
	Kind       = "Playbook"
)

// Playbook is one validated playbook document. Playbooks handed out by a Set are shared:
// treat them as read-only.
type Playbook struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
	// Source says where the playbook was read from.
	Source Source `json:"source"`
	// DeclaredUnattended is set once configuration overrode Spec.Unattended (see
	// Set.WithUnattended): it holds what the playbook file says. nil otherwise.
	DeclaredUnattended *bool `json:"declaredUnattended,omitempty"`
}

// Metadata names and describes a playbook.
type Metadata struct {
	// Name is unique across built-ins and folders: lower-case letters, digits and dashes,
	// starting and ending with a letter or digit, at most 63 characters.
	Name string `json:"name"`
	// Title says what the playbook does in one line.
	Title string `json:"title"`
	// Description explains it in plain text; optional.
	Description string `json:"description,omitempty"`
}

// Spec is what a playbook fixes and how.
type Spec struct {
	// Fixes lists the findings the playbook applies to; a finding matches when it matches
	// any entry.
	Fixes []Fix `json:"fixes"`
	// Preconditions name checks from the precondition catalogue that must all hold before
	// the actions run.
	Preconditions []string `json:"preconditions,omitempty"`
	// Actions run in order, each through the remediators.Action of the same name.
	Actions []Step `json:"actions"`
	// Effect says what the actions achieve; EffectResolves when the file does not say.
	Effect Effect `json:"effect"`
	Risk   Risk   `json:"risk"`
	// Unattended allows the scheduled run to apply the playbook without a human; the file's
	// value unless configuration overrode it. Omitted means false.
	Unattended bool `json:"unattended"`
	// Rank orders the playbooks that fix the same finding: lower is gentler and preferred.
	Rank int `json:"rank"`
	// Terraform says how the same fix is written in Terraform; nil when it cannot be.
	Terraform *Terraform `json:"terraform,omitempty"`
}

// Fix names a rule whose findings the playbook fixes, optionally narrowed.
type Fix struct {
	Rule string `json:"rule"`
	// When narrows the findings; nil matches every finding of the rule.
	When *When `json:"when,omitempty"`
}

// When narrows the findings of a rule; every condition given must hold.
type When struct {
	// Categories holds when the finding's category, or one of evidence.categories, is
	// one of these.
	Categories []string `json:"categories,omitempty"`
	// Ports holds when evidence.exposed exposes one of these ports ("22", "20-30",
	// "tcp:22"; without a protocol, any of tcp, udp and sctp). Port ranges on either side
	// are understood: "22" matches a rule exposing 20-30, and a rule exposing every port.
	Ports []string `json:"ports,omitempty"`
}

// Step is one action of a playbook with its parameters.
type Step struct {
	// Action names an entry of the action catalogue.
	Action string `json:"action"`
	// Params hold the given parameters by name, typed by the catalogue: string, []string,
	// bool or int. Omitted optional parameters are absent (see Resolve).
	Params map[string]any `json:"params,omitempty"`

	rawParams []rawParam // decoded once the action is known
}

// rawParam is a parameter as written, before the action's catalogue entry types it.
type rawParam struct {
	name    string
	keyLine int
	value   *yaml.Node
}

// Terraform says how a playbook's fix is written in Terraform, for the pull-request feature.
type Terraform struct {
	// ResourceTypes are the Terraform resource types the edit applies to.
	ResourceTypes []string `json:"resourceTypes"`
	// Edit names an entry of the Terraform edit catalogue.
	Edit string `json:"edit"`
	// Description says the edit for the pull request's reader; optional.
	Description string `json:"description,omitempty"`
}

// Source says where a playbook was read from.
type Source struct {
	// File is the file's path as given in error messages: "builtin/NAME.yaml" for a
	// built-in, the folder joined with the file's name otherwise.
	File string `json:"file"`
	// Line is the first line of the playbook's document in the file.
	Line int `json:"line"`
	// Builtin is true for the playbooks embedded in zerodrift.
	Builtin bool `json:"builtin"`
	// Text is the playbook's YAML document as written.
	Text string `json:"-"`

	nameLine int // the line of metadata.name, cited by duplicate-name problems
}

// Risk says how likely a playbook's fix is to break something that works.
type Risk string

// Risks, lowest first.
const (
	RiskLow    Risk = "low"
	RiskMedium Risk = "medium"
	RiskHigh   Risk = "high"
)

// Risks lists the valid risks, lowest first.
func Risks() []Risk { return []Risk{RiskLow, RiskMedium, RiskHigh} }

// Effect says what a playbook's actions achieve, which tells the engine how to verify them.
type Effect string

// Effects.
const (
	// EffectResolves: once applied, the rule no longer fires on the resource; the engine
	// verifies by re-running it.
	EffectResolves Effect = "resolves"
	// EffectContains: the resource is left as it is and the exposure is blocked by another
	// resource (a deny rule); the finding stays open, and the engine verifies the action's
	// own result.
	EffectContains Effect = "contains"
	// EffectObserves: nothing is blocked, the drift is made visible (logging); the finding
	// stays open.
	EffectObserves Effect = "observes"
)

// Effects lists the valid effects.
func Effects() []Effect { return []Effect{EffectResolves, EffectContains, EffectObserves} }

// Rules returns the IDs of the rules the playbook fixes, each once, in the order written.
func (p *Playbook) Rules() []string {
	var out []string
	for _, f := range p.Spec.Fixes {
		if !slices.Contains(out, f.Rule) {
			out = append(out, f.Rule)
		}
	}
	return out
}

// Matches reports whether the playbook fixes the finding: one of its fixes names the
// finding's rule and every condition of that fix's when holds.
func (p *Playbook) Matches(f rules.Finding) bool {
	for _, fx := range p.Spec.Fixes {
		if fx.Rule == f.Rule && fx.When.holds(f) {
			return true
		}
	}
	return false
}

// Resolve returns the step's parameters with the omitted ones that default to
// configuration filled in from env (see ConfigDefaults). Defaults that depend on the finding
// (firewall.denyPorts' ports) are the action's, from the evidence. The step is not modified.
func (s *Step) Resolve(env *rules.Env) map[string]any {
	out := make(map[string]any, len(s.Params)+1)
	for k, v := range s.Params {
		if l, ok := v.([]string); ok {
			v = slices.Clone(l)
		}
		out[k] = v
	}
	for k, v := range ConfigDefaults(env)[s.Action] {
		if _, given := out[k]; !given {
			out[k] = v
		}
	}
	return out
}

// ConfigDefaults returns, by action name, the parameters that default to configuration
// when a playbook leaves them out (ParamSpec.DefaultFrom), with their values from env:
// today firewall.restrictSources' ranges, from env.TrustedSourceRanges. It is the shape of
// the engine's Deps.Defaults. Every call builds a new map.
func ConfigDefaults(env *rules.Env) map[string]map[string]any {
	out := map[string]map[string]any{}
	if env == nil {
		return out
	}
	for _, a := range Actions() {
		for _, ps := range a.Params {
			if ps.DefaultFrom != baselineTrustedSourceRanges || len(env.TrustedSourceRanges) == 0 {
				continue
			}
			ranges := make([]string, len(env.TrustedSourceRanges))
			for i, r := range env.TrustedSourceRanges {
				ranges[i] = r.String()
			}
			if out[a.Name] == nil {
				out[a.Name] = map[string]any{}
			}
			out[a.Name][ps.Name] = ranges
		}
	}
	return out
}

// Set is a validated collection of playbooks with unique names. It is never modified once
// built: WithUnattended returns a new Set.
type Set struct {
	list   []*Playbook // by name
	byName map[string]*Playbook
}

// NewSet builds a set from playbooks, which must have distinct names.
func NewSet(pbs []*Playbook) (*Set, error) {
	s := &Set{byName: make(map[string]*Playbook, len(pbs))}
	for _, p := range pbs {
		if p == nil {
			continue
		}
		if q, dup := s.byName[p.Metadata.Name]; dup {
			return nil, fmt.Errorf("playbook %q is defined twice: in %s and in %s", p.Metadata.Name, q.Source.File, p.Source.File)
		}
		s.byName[p.Metadata.Name] = p
		s.list = append(s.list, p)
	}
	slices.SortFunc(s.list, func(a, b *Playbook) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	return s, nil
}

// All returns every playbook, by name.
func (s *Set) All() []*Playbook {
	if s == nil {
		return nil
	}
	return slices.Clone(s.list)
}

// Len returns the number of playbooks.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.list)
}

// Get returns the playbook named name.
func (s *Set) Get(name string) (*Playbook, bool) {
	if s == nil {
		return nil, false
	}
	p, ok := s.byName[name]
	return p, ok
}

// For returns the playbooks that fix the finding, gentlest first: by rank, then by name.
// The engine takes the first it may run (an unattended run, the first that is Unattended).
func (s *Set) For(f rules.Finding) []*Playbook {
	if s == nil {
		return nil
	}
	var out []*Playbook
	for _, p := range s.list {
		if p.Matches(f) {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *Playbook) int {
		return cmp.Or(cmp.Compare(a.Spec.Rank, b.Spec.Rank), strings.Compare(a.Metadata.Name, b.Metadata.Name))
	})
	return out
}

// WithUnattended returns a set in which each playbook named in overrides has Unattended set
// to the given value (and DeclaredUnattended to the file's), as configuration asks; s is
// left as it is. A name that is no playbook is an error, so a typo in the configuration
// does not silently leave a playbook running unattended.
func (s *Set) WithUnattended(overrides map[string]bool) (*Set, error) {
	var unknown []string
	for name := range overrides {
		if _, ok := s.Get(name); !ok {
			unknown = append(unknown, fmt.Sprintf("%q", name))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("unattended overrides name no playbook: %s", strings.Join(unknown, ", "))
	}
	out := &Set{list: make([]*Playbook, 0, s.Len()), byName: make(map[string]*Playbook, s.Len())}
	for _, p := range s.All() {
		if v, ok := overrides[p.Metadata.Name]; ok {
			c := *p
			declared := p.Spec.Unattended
			if p.DeclaredUnattended != nil {
				declared = *p.DeclaredUnattended
			}
			c.DeclaredUnattended = &declared
			c.Spec.Unattended = v
			p = &c
		}
		out.list = append(out.list, p)
		out.byName[p.Metadata.Name] = p
	}
	return out, nil
}
