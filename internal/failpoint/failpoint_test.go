package failpoint_test

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zerodrift/zerodrift/internal/failpoint"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		value   string
		enabled []failpoint.Name
		err     string
	}{
		{value: ""},
		{value: " , ,"},
		{value: "change.after-plan", enabled: []failpoint.Name{failpoint.ChangeAfterPlan}},
		{value: " pr.after-push ,change.after-lock", enabled: []failpoint.Name{failpoint.PRAfterPush, failpoint.ChangeAfterLock}},
		{value: "change.after-plan,change.before-plan,nope", err: `unknown failpoint "change.before-plan", "nope" (valid: change.after-lock, change.after-plan,`},
	} {
		s, err := failpoint.Parse(tc.value)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), failpoint.EnvVar) {
				t.Errorf("Parse(%q): error %v, want one with %q", tc.value, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.value, err)
			continue
		}
		if len(tc.enabled) == 0 && s != nil {
			t.Errorf("Parse(%q) enabled failpoints; want a nil set", tc.value)
		}
		for _, n := range failpoint.Names() {
			want := false
			for _, e := range tc.enabled {
				want = want || e == n
			}
			if s.Enabled(n) != want {
				t.Errorf("Parse(%q): %s enabled %v, want %v", tc.value, n, s.Enabled(n), want)
			}
		}
	}
}

func TestEveryNameParses(t *testing.T) {
	seen := map[failpoint.Name]bool{}
	for _, n := range failpoint.Names() {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
		s, err := failpoint.FromEnv(func(k string) string {
			if k != failpoint.EnvVar {
				t.Errorf("read %s", k)
			}
			return string(n)
		})
		if err != nil || !s.Enabled(n) {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestNilSetIsDisabled(t *testing.T) {
	var s *failpoint.Set
	s.Hit(failpoint.ChangeAfterPlan) // must not panic nor kill
	if s.Enabled(failpoint.ChangeAfterPlan) || s.WithLogger(zap.NewNop()) != nil || s.WithAction(func(failpoint.Name) {}) != nil {
		t.Error("a nil set is not disabled")
	}
}

func TestHitLogsTheNameThenActs(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s, err := failpoint.Parse("pr.after-create")
	if err != nil {
		t.Fatal(err)
	}
	var hit []failpoint.Name
	s = s.WithLogger(zap.New(core)).WithAction(func(n failpoint.Name) { hit = append(hit, n) })
	s.Hit(failpoint.PRAfterPush)
	s.Hit(failpoint.PRAfterCreate)
	if len(hit) != 1 || hit[0] != failpoint.PRAfterCreate {
		t.Errorf("acted on %v, want only pr.after-create", hit)
	}
	entries := logs.All()
	if len(entries) != 1 || entries[0].ContextMap()["failpoint"] != "pr.after-create" {
		t.Errorf("logged %+v, want one line naming the failpoint", entries)
	}
}

// helperEnv makes the test binary, run again, hit a failpoint for real.
const helperEnv = "ZERODRIFT_FAILPOINT_TEST_HELPER"

func TestHitKillsTheProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		s, err := failpoint.FromEnv(os.Getenv)
		if err != nil {
			os.Exit(2)
		}
		defer os.Stdout.WriteString("a deferred function ran\n")
		s.WithLogger(zap.NewExample()).Hit(failpoint.ChangeAfterApply)
		os.Stdout.WriteString("the process went on after the failpoint\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHitKillsTheProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", failpoint.EnvVar+"=change.after-apply")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the helper did not die: %v\n%s", err, out)
	}
	if runtime.GOOS != "windows" {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("the helper ended with %v, want SIGKILL", ee)
		}
	}
	if !strings.Contains(string(out), `"failpoint":"change.after-apply"`) {
		t.Errorf("the log does not name the failpoint:\n%s", out)
	}
	if strings.Contains(string(out), "went on") || strings.Contains(string(out), "deferred") {
		t.Errorf("code ran after the failpoint:\n%s", out)
	}
}
