// Package scan runs rules over the assets of a source and gathers a report: the findings,
// what was skipped and why, and what could not be read.
package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// Options configure a scan.
type Options struct {
	Rules []rules.Rule
	Env   *rules.Env
	// CISVersion selects the CIS benchmark version whose control numbers findings carry.
	CISVersion string
	// InScope, when set, drops the assets it returns false for: they are neither judged
	// nor counted.
	InScope func(a *inventory.Asset) bool
	// LabelKeys are resource labels to remember (e.g. zerodrift-exempt), per resource and
	// per project, for the decisions that follow the scan.
	LabelKeys []string
	// Partial says the assets are a part of the inventory (an event and its context):
	// rules that judge sets of assets together (rules.SetRule) do not run.
	Partial bool
}

// Report is the result of a scan. Its JSON form is a contract scripts rely on.
type Report struct {
	Findings []rules.Finding         `json:"findings"`
	Skipped  []rules.Skip            `json:"skipped"`
	Errors   []inventory.SourceError `json:"errors"`
	Summary  Summary                 `json:"summary"`
	Rules    map[string]*rules.Meta  `json:"-"` // the rules that ran, by ID, for reports
	// Labels holds the values of Options.LabelKeys found on resources, by full resource
	// name; a project's labels are also kept under "projects/PROJECT_ID". Only resources
	// of the types the rules read, and projects, are sure to be there: Run reads no other
	// resource's data from a source that can leave it out (inventory.DataNarrower).
	Labels map[string]map[string]string `json:"-"`
}

// Summary counts what the scan saw.
type Summary struct {
	Source       string         `json:"source"`
	Assets       int            `json:"assets"`
	Projects     int            `json:"projects"`
	Findings     int            `json:"findings"`
	BySeverity   map[string]int `json:"bySeverity"`
	ByRule       map[string]int `json:"byRule"`
	Skipped      int            `json:"skipped"`
	Errors       int            `json:"errors"`
	CISBenchmark string         `json:"cisBenchmark"`
}

// Scanner evaluates assets one at a time, so a source can stream into it.
type Scanner struct {
	opts     Options
	byType   map[string][]rules.Rule
	tallies  map[string][]ruleTally // by asset type
	finish   []ruleTally            // every tally once, in rule order
	finished bool
	results  rules.Results
	errs     []inventory.SourceError
	assets   int
	projects map[string]struct{}
	numbers  map[string]string // "projects/NUMBER" → project ID, learnt from project assets
	labels   map[string]map[string]string
	// quotedLabelKeys are the LabelKeys in quotes, as they appear in resource data.
	quotedLabelKeys [][]byte
}

// New builds a scanner.
func New(opts Options) *Scanner {
	if opts.CISVersion == "" {
		opts.CISVersion = rules.DefaultCISVersion
	}
	s := &Scanner{opts: opts, byType: map[string][]rules.Rule{}, projects: map[string]struct{}{}, numbers: map[string]string{},
		labels: map[string]map[string]string{}}
	for _, k := range opts.LabelKeys {
		s.quotedLabelKeys = append(s.quotedLabelKeys, []byte(`"`+k+`"`))
	}
	s.tallies = map[string][]ruleTally{}
	for _, r := range opts.Rules {
		if sr, ok := r.(rules.SetRule); ok {
			if opts.Partial {
				continue
			}
			rt := ruleTally{id: r.Meta().ID, t: sr.Tally(opts.Env)}
			s.finish = append(s.finish, rt)
			for _, t := range r.Meta().AssetTypes {
				s.tallies[t] = append(s.tallies[t], rt)
			}
			continue
		}
		for _, t := range r.Meta().AssetTypes {
			s.byType[t] = append(s.byType[t], r)
		}
	}
	return s
}

// ruleTally is the tally of one set rule in a scan.
type ruleTally struct {
	id string
	t  rules.Tally
}

