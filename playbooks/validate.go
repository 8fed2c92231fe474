package playbooks

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// maxNameLen bounds metadata.name, so it fits a Kubernetes label value and a branch name.
const maxNameLen = 63

// validate checks what the decoder cannot: required fields, names, enums, and that rules,
// actions, parameters, preconditions and Terraform edits exist and fit together. It
// records problems on d and fills in defaults (effect) and typed parameters on p.
func (c *catalog) validate(d *docDecoder, p *Playbook) {
	switch {
	case p.APIVersion == "":
		d.at("apiVersion", "is required: %s", APIVersion)
	case p.APIVersion != APIVersion:
		d.at("apiVersion", "%q is not supported: want %s", p.APIVersion, APIVersion)
	}
	switch {
	case p.Kind == "":
		d.at("kind", "is required: %s", Kind)
	case p.Kind != Kind:
		d.at("kind", "%q is not supported: want %s", p.Kind, Kind)
	}
	validateMetadata(d, &p.Metadata)

	s := &p.Spec
	var ruleMetas []*rules.Meta
	if len(s.Fixes) == 0 {
		d.at("spec.fixes", "is required: a list of {rule, when} naming the findings the playbook fixes")
	}
	for i := range s.Fixes {
		if m := c.validateFix(d, fmt.Sprintf("spec.fixes[%d]", i), &s.Fixes[i]); m != nil && !slices.Contains(ruleMetas, m) {
			ruleMetas = append(ruleMetas, m)
		}
	}

	seen := map[string]bool{}
	for i, name := range s.Preconditions {
		path := fmt.Sprintf("spec.preconditions[%d]", i)
		pre, ok := LookupPrecondition(name)
		switch {
		case !ok:
			d.at(path, "no precondition is named %q: want %s", name, orList(preconditionNames(), "or"))
		case seen[name]:
			d.at(path, "%s is listed twice", name)
		default:
			checkFits(d, path, name+" is about", pre.AssetTypes, ruleMetas)
		}
		seen[name] = true
	}

	if len(s.Actions) == 0 {
		d.at("spec.actions", "is required: a list of {action, params}, run in order")
	}
	for i := range s.Actions {
		validateStep(d, fmt.Sprintf("spec.actions[%d]", i), &s.Actions[i], ruleMetas)
	}

	switch {
	case s.Effect == "" && !d.malformed("spec.effect"):
		s.Effect = EffectResolves
	case !slices.Contains(Effects(), s.Effect):
		d.at("spec.effect", "%q is not an effect: want resolves, contains or observes", s.Effect)
	}
	switch {
	case s.Risk == "":
		d.at("spec.risk", "is required: low, medium or high")
	case !slices.Contains(Risks(), s.Risk):
		d.at("spec.risk", "%q is not a risk: want low, medium or high", s.Risk)
	}
	switch {
	case !d.present("spec.rank"):
		d.at("spec.rank", "is required: 0 or more; the lowest-ranked playbook that fits a finding is preferred")
	case s.Rank < 0:
		d.at("spec.rank", "must be 0 or more, got %d", s.Rank)
	}
	if s.Terraform != nil {
		validateTerraform(d, s.Terraform)
	}
}

func validateMetadata(d *docDecoder, m *Metadata) {
	switch {
	case m.Name == "":
		d.at("metadata.name", "is required: lower-case letters, digits and dashes, e.g. firewall-restrict-sources")
	case !validName(m.Name):
		d.at("metadata.name", "%q is not a playbook name: want lower-case letters, digits and dashes, starting and ending with a letter or digit, at most %d characters", m.Name, maxNameLen)
	}
	switch {
	case strings.TrimSpace(m.Title) == "":
		d.at("metadata.title", "is required: what the playbook does, in one line")
	case strings.ContainsFunc(m.Title, unicode.IsControl):
		d.at("metadata.title", "must be one line of text without control characters")
	}
	if strings.ContainsFunc(m.Description, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		d.at("metadata.description", "must be plain text: no control characters but newlines and tabs")
	}
}

