package iac

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Many IaC repositories run `terraform fmt -check` on every pull request, so the lines a
// zerodrift patch writes must be formatted as terraform fmt formats them. The tests here run
// the terraform CLI when it is on PATH (the fixtures need no provider: terraform fmt only
// parses HCL), and batch its invocations: every file of a check goes into one temporary
// directory that one terraform process formats or checks.

// terraformCLI returns the path of the terraform CLI, or skips the test when it is not on
// PATH.
func terraformCLI(t *testing.T) string {
	t.Helper()
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skipf("terraform is not on PATH (%v): the check that patches are formatted as terraform fmt formats them needs it", err)
	}
	return tf
}

// runTerraformFmt writes files (any key to content) into a new temporary directory, one .tf
// file each, runs `terraform fmt ARGS .` there once, and returns the directory, the file
// name of each key, terraform's standard output and its exit code. terraform's standard
// error (a warning about a missing CLI configuration file, for one) is only reported when
// the exit code is not one of okCodes.
func runTerraformFmt(t *testing.T, tf string, files map[string][]byte, args []string, okCodes ...int) (dir string, names map[string]string, stdout string, code int) {
	t.Helper()
	dir = t.TempDir()
	names = make(map[string]string, len(files))
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		names[k] = strconv.Itoa(i) + ".tf"
		if err := os.WriteFile(filepath.Join(dir, names[k]), files[k], 0o600); err != nil {
			t.Fatalf("writing %s for terraform fmt: %v", k, err)
		}
	}
	cmd := exec.Command(tf, append(append([]string{"fmt"}, args...), ".")...)
	cmd.Dir = dir
	// No update check: the test runs offline and quickly.
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	default:
		t.Fatalf("running terraform fmt %s: %v", strings.Join(args, " "), err)
	}
	if !slices.Contains(okCodes, code) {
		t.Fatalf("terraform fmt %s exited with %d:\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return dir, names, out.String(), code
}

// terraformFormat returns what terraform fmt makes of each file: it formats them all in
// place with one terraform process.
func terraformFormat(t *testing.T, tf string, files map[string][]byte) map[string][]byte {
	t.Helper()
	dir, names, _, _ := runTerraformFmt(t, tf, files, []string{"-list=false"}, 0)
	out := make(map[string][]byte, len(files))
	for k, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("reading %s formatted by terraform fmt: %v", k, err)
		}
		out[k] = b
	}
	return out
}

// terraformUnformatted returns, sorted, the keys of the files `terraform fmt -check` rejects,
// checking them all with one terraform process.
func terraformUnformatted(t *testing.T, tf string, files map[string][]byte) []string {
	t.Helper()
	_, names, stdout, code := runTerraformFmt(t, tf, files, []string{"-check", "-list=true"}, 0, 3)
	byName := make(map[string]string, len(names))
	for k, name := range names {
		byName[name] = k
	}
	var out []string
	for _, line := range strings.Fields(stdout) {
		k, ok := byName[filepath.Base(line)]
		if !ok {
			t.Fatalf("terraform fmt -check listed %q, which is not one of the checked files", line)
		}
		out = append(out, k)
	}
	if (code == 3) != (len(out) > 0) {
		t.Fatalf("terraform fmt -check exited with %d but listed %q", code, out)
	}
	slices.Sort(out)
	return out
}

// runPatchCase indexes src as tc's fixture file and writes tc's edit into it.
func runPatchCase(t *testing.T, tc patchCase, src []byte) (*Patch, error) {
	t.Helper()
	ix := loadOne(t, tc.file, src)
	if len(ix.Problems) > 0 {
		return nil, fmt.Errorf("indexing %s: problems %v", tc.file, ix.Problems)
	}
	m := ix.Owner(tc.assetType, tc.resource, tc.evidence)
	if m.Status != Managed {
		return nil, fmt.Errorf("owner of %s in %s: %s (%s)", tc.resource, tc.file, m.Status, m.Why)
	}
	p, err := ix.Patch(m, tc.edit, tc.params, tc.evidence)
	if err != nil {
		return nil, fmt.Errorf("%s on %s in %s: %w", tc.edit, m.Address, tc.file, err)
	}
	return p, nil
}