// AssetTypes lists the asset types the configured rules read, sorted.
func (s *Scanner) AssetTypes() []string {
	var out []string
	for t := range s.byType {
		out = append(out, t)
	}
	for t := range s.tallies {
		if _, ok := s.byType[t]; !ok {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// dataTypes lists the asset types whose resource data the scanner reads: those its rules
// read, and projects (for their numbers and labels). The labels of other resources are of
// no use: exemptions are looked up for the resources of findings and their projects.
func (s *Scanner) dataTypes() []string {
	types := s.AssetTypes()
	if !slices.Contains(types, inventory.TypeProject) {
		types = append(types, inventory.TypeProject)
	}
	return types
}

// Add evaluates one asset. A rule that cannot judge it records an error and the scan goes on.
func (s *Scanner) Add(a *inventory.Asset) error {
	if s.opts.InScope != nil && !s.opts.InScope(a) {
		return nil
	}
	if a.Context {
		// Only the set rules, which judge other assets with it, see a context asset.
		for _, rt := range s.tallies[a.AssetType] {
			if err := rt.t.Add(a); err != nil {
				s.ruleFailed(rt.id, a, err)
			}
		}
		return nil
	}
	s.assets++
	if a.AssetType == inventory.TypeProject {
		s.learnProject(a)
	}
	s.learnLabels(a)
	for _, r := range s.byType[a.AssetType] {
		if err := r.Evaluate(s.opts.Env, a, &s.results); err != nil {
			s.ruleFailed(r.Meta().ID, a, err)
		}
	}
	for _, rt := range s.tallies[a.AssetType] {
		if err := rt.t.Add(a); err != nil {
			s.ruleFailed(rt.id, a, err)
		}
	}
	return nil
}

// ruleFailed records that rule id could not judge a (nil: the set of assets it tallied).
func (s *Scanner) ruleFailed(id string, a *inventory.Asset, err error) {
	se := inventory.SourceError{Service: "rule " + id, Reason: "invalid", Message: err.Error()}
	if a != nil {
		se.Project, se.Resource = a.Project(), a.Name
	}
	s.errs = append(s.errs, se)
}

// finishTallies lets the set rules judge what they tallied, once.
func (s *Scanner) finishTallies() {
	if s.finished {
		return
	}
	s.finished = true
	for _, rt := range s.finish {
		if err := rt.t.Finish(&s.results); err != nil {
			s.ruleFailed(rt.id, nil, err)
		}
	}
}

// learnProject remembers a project's number and ID, so findings on IAM-policy-only lines
// (named by number) report the project ID.
func (s *Scanner) learnProject(a *inventory.Asset) {
	p, err := a.ProjectData()
	if err != nil || p.ProjectID == "" {
		return
	}
	number := p.ProjectNumber
	if number == "" {
		number = a.ShortName()
	}
	s.numbers["projects/"+number] = p.ProjectID
}

// learnLabels remembers the labels of interest an asset carries. Most assets carry none, so
// the data is searched for the keys before it is decoded.
func (s *Scanner) learnLabels(a *inventory.Asset) {
	if len(s.opts.LabelKeys) == 0 || a.Resource == nil || !bytes.Contains(a.Resource.Data, []byte(`"labels"`)) {
		return
	}
	found := false
	for _, k := range s.quotedLabelKeys {
		if bytes.Contains(a.Resource.Data, k) {
			found = true
		}
	}
	if !found {
		return
	}
	var d struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal(a.Resource.Data, &d); err != nil {
		return // the rules report malformed data
	}
	kept := map[string]string{}
	for _, k := range s.opts.LabelKeys {
		if v, ok := d.Labels[k]; ok {
			kept[k] = v
		}
	}
	if len(kept) == 0 {
		return
	}
	s.labels[a.Name] = kept
	if a.AssetType == inventory.TypeProject {
		if p := a.Project(); p != "" {
			s.labels["projects/"+p] = kept
		}
	}
}

// AddErrors records problems reported by the source.
func (s *Scanner) AddErrors(errs []inventory.SourceError) { s.errs = append(s.errs, errs...) }

// Report finishes the scan: findings deduplicated by ID and sorted deterministically.
func (s *Scanner) Report(source string) *Report {
	s.finishTallies()
	r := &Report{
		Findings: make([]rules.Finding, 0, len(s.results.Findings)),
		Skipped:  slices.Clone(s.results.Skipped),
		Errors:   slices.Clone(s.errs),
		Rules:    map[string]*rules.Meta{},
		Labels:   s.labels,
	}
	for _, rl := range s.opts.Rules {
		r.Rules[rl.Meta().ID] = rl.Meta()
	}
	seen := make(map[string]bool, len(s.results.Findings))
	controls := map[string][]string{} // each rule's CIS controls in the reported version
	for _, f := range s.results.Findings {
		if seen[f.ID] {
			continue // the same drift listed twice in an export
		}
		seen[f.ID] = true
		f.Project = s.projectID(f.Project)
		if m := r.Rules[f.Rule]; m != nil && f.CIS == nil {
			c, ok := controls[f.Rule]
			if !ok {
				c = m.CIS.Controls(s.opts.CISVersion)
				controls[f.Rule] = c
			}
			f.CIS = c
		}
		if f.CIS == nil {
			f.CIS = []string{}
		}
		r.Findings = append(r.Findings, f)
	}
	rules.Sort(r.Findings)
	for i := range r.Skipped {
		r.Skipped[i].Project = s.projectID(r.Skipped[i].Project)
	}
	slices.SortFunc(r.Skipped, func(a, b rules.Skip) int {
		return strings.Compare(a.Project+"\x00"+a.Resource+"\x00"+a.Rule, b.Project+"\x00"+b.Resource+"\x00"+b.Rule)
	})
	projects := map[string]bool{}
	r.Summary = Summary{Source: source, Assets: s.assets, Findings: len(r.Findings), BySeverity: map[string]int{},
		ByRule: map[string]int{}, Skipped: len(r.Skipped), Errors: len(r.Errors), CISBenchmark: "v" + s.opts.CISVersion}
	for _, f := range r.Findings {
		r.Summary.BySeverity[f.Severity.String()]++
		r.Summary.ByRule[f.Rule]++
		if f.Project != "" {
			projects[f.Project] = true
		}
	}
	for _, p := range s.numbers {
		projects[p] = true
	}
	r.Summary.Projects = len(projects)
	return r
}

func (s *Scanner) projectID(p string) string {
	if id, ok := s.numbers[p]; ok {
		return id
	}
	return p
}

// Run reads every asset of src through a new scanner and returns its report. It fails only
// when the source cannot run at all; partial failures are in Report.Errors.
//
// With more than one CPU to run on, the source reads (and decodes) on a goroutine of its own
// while the rules judge what it has read, the assets passing between them in batches, in
// the order the source gives them; with one, the source calls Add directly.
func Run(ctx context.Context, src inventory.Source, opts Options) (*Report, error) {
	s := New(opts)
	if n, ok := src.(inventory.DataNarrower); ok {
		// The rules read resources through the typed accessors only; the labels of
		// interest are looked for in the raw data, which then has to be kept.
		src = n.NarrowData(s.dataTypes(), len(opts.LabelKeys) == 0)
	}
	var errs []inventory.SourceError
	var err error
	if runtime.GOMAXPROCS(0) > 1 {
		errs, err = s.readPipelined(ctx, src)
	} else {
		errs, err = src.Read(ctx, s.Add)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src.Describe(), err)
	}
	s.AddErrors(errs)
	return s.Report(src.Describe()), nil
}

// pipelineBatch is the number of assets handed from the source's goroutine to the rules'
// at a time: enough to make the hand-over cheap, few enough to keep memory flat.
const pipelineBatch = 256

// readPipelined reads src on a goroutine of its own and adds its assets here, in order. A
// panic of the source is raised again here, where Run was called; should judging panic, the
// source is stopped.
func (s *Scanner) readPipelined(ctx context.Context, src inventory.Source) ([]inventory.SourceError, error) {
	full := make(chan []*inventory.Asset, 4)
	empty := make(chan []*inventory.Asset, 6)
	stop := make(chan struct{})
	defer close(stop)
	var errs []inventory.SourceError
	var err error
	var panicked any
	go func() {
		defer close(full)
		defer func() { panicked = recover() }()
		var mu sync.Mutex // a source may call fn from several goroutines, one at a time
		batch := make([]*inventory.Asset, 0, pipelineBatch)
		send := func() bool {
			select {
			case full <- batch:
				return true
			case <-stop:
				return false
			}
		}
		errs, err = src.Read(ctx, func(a *inventory.Asset) error {
			mu.Lock()
			defer mu.Unlock()
			batch = append(batch, a)
			if len(batch) == pipelineBatch {
				if !send() {
					return errJudgingStopped
				}
				select {
				case batch = <-empty:
				default:
					batch = make([]*inventory.Asset, 0, pipelineBatch)
				}
			}
			return nil
		})
		if len(batch) > 0 {
			send()
		}
	}()
	for batch := range full {
		for _, a := range batch {
			_ = s.Add(a) // Add records what it cannot judge and never fails
		}
		clear(batch)
		select {
		case empty <- batch[:0]:
		default:
		}
	}
	if panicked != nil {
		panic(panicked)
	}
	return errs, err
}

// errJudgingStopped stops a source whose assets can no longer be judged.
var errJudgingStopped = errors.New("scan: judging stopped")

// AtOrAbove counts the findings at or above sev.
func (r *Report) AtOrAbove(sev rules.Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity >= sev {
			n++
		}
	}
	return n
}
