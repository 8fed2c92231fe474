package scan

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

func export(lines ...string) inventory.Source {
	return &inventory.ExportSource{Name: "export.json", R: strings.NewReader(strings.Join(lines, "\n"))}
}

var opts = Options{Rules: rules.Default(), Env: rules.DefaultEnv(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))}

const (
	openSSH     = `{"name":"//compute.googleapis.com/projects/p1/global/firewalls/ssh","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":"ssh","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}}}`
	policyLine  = `{"name":"//cloudresourcemanager.googleapis.com/projects/42","asset_type":"cloudresourcemanager.googleapis.com/Project","iam_policy":{"bindings":[{"role":"roles/editor","members":["serviceAccount:ci@p1.iam.gserviceaccount.com"]}]}}`
	projectLine = `{"name":"//cloudresourcemanager.googleapis.com/projects/42","asset_type":"cloudresourcemanager.googleapis.com/Project","resource":{"data":{"projectNumber":"42","projectId":"p1"}}}`
)

func TestRunNamesProjectsByIDEvenWhenThePolicyLineComesFirst(t *testing.T) {
	rep, err := Run(context.Background(), export(policyLine, openSSH, projectLine), opts)
	if err != nil {
		t.Fatal(err)
	}
	// The open SSH rule, which also logs nothing, and the project's policy: an editor
	// service account and no audit configuration (a set rule, judged over the whole scan).
	if got := findingRules(rep.Findings); !slices.Equal(got, []string{
		"firewall-open-ingress", "sa-admin-role", "firewall-logging-disabled", "audit-logging-disabled"}) {
		t.Fatalf("findings of rules %q, want 4: %+v", got, rep.Findings)
	}
	for _, f := range rep.Findings {
		if f.Project != "p1" {
			t.Errorf("finding %s on %s reports project %q, want p1", f.Rule, f.Resource, f.Project)
		}
	}
	if rep.Summary.Projects != 1 || rep.Summary.Assets != 3 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

func TestRunDeduplicatesAndSortsDeterministically(t *testing.T) {
	a, err := Run(context.Background(), export(openSSH, policyLine, openSSH), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), export(policyLine, openSSH), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Findings) != 4 || len(b.Findings) != 4 {
		t.Fatalf("%d and %d findings, want 4 each", len(a.Findings), len(b.Findings))
	}
	for i := range a.Findings {
		if a.Findings[i].ID != b.Findings[i].ID {
			t.Errorf("finding %d: %s vs %s: order depends on input order", i, a.Findings[i].ID, b.Findings[i].ID)
		}
	}
	// Without the project's resource line its policy's findings name it projects/42, after
	// p1; severity decides order within a project: the open SSH rule (high) before its
	// logging (medium), the editor binding (high) before the missing audit logs (low).
	if got := findingRules(a.Findings); !slices.Equal(got, []string{
		"firewall-open-ingress", "firewall-logging-disabled", "sa-admin-role", "audit-logging-disabled"}) {
		t.Errorf("findings in order of rules %q", got)
	}
}

func TestRunFillsCISForTheChosenBenchmarkVersion(t *testing.T) {
	o := opts
	for version, want := range map[string]string{"": "1.6", "5.0": "1.6", "4.0": "1.5", "1.1": "1.5"} {
		o.CISVersion = version
		rep, err := Run(context.Background(), export(policyLine), o)
		if err != nil {
			t.Fatal(err)
		}
		// The editor service account (1.5 until v4.0, 1.6 from v5.0) and the missing audit
		// logs (2.1 in every version).
		if len(rep.Findings) != 2 || rep.Findings[0].Rule != "sa-admin-role" || !slices.Equal(rep.Findings[0].CIS, []string{want}) ||
			rep.Findings[1].Rule != "audit-logging-disabled" || !slices.Equal(rep.Findings[1].CIS, []string{"2.1"}) {
			t.Errorf("CIS %q: got %+v, want control %s for sa-admin-role and 2.1 for audit-logging-disabled", version, rep.Findings, want)
		}
	}
}

func TestRunReportsUnjudgeableAssetsAndGoesOn(t *testing.T) {
	bad := `{"name":"//compute.googleapis.com/projects/p1/global/firewalls/bad","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":"bad","sourceRanges":"0.0.0.0/0"}}}`
	rep, err := Run(context.Background(), export(bad, openSSH), opts)
	if err != nil {
		t.Fatal(err)
	}
	// The good firewall rule is judged (open to the world, logging nothing); the bad one is
	// reported by every rule that reads firewalls.
	if got := findingRules(rep.Findings); !slices.Equal(got, []string{"firewall-open-ingress", "firewall-logging-disabled"}) ||
		len(rep.Errors) != 4 {
		t.Fatalf("findings %+v, errors %+v: want the good rule judged and the bad one reported by the 4 firewall rules", rep.Findings, rep.Errors)
	}
	for _, e := range rep.Errors {
		if e.Resource != "//compute.googleapis.com/projects/p1/global/firewalls/bad" || e.Project != "p1" {
			t.Errorf("error %+v does not name the asset", e)
		}
	}
}

// findingRules lists the rules of findings, in order.
func findingRules(fs []rules.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

func TestRunFailsOnAnUnreadableExport(t *testing.T) {
	_, err := Run(context.Background(), export(openSSH, "{"), opts)
	if err == nil || !strings.Contains(err.Error(), "export.json:2") {
		t.Fatalf("got %v, want an error naming export.json:2", err)
	}
}

func TestAtOrAbove(t *testing.T) {
	rep, err := Run(context.Background(), export(openSSH, policyLine), opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.AtOrAbove(rules.SeverityHigh); n != 2 {
		t.Errorf("%d at or above high, want 2", n)
	}
	if n := rep.AtOrAbove(rules.SeverityCritical); n != 0 {
		t.Errorf("%d at or above critical, want 0", n)
	}
}
