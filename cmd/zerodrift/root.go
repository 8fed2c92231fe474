package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/zerodrift/zerodrift/internal/failpoint"
)

// Exit codes: the contract scripts and CI rely on.
const (
	exitOK       = 0
	exitFailed   = 1 // could not run
	exitFindings = 3 // findings at or above --fail-on
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// streams are the process's standard streams, injected so tests run commands in-process.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// exitError carries an exit code other than exitFailed through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// globals are the flags every command shares.
type globals struct {
	configPath string
	logLevel   string
	logFormat  string
	now        string
	// failpoints kill the process at the steps of a change or pull request (tests only).
	failpoints *failpoint.Set
}

// run builds the command tree and runs it, returning the process exit code. fps are the
// failpoints enabled (nil: none).
func run(ctx context.Context, args []string, s streams, fps *failpoint.Set) int {
	g := &globals{failpoints: fps}
	root := newRootCmd(g, s)
	root.SetArgs(args)
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(s.err, "zerodrift: %v\n", err)
		return exitFailed
	}
}

func newRootCmd(g *globals, s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "zerodrift",
		Short: "Keep Google Cloud on a zero-trust baseline",
		Long: `zerodrift reads your Google Cloud organisation (live, or from a Cloud Asset Inventory
export), finds drift from a zero-trust baseline (firewalls open to the internet, default
networks, over-privileged service accounts, old keys, public IAM bindings) and reports it.

Try it with no Google account against the built-in sandbox:

  zerodrift scan --sandbox`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "configuration file (YAML); defaults apply without one")
	pf.StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	pf.StringVar(&g.logFormat, "log-format", "console", "log format: console or json")
	pf.StringVar(&g.now, "now", "", "evaluate as of this RFC 3339 time instead of the clock (reproducible reports)")
	_ = pf.MarkHidden("now")
	root.AddCommand(newScanCmd(g, s), newRunCmd(g, s), newPlaybookCmd(g, s), newHistoryCmd(g, s), newRollbackCmd(g, s),
		newSandboxCmd(g, s), newValidateCmd(g, s), newServeCmd(g, s), newVersionCmd(s))
	root.AddCommand(newRulesCmd(g, s))
	return root
}

// logger builds the zap logger the flags ask for, writing to stderr.
func (g *globals) logger(s streams) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(g.logLevel)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	var enc zapcore.Encoder
	switch g.logFormat {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey, ec.MessageKey, ec.LevelKey = "time", "message", "severity"
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout(time.TimeOnly)
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("--log-format: %q is not console or json", g.logFormat)
	}
	// Goroutines log at once (a live scan reads many projects together): the writer is
	// locked, as stderr may be any io.Writer (a buffer in tests) and interleaved writes
	// would garble lines.
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(s.err)), level)), nil
}

// clock returns the evaluation time: --now, or the system clock.
func (g *globals) clock() (time.Time, error) {
	if g.now == "" {
		return time.Now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, g.now)
	if err != nil {
		return time.Time{}, fmt.Errorf("--now: %q is not an RFC 3339 time such as 2026-12-01T00:00:00Z", g.now)
	}
	return t, nil
}

// isTerminal reports whether w is a terminal that should get colours.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

func newVersionCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print zerodrift's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(s.out, "zerodrift %s\n", version)
			return err
		},
	}
}
