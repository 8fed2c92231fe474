package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/internal/process"
	"github.com/zerodrift/zerodrift/ledger"
)

const (
	// lockTTL is how long a lock outlives a holder that stopped without releasing it, when
	// nobody can prove the holder dead (it ran on another host or in another container).
	lockTTL = 10 * time.Minute
	// prLockPrefix keeps the locks on findings' pull requests apart from the locks on
	// resources that live changes take.
	prLockPrefix = "zerodrift-pr:"
)

// lockOwner is who holds the locks a run takes: the run, and the process it runs in, so
// that a later run can prove the holder dead.
func (e *Engine) lockOwner(runID string) string {
	if s := e.self.String(); s != "" {
		return runID + "@" + s
	}
	return runID
}

// deadHolder returns the run that holds a lock when its process is proven to have died.
func (e *Engine) deadHolder(holder string) (runID string, dead bool) {
	runID, proc, ok := strings.Cut(holder, "@")
	if !ok {
		return "", false
	}
	id, ok := process.Parse(proc)
	return runID, ok && process.Dead(e.self, id)
}

// lock takes the lock on key for runID. A lock held by a process that died (a crash) is
// taken over at once, and its run, left running, is recorded as failed; tookOver says so,
// since the dead run may have left its work on key half done. A lock held by a live
// process, or by one nobody can prove dead, fails with ledger.ErrLocked until its TTL passes.
func (e *Engine) lock(ctx context.Context, log *zap.Logger, key, runID string) (tookOver bool, err error) {
	owner := e.lockOwner(runID)
	err = e.d.Ledger.Lock(ctx, key, owner, lockTTL, e.d.Now().UTC())
	var held *ledger.LockedError
	if !errors.As(err, &held) {
		return false, err
	}
	deadRun, dead := e.deadHolder(held.Holder)
	if !dead {
		return false, err
	}
	log.Warn("taking over a lock whose holder died", zap.String("lock", key), zap.String("holder", held.Holder))
	// Unlock only removes the dead holder's lock: of several runs taking over at once, one
	// wins the lock below and the others find it held by a live process.
	if err := e.d.Ledger.Unlock(ctx, key, held.Holder); err != nil {
		return false, fmt.Errorf("releasing the lock a dead process held on %s: %w", key, err)
	}
	if err := e.d.Ledger.Lock(ctx, key, owner, lockTTL, e.d.Now().UTC()); err != nil {
		return false, err
	}
	if deadRun != runID {
		e.finishDeadRun(ctx, log, deadRun, runID)
	}
	return true, nil
}

// unlock releases runID's lock on key.
func (e *Engine) unlock(ctx context.Context, log *zap.Logger, key, runID string) {
	if err := e.d.Ledger.Unlock(context.WithoutCancel(ctx), key, e.lockOwner(runID)); err != nil {
		log.Warn("releasing a lock", zap.String("lock", key), zap.Error(err))
	}
}

// finishDeadRun records a run whose process died as failed, when it is still recorded as
// running.
func (e *Engine) finishDeadRun(ctx context.Context, log *zap.Logger, deadRun, runID string) {
	run, err := e.d.Ledger.GetRun(ctx, deadRun)
	if err != nil || run.Status != "running" {
		return
	}
	// The summary holds only what is known: why the run stopped (RunSummary's "stopped").
	summary, err := json.Marshal(map[string]string{"stopped": "the process died before the run ended; found dead by run " + runID})
	if err == nil {
		err = e.d.Ledger.FinishRun(context.WithoutCancel(ctx), deadRun, "failed", summary, e.d.Now().UTC())
	}
	if err != nil {
		log.Warn("recording the end of a run whose process died", zap.String("deadRun", deadRun), zap.Error(err))
		return
	}
	log.Info("recorded a run whose process died as failed", zap.String("deadRun", deadRun))
}