// validName reports whether s is lower-case letters, digits and dashes, starting and ending
// with a letter or digit, at most maxNameLen long.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// validateFix checks one entry of spec.fixes and returns its rule, when it is known.
func (c *catalog) validateFix(d *docDecoder, path string, f *Fix) *rules.Meta {
	var m *rules.Meta
	switch {
	case f.Rule == "":
		d.at(path+".rule", "is required: the ID of the rule whose findings the playbook fixes")
	case c.rules[f.Rule] == nil:
		d.at(path+".rule", "no rule is named %q: want %s", f.Rule, orList(c.ids, "or"))
	default:
		m = c.rules[f.Rule]
	}
	if f.When == nil {
		return m
	}
	if m != nil {
		cats := ruleCategories(m)
		for i, cat := range f.When.Categories {
			if !slices.Contains(cats, cat) {
				d.at(fmt.Sprintf("%s.when.categories[%d]", path, i), "%q is not a category of %s findings: want %s",
					cat, m.ID, orList(cats, "or"))
			}
		}
		if len(f.When.Ports) > 0 && !slices.Contains(m.AssetTypes, inventory.TypeFirewall) {
			d.at(path+".when.ports", "narrows only findings on firewall rules, whose evidence lists the exposed ports; %s judges %s",
				m.ID, orList(m.AssetTypes, "and"))
		}
	}
	for i, s := range f.When.Ports {
		if _, err := parsePortMatch(s); err != nil {
			d.at(fmt.Sprintf("%s.when.ports[%d]", path, i), "%v", err)
		}
	}
	return m
}

// ruleCategories lists the categories a rule's findings may have: the rule's own and, for
// a rule on firewalls, the port categories (OPEN_SSH_PORT, ...).
func ruleCategories(m *rules.Meta) []string {
	cats := []string{m.Category}
	if slices.Contains(m.AssetTypes, inventory.TypeFirewall) {
		for _, pc := range rules.PortCategories() {
			if !slices.Contains(cats, pc.Name) {
				cats = append(cats, pc.Name)
			}
		}
	}
	return cats
}

// checkFits reports a rule of ruleMetas that judges none of types (nil types fit all).
func checkFits(d *docDecoder, path, subject string, types []string, ruleMetas []*rules.Meta) {
	if types == nil {
		return
	}
	for _, m := range ruleMetas {
		if !slices.ContainsFunc(m.AssetTypes, func(t string) bool { return slices.Contains(types, t) }) {
			d.at(path, "%s %s resources, but %s judges %s", subject, orList(types, "and"), m.ID, orList(m.AssetTypes, "and"))
		}
	}
}

func validateStep(d *docDecoder, path string, s *Step, ruleMetas []*rules.Meta) {
	spec, ok := LookupAction(s.Action)
	switch {
	case s.Action == "":
		d.at(path+".action", "is required: one of %s", orList(actionNames(), "or"))
		return
	case !ok:
		d.at(path+".action", "no action is named %q: want %s", s.Action, orList(actionNames(), "or"))
		return
	}
	checkFits(d, path+".action", s.Action+" changes", spec.AssetTypes, ruleMetas)
	s.Params = map[string]any{}
	defer func() { s.rawParams = nil }() // typed now; let the node tree go
	for _, rp := range s.rawParams {
		ppath := path + ".params." + rp.name
		ps, ok := spec.Param(rp.name)
		if !ok {
			if len(spec.Params) == 0 {
				d.errorf(rp.keyLine, ppath, "unknown parameter: %s takes none", s.Action)
			} else {
				d.errorf(rp.keyLine, ppath, "unknown parameter of %s: want %s", s.Action, orList(paramNames(spec), "or"))
			}
			continue
		}
		if v, ok := d.param(rp.value, ppath, ps); ok {
			s.Params[rp.name] = v
		}
	}
	for _, ps := range spec.Params {
		if _, given := s.Params[ps.Name]; ps.Required && !given {
			d.at(path+".params."+ps.Name, "is required by %s: %s", s.Action, ps.Description)
		}
	}
	if len(s.Params) == 0 {
		s.Params = nil
	}
}

