package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// firewallsPerProject is a set rule for these tests: a project with more than one
// firewall drifts; a firewall named "broken" cannot be judged.
type firewallsPerProject struct{ meta rules.Meta }

func (r *firewallsPerProject) Meta() *rules.Meta { return &r.meta }
func (r *firewallsPerProject) Evaluate(env *rules.Env, a *inventory.Asset, out *rules.Results) error {
	return rules.JudgeAlone(r, env, a, out)
}
func (r *firewallsPerProject) Tally(*rules.Env) rules.Tally {
	return &countTally{meta: &r.meta, byProject: map[string][]*inventory.Asset{}}
}

type countTally struct {
	meta      *rules.Meta
	byProject map[string][]*inventory.Asset
	finished  int
}

func (t *countTally) Add(a *inventory.Asset) error {
	if strings.HasSuffix(a.Name, "/broken") {
		return errors.New("broken firewall")
	}
	t.byProject[a.Project()] = append(t.byProject[a.Project()], a)
	return nil
}

func (t *countTally) Finish(out *rules.Results) error {
	t.finished++
	for p, as := range t.byProject {
		if len(as) > 1 {
			out.Findings = append(out.Findings, rules.NewFinding(t.meta, as[0], p, map[string]any{"firewalls": len(as), "finishes": t.finished}))
		}
	}
	return nil
}

func firewallLine(project, name string) string {
	return fmt.Sprintf(`{"name":"//compute.googleapis.com/projects/%s/global/firewalls/%s","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":%q}}}`,
		project, name, name)
}

// A set rule sees every asset of its types before it judges, once, whatever the order;
// a scan of part of an inventory leaves it out.
func TestSetRulesJudgeTheWholeScan(t *testing.T) {
	rule := &firewallsPerProject{meta: rules.Meta{ID: "test-firewalls-per-project", Title: "t",
		AssetTypes: []string{inventory.TypeFirewall}}}
	o := Options{Rules: []rules.Rule{rule}, Env: opts.Env}
	if got := New(o).AssetTypes(); len(got) != 1 || got[0] != inventory.TypeFirewall {
		t.Errorf("AssetTypes = %v, want the set rule's type", got)
	}
	rep, err := Run(context.Background(), export(firewallLine("p1", "a"), firewallLine("p2", "a"), firewallLine("p1", "b"),
		firewallLine("p1", "broken")), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Project != "p1" || rep.Findings[0].Evidence["firewalls"] != 2 ||
		rep.Findings[0].Evidence["finishes"] != 1 {
		t.Fatalf("findings %+v, want one on p1 with its 2 firewalls, finished once", rep.Findings)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Service != "rule test-firewalls-per-project" ||
		!strings.HasSuffix(rep.Errors[0].Resource, "/broken") {
		t.Errorf("errors %+v, want the broken firewall named", rep.Errors)
	}

	s := New(Options{Rules: []rules.Rule{rule}, Env: opts.Env, Partial: true})
	for _, name := range []string{"a", "b"} {
		a := &inventory.Asset{Name: "//compute.googleapis.com/projects/p1/global/firewalls/" + name, AssetType: inventory.TypeFirewall}
		if err := s.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	if rep := s.Report("event"); len(rep.Findings) != 0 {
		t.Errorf("a partial scan ran the set rule: %+v", rep.Findings)
	}
}

// A context asset (an ancestor another shard owns) reaches the set rules only: it is
// neither judged by the other rules nor counted.
func TestContextAssetsFeedOnlyTheSetRules(t *testing.T) {
	set := &firewallsPerProject{meta: rules.Meta{ID: "test-firewalls-per-project", Title: "t",
		AssetTypes: []string{inventory.TypeFirewall}}}
	s := New(Options{Rules: append([]rules.Rule{set}, rules.Default()...), Env: opts.Env})
	open := func(name string, context bool) *inventory.Asset {
		return &inventory.Asset{Name: "//compute.googleapis.com/projects/p1/global/firewalls/" + name, AssetType: inventory.TypeFirewall,
			Context: context, Resource: &inventory.Resource{Data: []byte(`{"name":"` + name + `","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`)}}
	}
	for _, a := range []*inventory.Asset{open("mine", false), open("theirs", true)} {
		if err := s.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	rep := s.Report("test")
	if rep.Summary.Assets != 1 {
		t.Errorf("counted %d assets, want 1: the context asset is not counted", rep.Summary.Assets)
	}
	var setFindings int
	for _, f := range rep.Findings {
		if strings.HasSuffix(f.Resource, "/theirs") {
			t.Errorf("the context asset was judged: %s", f.Rule)
		}
		if f.Rule == set.meta.ID {
			setFindings++
			if f.Evidence["firewalls"] != 2 {
				t.Errorf("the set rule saw %v firewalls, want both", f.Evidence["firewalls"])
			}
		}
	}
	if setFindings != 1 {
		t.Errorf("%d set rule findings, want 1", setFindings)
	}
}
