package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/rules"
)

// runRulesCmd runs `zerodrift ARGS...` in-process and returns its exit code and output.
func runRulesCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errOut}, nil)
	return code, out.String(), errOut.String()
}

type ruleJSON struct {
	ID         string `json:"id"`
	Disabled   bool   `json:"disabled"`
	Unattended bool   `json:"unattended"`
	Playbooks  []struct {
		Name       string `json:"name"`
		Unattended bool   `json:"unattended"`
	} `json:"playbooks"`
}

func rulesJSON(t *testing.T, args ...string) []ruleJSON {
	t.Helper()
	code, out, errOut := runRulesCmd(t, append([]string{"rules", "--format", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []ruleJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return got
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zerodrift.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRulesListsEveryRule(t *testing.T) {
	got := rulesJSON(t)
	want := rules.Default()
	if len(got) != len(want) {
		t.Fatalf("%d rules listed, rules.Default() has %d", len(got), len(want))
	}
	for i, r := range want {
		if got[i].ID != r.Meta().ID {
			t.Errorf("rule %d is %q, want %q (rules.Default()'s order)", i, got[i].ID, r.Meta().ID)
		}
		if got[i].Disabled {
			t.Errorf("%s is disabled without a configuration", got[i].ID)
		}
	}
}

func TestRulesConfig(t *testing.T) {
	victim := rules.Default()[1].Meta().ID
	cfg := writeConfig(t, "baseline:\n  disabledRules: ["+victim+"]\nunattendedPlaybooks:\n  firewall-restrict-sources: false\n  firewall-enable-logging: false\n")
	for _, r := range rulesJSON(t, "--config", cfg) {
		if r.Disabled != (r.ID == victim) {
			t.Errorf("%s: disabled = %v", r.ID, r.Disabled)
		}
		if r.ID == "firewall-open-ingress" && r.Unattended {
			t.Errorf("firewall-open-ingress is unattended though the configuration turned its unattended playbooks off: %+v", r.Playbooks)
		}
	}

	code, out, _ := runRulesCmd(t, "rules", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "disabled") {
		t.Errorf("table: exit %d, no rule disabled:\n%s", code, out)
	}
}

func TestRulesFormats(t *testing.T) {
	code, out, errOut := runRulesCmd(t, "rules", "--format", "markdown")
	if code != exitOK || !strings.HasPrefix(out, "| ID | What it flags | SCC category |") {
		t.Errorf("markdown: exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut = runRulesCmd(t, "rules", "--cis-version", "1.1")
	if code != exitOK || !strings.Contains(out, "CIS v1.1") {
		t.Errorf("table --cis-version 1.1: exit %d: %s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rules", "--format", "yaml"}, `--format: "yaml" is not one of table, json, markdown`},
		{[]string{"rules", "--cis-version", "9.9"}, `--cis-version: "9.9" is not a CIS benchmark version`},
		{[]string{"rules", "--format", "json", "--cis-version", "1.1"}, "--cis-version selects the CIS column of the table"},
		{[]string{"rules", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, "reading configuration"},
		{[]string{"rules", "--config", writeConfig(t, "baseline:\n  disabledRules: [no-such-rule]\n")}, `no rule is named "no-such-rule"`},
		{[]string{"rules", "extra"}, "unknown command"},
	} {
		code, out, errOut := runRulesCmd(t, tc.args...)
		if code != exitFailed || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}