// param decodes and checks one parameter value against its catalogue entry.
func (d *docDecoder) param(n *yaml.Node, path string, ps ParamSpec) (any, bool) {
	if isNull(n) {
		d.fail(n, path, "has no value: give %s%s", typeText(ps.Type), omitHint(ps))
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "{{") {
		d.fail(n, path, "templates are not supported: write the value%s", omitHint(ps))
		return nil, false
	}
	switch ps.Type {
	case TypeString:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.fail(n, path, "want a string, got %s", kindName(n))
			return nil, false
		}
		if !d.checkText(n, path, ps, n.Value) {
			return nil, false
		}
		return n.Value, true
	case TypeStringList:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list of strings, got %s", kindName(n))
			return nil, false
		}
		if len(n.Content) == 0 {
			d.fail(n, path, "is empty: give at least one value%s", omitHint(ps))
			return nil, false
		}
		list, good := make([]string, 0, len(n.Content)), true
		for i, item := range n.Content {
			item, ipath := deref(item), fmt.Sprintf("%s[%d]", path, i)
			v, ok := d.strictString(item, ipath, ps.Format == FormatPort)
			ok = ok && d.checkText(item, ipath, ps, v)
			good = good && ok
			list = append(list, v)
		}
		if !good {
			return nil, false
		}
		if ps.Format == FormatCIDR {
			if world, ok := rules.CoversInternet(list); ok {
				d.fail(n, path, "%s together cover the whole internet, which is what the fix takes away", orList(world, "and"))
				return nil, false
			}
		}
		return list, true
	case TypeBool:
		return d.boolean(n, path)
	case TypeInt:
		i, ok := d.integer(n, path)
		if !ok {
			return nil, false
		}
		if i < ps.Min || (ps.Max > 0 && i > ps.Max) {
			d.fail(n, path, "must be from %d to %d, got %d", ps.Min, ps.Max, i)
			return nil, false
		}
		return i, true
	case TypeNumber:
		f, ok := d.number(n, path)
		if !ok {
			return nil, false
		}
		if ps.Range != nil && !ps.Range.Contains(f) {
			d.fail(n, path, "must be %s, got %v", ps.Range, f)
			return nil, false
		}
		return f, true
	}
	return nil, false
}

// number decodes a YAML number, integer or not; NaN and the infinities are refused.
func (d *docDecoder) number(n *yaml.Node, path string) (float64, bool) {
	var f float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		d.fail(n, path, "want a number, got %s", kindName(n))
		return 0, false
	}
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.fail(n, path, "%s is not a number zerodrift can hold", n.Value)
		return 0, false
	}
	return f, true
}

// checkText checks a string value (or list entry) against the parameter's enum and format.
func (d *docDecoder) checkText(n *yaml.Node, path string, ps ParamSpec, v string) bool {
	if strings.Contains(v, "{{") {
		d.fail(n, path, "templates are not supported: write the value%s", omitHint(ps))
		return false
	}
	if len(ps.Enum) > 0 && !slices.Contains(ps.Enum, v) {
		d.fail(n, path, "%q is not allowed: want %s", v, orList(ps.Enum, "or"))
		return false
	}
	switch ps.Format {
	case FormatCIDR:
		p, err := netip.ParsePrefix(v)
		if err != nil {
			d.fail(n, path, "%q is not a CIDR range such as 35.235.240.0/20", v)
			return false
		}
		if p.Bits() == 0 {
			d.fail(n, path, "%s is the whole internet, not a trusted range", v)
			return false
		}
	case FormatPort:
		if _, err := parsePortMatch(v); err != nil {
			d.fail(n, path, "%v", err)
			return false
		}
	case FormatResourceName:
		if !validResourceName(v) {
			d.fail(n, path, "%q is not a Compute Engine name: 1 to 63 lowercase letters, digits and hyphens, "+
				"starting with a letter and not ending with a hyphen", v)
			return false
		}
	case FormatRole:
		if !validRole(v) {
			d.fail(n, path, "%q is not an IAM role: want roles/NAME, projects/P/roles/NAME or organizations/O/roles/NAME", v)
			return false
		}
		if rules.IsPrivilegedRole(v) {
			d.fail(n, path, "%s is not narrower: owner, editor and admin roles are what the finding is about", v)
			return false
		}
	}
	return true
}

