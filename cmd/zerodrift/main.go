// Command zerodrift keeps Google Cloud on a zero-trust baseline: it reads live state or a
// Cloud Asset Inventory export, finds drift, and reports it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zerodrift/zerodrift/internal/failpoint"
)

func main() {
	// Failpoints (tests only) are read once, here, and passed down.
	fps, err := failpoint.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zerodrift: %v\n", err)
		os.Exit(exitFailed)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}, fps)
	stop()
	os.Exit(code)
}
