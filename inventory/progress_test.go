package inventory_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zerodrift/zerodrift/inventory"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgressOnATerminalRewritesOneLine(t *testing.T) {
	var out lockedBuffer
	yes := true
	p := inventory.NewProgressReporter(&out, nil, inventory.ProgressOptions{Terminal: &yes})
	p.Projects(1, 4, 10)
	p.Findings(2)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "projects 1/4 (25%) | assets 10 | findings 2") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.Projects(4, 4, 31)
	p.Findings(1)
	p.Close()
	p.Close()
	got := out.String()
	if !strings.Contains(got, "\r\x1b[2Kprojects 1/4 (25%) | assets 10 | findings 2") {
		t.Errorf("no progress line drawn while scanning: %q", got)
	}
	if !strings.HasSuffix(got, "\n") || !strings.Contains(got, "\r\x1b[2Kprojects 4/4 (100%) | assets 31 | findings 3 |") {
		t.Errorf("the last line does not show the end: %q", got)
	}
	if strings.Count(got, "\n") != 1 {
		t.Errorf("the progress spans several lines: %q", got)
	}
}

func TestProgressElsewhereLogs(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	var out lockedBuffer
	p := inventory.NewProgressReporter(&out, zap.New(core), inventory.ProgressOptions{Interval: 10 * time.Millisecond})
	p.Projects(3, 10, 40)
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("scan progress").Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.Close()
	if out.String() != "" {
		t.Errorf("wrote %q to a writer that is not a terminal", out.String())
	}
	if logs.FilterMessage("scan progress").Len() == 0 {
		t.Fatal("no progress logged")
	}
	final := logs.FilterMessage("scan finished").All()
	if len(final) != 1 {
		t.Fatalf("%d final lines logged", len(final))
	}
	f := final[0].ContextMap()
	if f["projectsDone"] != int64(3) || f["projectsTotal"] != int64(10) || f["assets"] != int64(40) {
		t.Errorf("final line %v", f)
	}
}
