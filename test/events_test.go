package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveSandboxEvents starts serve --sandbox --events with config, with no scheduled run due
// during the test, and returns the sandbox's URL, the process and its logs.
func serveSandboxEvents(t *testing.T, config string) (string, *exec.Cmd, chan error, *lockedBuffer) {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "zerodrift.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return serveSandboxEventsWith(t, cfgPath)
}

// serveSandboxEventsWith is serveSandboxEvents with the configuration file at cfgPath and
// more flags.
func serveSandboxEventsWith(t *testing.T, cfgPath string, flags ...string) (string, *exec.Cmd, chan error, *lockedBuffer) {
	t.Helper()
	addr := freeAddr(t)
	serve := startServe(t, nil, append([]string{"--sandbox", "--events", "feed", "--config", cfgPath, "--listen", addr,
		"--jitter", "0", "--leader-election", "off", "--log-format", "json", "--log-level", "info"}, flags...)...)
	logs := serve.logs
	// The sandbox's URL is in the log.
	var sandboxURL string
	waitFor(t, "the sandbox", 30*time.Second, func() bool {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["message"] == "sandbox serving" {
				sandboxURL, _ = line["url"].(string)
			}
		}
		return sandboxURL != "" && strings.Contains(logs.String(), "consuming the asset feed")
	})

	return sandboxURL, serve.cmd, serve.exited, logs
}

// openSSHToTheWorld opens a firewall rule to 0.0.0.0/0 on port 22 through the sandbox's API.
func openSSHToTheWorld(t *testing.T, sandboxURL, name string) {
	t.Helper()
	body := `{"name": "` + name + `", "network": "global/networks/prod-vpc", "sourceRanges": ["0.0.0.0/0"],
	  "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}`
	resp, err := http.Post(sandboxURL+"/compute/v1/projects/acme-prod/global/firewalls", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("opening the firewall: %d", resp.StatusCode)
	}
}

// sourceRangesOf reads a firewall's source ranges from the sandbox; nil when unreadable.
func sourceRangesOf(sandboxURL, name string) []string {
	resp, err := http.Get(sandboxURL + "/compute/v1/projects/acme-prod/global/firewalls/" + name)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var fw struct {
		SourceRanges []string `json:"sourceRanges"`
	}
	if json.NewDecoder(resp.Body).Decode(&fw) != nil {
		return nil
	}
	return fw.SourceRanges
}

// Event mode as a user tries it: serve --sandbox --events, with no scheduled run due, fixes
// a firewall opened to the internet seconds after it is opened.
func TestServeEventsFixesDriftAsItHappens(t *testing.T) {
	sandboxURL, cmd, exited, logs := serveSandboxEvents(t, "mode: apply\nmaxChanges: 50\nschedule: \"@yearly\"\n")
	openSSHToTheWorld(t, sandboxURL, "evt-e2e-ssh")
	opened := time.Now()
	var ranges []string
	waitFor(t, "the event to fix the firewall", 20*time.Second, func() bool {
		ranges = sourceRangesOf(sandboxURL, "evt-e2e-ssh")
		return ranges != nil && !slices.Contains(ranges, "0.0.0.0/0")
	})
	t.Logf("fixed %s after it was opened: source ranges now %v", time.Since(opened).Round(time.Millisecond), ranges)
	if strings.Contains(logs.String(), `"message":"run ended"`) {
		t.Error("a scheduled run ran: the fix should have come from the event")
	}

	stopServe(t, cmd, exited, 40*time.Second)
}

// Invariant 1 in event mode: without mode: apply (or --apply), serve decides but changes
// nothing, whether a change arrives as an event or a scheduled run goes by.
func TestServeEventsWithoutApplyChangesNothing(t *testing.T) {
	sandboxURL, cmd, exited, logs := serveSandboxEvents(t, "maxChanges: 50\nschedule: \"@yearly\"\n")
	openSSHToTheWorld(t, sandboxURL, "evt-e2e-report")
	waitFor(t, "the event's decision", 20*time.Second, func() bool {
		return strings.Contains(logs.String(), "evt-e2e-report")
	})
	time.Sleep(500 * time.Millisecond)
	if ranges := sourceRangesOf(sandboxURL, "evt-e2e-report"); !slices.Contains(ranges, "0.0.0.0/0") {
		t.Errorf("without apply, the firewall was changed: source ranges %v", ranges)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("serve exited with %v", err)
	}
}

// Event mode reads the configuration file again, as a Kubernetes ConfigMap update rewrites
// it: a drift reported under mode: report is fixed once the file says mode: apply, without
// a restart or a scheduled run; a file made invalid is reported and the last good
// configuration kept.
func TestServeEventsReloadsTheConfiguration(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "zerodrift.yaml")
	write := func(config string) {
		t.Helper()
		// Written aside and renamed, as the kubelet swaps a ConfigMap's files.
		tmp := cfgPath + ".new"
		if err := os.WriteFile(tmp, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	write("maxChanges: 50\nschedule: \"@yearly\"\n")
	sandboxURL, cmd, exited, logs := serveSandboxEventsWith(t, cfgPath, "--events-reload", "200ms")

	openSSHToTheWorld(t, sandboxURL, "evt-reload-before")
	waitFor(t, "the event's decision under mode: report", 20*time.Second, func() bool {
		return strings.Contains(logs.String(), "evt-reload-before")
	})

	write("maxChanges: 50\nschedule: [not, a, schedule\n")
	waitFor(t, "the invalid file to be reported", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "keeping the last good one")
	})
	openSSHToTheWorld(t, sandboxURL, "evt-reload-invalid")
	waitFor(t, "the event's decision under the last good configuration", 20*time.Second, func() bool {
		return strings.Contains(logs.String(), "evt-reload-invalid")
	})
	time.Sleep(300 * time.Millisecond)
	for _, name := range []string{"evt-reload-before", "evt-reload-invalid"} {
		if ranges := sourceRangesOf(sandboxURL, name); !slices.Contains(ranges, "0.0.0.0/0") {
			t.Errorf("%s changed under mode: report: source ranges %v", name, ranges)
		}
	}
	if n := strings.Count(logs.String(), "keeping the last good one"); n != 1 {
		t.Errorf("the invalid file was reported %d times, want once", n)
	}

	write("mode: apply\nmaxChanges: 50\nschedule: \"@yearly\"\n")
	waitFor(t, "event mode to reload the configuration", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "event mode reloaded the configuration")
	})
	openSSHToTheWorld(t, sandboxURL, "evt-reload-after")
	waitFor(t, "the event to fix the firewall under mode: apply", 20*time.Second, func() bool {
		ranges := sourceRangesOf(sandboxURL, "evt-reload-after")
		return ranges != nil && !slices.Contains(ranges, "0.0.0.0/0")
	})
	if strings.Contains(logs.String(), `"message":"run ended"`) {
		t.Error("a scheduled run ran: the fix should have come from the event")
	}
	stopServe(t, cmd, exited, 40*time.Second)
}
