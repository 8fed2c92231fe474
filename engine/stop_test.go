package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/engine"
)

// A stop request (SIGTERM in serve) ends the run before the next finding and records the
// run as stopped, with how far it got; nothing already decided is lost.
func TestStopEndsTheRunAndRecordsWhereItStopped(t *testing.T) {
	f := newFixture(t, nil, "maxChanges: 50\n")
	stop := make(chan struct{})
	close(stop)
	res, err := f.engine.Run(context.Background(), f.src, engine.RunOptions{Apply: true, MaxChanges: -1, Stop: stop})
	if !errors.Is(err, engine.ErrStopped) {
		t.Fatalf("run returned %v, want ErrStopped", err)
	}
	if res == nil || len(res.Findings) == 0 || len(res.Decisions) != 0 {
		t.Fatalf("result %+v, want findings and no decision", res)
	}
	run, err := f.store.GetRun(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "stopped" || !strings.Contains(string(run.Summary), "stopped after 0 of") {
		t.Errorf("ledger run %s %s, want stopped with where", run.Status, run.Summary)
	}
	// The next run goes through.
	if res := f.run(true, -1); len(res.Decisions) == 0 {
		t.Error("the run after the stopped one decided nothing")
	}
}