// validResourceName reports whether s is a Compute Engine resource name (RFC 1035).
func validResourceName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// validRole reports whether s is roles/NAME, projects/P/roles/NAME or
// organizations/O/roles/NAME.
func validRole(s string) bool {
	parts := strings.Split(s, "/")
	for _, p := range parts {
		if p == "" || strings.ContainsFunc(p, unicode.IsSpace) {
			return false
		}
	}
	switch len(parts) {
	case 2:
		return parts[0] == "roles"
	case 4:
		return (parts[0] == "projects" || parts[0] == "organizations") && parts[2] == "roles"
	}
	return false
}

func validateTerraform(d *docDecoder, t *Terraform) {
	edit, ok := LookupTerraformEdit(t.Edit)
	switch {
	case t.Edit == "":
		d.at("spec.terraform.edit", "is required: one of %s", orList(editNames(), "or"))
	case !ok:
		d.at("spec.terraform.edit", "no Terraform edit is named %q: want %s", t.Edit, orList(editNames(), "or"))
	}
	if len(t.ResourceTypes) == 0 {
		d.at("spec.terraform.resourceTypes", "is required: the Terraform resource types the edit applies to, e.g. [google_compute_firewall]")
	}
	for i, rt := range t.ResourceTypes {
		path := fmt.Sprintf("spec.terraform.resourceTypes[%d]", i)
		switch {
		case !validResourceType(rt):
			d.at(path, "%q is not a Terraform resource type of the google provider, such as google_compute_firewall", rt)
		case ok && edit.ResourceTypes != nil && !slices.Contains(edit.ResourceTypes, rt):
			d.at(path, "the %s edit does not apply to %s: want %s", t.Edit, rt, orList(edit.ResourceTypes, "or"))
		}
	}
	if strings.ContainsFunc(t.Description, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		d.at("spec.terraform.description", "must be plain text: no control characters but newlines and tabs")
	}
}

// validResourceType reports whether s looks like a google provider resource type, google_NAME.
func validResourceType(s string) bool {
	rest, ok := strings.CutPrefix(s, "google_")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// omitHint tells how to get an optional parameter's default: ", or leave ranges out for
// its default (...)"; "" for a required parameter.
func omitHint(ps ParamSpec) string {
	if ps.Required {
		return ""
	}
	return fmt.Sprintf(", or leave %s out for its default (%s)", ps.Name, ps.Default)
}

func typeText(t ParamType) string {
	switch t {
	case TypeStringList:
		return "a list of strings"
	case TypeBool:
		return "true or false"
	case TypeInt:
		return "an integer"
	case TypeNumber:
		return "a number"
	}
	return "a string"
}

func actionNames() []string {
	var out []string
	for _, a := range Actions() {
		out = append(out, a.Name)
	}
	return out
}

func preconditionNames() []string {
	var out []string
	for _, p := range Preconditions() {
		out = append(out, p.Name)
	}
	return out
}

func editNames() []string {
	var out []string
	for _, e := range TerraformEdits() {
		out = append(out, e.Name)
	}
	return out
}

func paramNames(a ActionSpec) []string {
	var out []string
	for _, p := range a.Params {
		out = append(out, p.Name)
	}
	return out
}