// TestPatchTerraformFmt checks that every patch of TestPatchGolden's cases writes lines
// formatted as terraform fmt formats them, in two ways.
//
// Several fixtures are deliberately formatted oddly, to prove that Patch keeps the bytes it
// does not edit, so the whole patched file need not be terraform fmt clean. Instead, with I
// the fixture, O the patched file and fmt(x) what `terraform fmt` makes of x, the test
// compares them line by line: terraform fmt changes the spacing inside lines, not the number
// of lines, so line k of fmt(x) is what terraform fmt makes of line k of x (the test fails,
// saying so, for a file where that does not hold). The line diff I→O, the one in the patch's
// Diff, splits O into lines the patch kept and lines it added or changed:
//
//   - every added or changed line of O must be its line of fmt(O): the patch writes what
//     terraform fmt would, indentation and the alignment of = with the neighbouring
//     attributes included;
//   - every kept line of O that terraform fmt changes must come from a line of I terraform
//     fmt changes too: an edit must not leave its untouched neighbours misformatted (an
//     attribute added to an aligned group must not need the group realigned).
//
// Then what a repository that runs terraform fmt -check in CI holds: the test formats each
// fixture with terraform fmt, writes the same edit into it, and requires `terraform fmt
// -check` to accept the whole patched file.
//
// terraform runs twice in all: once to format every fixture and patched file, once to check
// every patch of a formatted fixture.
func TestPatchTerraformFmt(t *testing.T) {
	tf := terraformCLI(t)
	cases := patchCases()
	fixtures := map[string][]byte{}
	files := map[string][]byte{}
	outs := make([]*Patch, len(cases))
	for i, tc := range cases {
		if fixtures[tc.file] == nil {
			src, err := os.ReadFile(path.Join("testdata/patch", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			fixtures[tc.file] = src
			files["fixture "+tc.file] = src
		}
		p, err := runPatchCase(t, tc, fixtures[tc.file])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		outs[i] = p
		files["patched "+tc.name] = p.After
	}
	formatted := terraformFormat(t, tf, files)

	clean := map[string][]byte{}
	for i, tc := range cases {
		checkFmtLines(t, tc.name, outs[i].Before, outs[i].After, formatted["fixture "+tc.file], formatted["patched "+tc.name])
		p, err := runPatchCase(t, tc, formatted["fixture "+tc.file])
		if err != nil {
			t.Errorf("%s on the fixture formatted by terraform fmt: %v", tc.name, err)
			continue
		}
		clean[tc.name] = p.After
	}
	for _, name := range terraformUnformatted(t, tf, clean) {
		i := slices.IndexFunc(cases, func(tc patchCase) bool { return tc.name == name })
		t.Errorf("%s: the patch of %s formatted by terraform fmt is not terraform fmt clean:\n%s",
			name, cases[i].file, unifiedDiff(cases[i].file, clean[name], terraformFormat(t, tf, map[string][]byte{name: clean[name]})[name]))
	}
}

// checkFmtLines checks, as TestPatchTerraformFmt documents, that the lines the patch of
// before into after added or changed are formatted as terraform fmt formats them (fBefore
// and fAfter are what terraform fmt makes of before and after), and that the lines it kept
// are no worse formatted than they were.
func checkFmtLines(t *testing.T, name string, before, after, fBefore, fAfter []byte) {
	t.Helper()
	in, out := splitLines(string(before)), splitLines(string(after))
	fIn, fOut := splitLines(string(fBefore)), splitLines(string(fAfter))
	if len(fIn) != len(in) || len(fOut) != len(out) {
		t.Errorf("%s: terraform fmt changed the number of lines (%d to %d before the patch, %d to %d after): "+
			"the line by line check does not hold", name, len(in), len(fIn), len(out), len(fOut))
		return
	}
	for _, op := range diffLines(in, out) {
		switch op.kind {
		case '+':
			if out[op.b] != fOut[op.b] {
				t.Errorf("%s: line %d, written by the patch, is not formatted as terraform fmt formats it:\n-%s+%s",
					name, op.b+1, out[op.b], fOut[op.b])
			}
		case ' ':
			if out[op.b] != fOut[op.b] && in[op.a] == fIn[op.a] {
				t.Errorf("%s: line %d, kept by the patch, was formatted as terraform fmt formats it and no longer is:\n-%s+%s",
					name, op.b+1, out[op.b], fOut[op.b])
			}
		}
	}
}

// scenarioEditParams returns the parameter sets TestScenarioTerraformFmt tries for an edit:
// the playbook catalogue's defaults, and, where an edit takes more, variants of them.
func scenarioEditParams(edit string, evidence map[string]any) []map[string]any {
	switch edit {
	case EditReplaceWorldSourceRanges:
		return []map[string]any{iap(), {"ranges": []string{"35.235.240.0/20", "10.0.0.0/8"}}}
	case EditEnableFirewallLogging:
		return []map[string]any{nil, {"metadata": "EXCLUDE_ALL_METADATA"}}
	case EditAddDenyFirewall:
		return []map[string]any{nil, {"ports": []string{"22", "udp:3389"}, "priorityOffset": 10}}
	case EditEnableSubnetFlowLogs:
		return []map[string]any{nil, flowLogs()}
	case EditSetAuditConfig:
		return []map[string]any{auditParams()}
	case EditAddEgressDeny:
		return []map[string]any{{"priority": 65535}, {"name": "deny-all-egress", "priority": 65000}}
	case EditSetInstanceMetadata:
		key, _ := evidence["metadataKey"].(string)
		if key == "" {
			key = "serial-port-enable"
		}
		return []map[string]any{metadataParam(key, "FALSE")}
	}
	return []map[string]any{nil}
}

// TestScenarioTerraformFmt writes every edit zerodrift can make in the built-in sandbox's
// Terraform, which is terraform fmt clean, and requires `terraform fmt -check` to accept
// each patched file entirely. The edits are every edit Patch knows, with the parameter sets
// scenarioEditParams lists, written into the declaration of every finding of the scenario
// and of every resource and IAM grant of its assets that Terraform declares; those Patch
// refuses are not edits zerodrift can make. One terraform process checks them all, with the
// original of each patched file, which must be clean for the check to mean anything.
func TestScenarioTerraformFmt(t *testing.T) {
	tf := terraformCLI(t)
	ix := loadScenario(t)
	queries := scenarioQueries(t)
	for _, f := range scenarioFindings(t) {
		queries = append(queries, scenarioQuery{"finding " + f.Rule + " " + f.Resource, f.AssetType, f.Resource, findingEvidence(f)})
	}
	files := map[string][]byte{}
	seen := map[string]bool{} // the patched files already checked
	patches, managed := 0, 0
	for _, q := range queries {
		m := ix.Owner(q.assetType, q.resource, q.evidence)
		if m.Status != Managed {
			continue
		}
		managed++
		made := 0
		for _, edit := range Edits() {
			for i, params := range scenarioEditParams(edit, q.evidence) {
				p, err := ix.Patch(m, edit, params, q.evidence)
				if err != nil {
					continue
				}
				made++
				files["original "+p.File] = p.Before
				if !seen[string(p.After)] {
					seen[string(p.After)] = true
					files[fmt.Sprintf("%s: %s (parameters %d) on %s in %s", q.key, edit, i, m.Address, p.File)] = p.After
					patches++
				}
			}
		}
		// Every declaration zerodrift maps can at least be removed: one it cannot edit at all
		// would leave this test checking nothing of it.
		if made == 0 {
			t.Errorf("%s: managed by %s, but Patch makes no edit of it", q.key, m.Address)
		}
	}
	if managed == 0 {
		t.Fatal("no finding or resource of the scenario is declared in its Terraform")
	}
	t.Logf("checking %d distinct patches of %d queries with a managed declaration", patches, managed)
	for _, key := range terraformUnformatted(t, tf, files) {
		if strings.HasPrefix(key, "original ") {
			t.Errorf("%s: the scenario's file is not terraform fmt clean, so its patches cannot be judged", key)
			continue
		}
		fixed := terraformFormat(t, tf, map[string][]byte{key: files[key]})[key]
		t.Errorf("%s: terraform fmt -check rejects the patched file:\n%s", key, unifiedDiff("patched", files[key], fixed))
	}
}
