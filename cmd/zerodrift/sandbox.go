package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/sandbox"
)

// builtinScenario is the value of --sandbox without a folder.
const builtinScenario = "builtin"

// loadScenario loads the built-in scenario, or the one in dir.
func loadScenario(dir string) (*sandbox.Scenario, error) {
	if dir == "" || dir == builtinScenario {
		return sandbox.Builtin()
	}
	sc, err := sandbox.LoadScenario(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("loading scenario %s: %w", dir, err)
	}
	return sc, nil
}

// startSandbox serves a scenario on listen and returns the server.
func startSandbox(dir, listen string, opts ...sandbox.Option) (*sandbox.Server, error) {
	srv, _, err := startScenario(dir, listen, opts...)
	return srv, err
}

// startScenario is startSandbox that also returns the scenario (its iac/ tree, say).
func startScenario(dir, listen string, opts ...sandbox.Option) (*sandbox.Server, *sandbox.Scenario, error) {
	sc, err := loadScenario(dir)
	if err != nil {
		return nil, nil, err
	}
	srv, err := sandbox.New(sc, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	if _, err := srv.Start(listen); err != nil {
		return nil, nil, fmt.Errorf("starting the sandbox on %s: %w", listen, err)
	}
	return srv, sc, nil
}

func newSandboxCmd(g *globals, s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the GCP emulator zerodrift tests and demos against",
	}
	var scenario, listen, profile string
	var faults sandbox.Faults
	var githubTokens []string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve a scenario at Google's REST paths until interrupted",
		Long: `Serve the Compute Engine, Resource Manager and IAM REST endpoints zerodrift uses, from a
scenario folder holding assets.json (a Cloud Asset Inventory export) and optionally
sandbox.yaml (faults). State is kept in memory: a later GET shows a change. Point
zerodrift at it with gcp.endpoint in the configuration. --faults injects a named mix of
faults (bursts of 5xx, rate limits, timeouts, etag conflicts, failing operations, GitHub's
rate limits, lost answers and truncated trees), the same for the same --seed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(s)
			if err != nil {
				return err
			}
			opts := []sandbox.Option{sandbox.WithFaults(faults), sandbox.WithGitHub(sandbox.GitHubOptions{Tokens: githubTokens})}
			if profile != "" {
				for _, f := range []string{"latency", "error-rate", "error-status", "retry-after", "etag-conflicts"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--faults %s sets every fault: drop --%s", profile, f)
					}
				}
				p, err := sandbox.FaultProfile(profile, faults.Seed)
				if err != nil {
					return fmt.Errorf("--faults: %w", err)
				}
				opts = append(opts, sandbox.WithFaultProfile(p))
				fmt.Fprintf(s.out, "injecting fault profile %s (seed %d): %s\n", p.Name, p.Seed, p.Summary)
			}
			srv, err := startSandbox(scenario, listen, opts...)
			if err != nil {
				return err
			}
			defer srv.Close()
			log.Info("sandbox serving", zap.String("url", srv.URL()), zap.Strings("projects", srv.Projects()))
			fmt.Fprintf(s.out, "sandbox serving %d projects at %s (gcp.endpoint: %s); interrupt to stop\n",
				len(srv.Projects()), srv.URL(), srv.URL())
			<-cmd.Context().Done()
			return nil
		},
	}
	serve.Flags().StringVar(&scenario, "scenario", builtinScenario, "scenario folder, or builtin")
	serve.Flags().StringVar(&listen, "listen", "127.0.0.1:8085", "address to listen on")
	serve.Flags().DurationVar(&faults.Latency, "latency", 0, "delay every API call by this long (e.g. 100ms)")
	serve.Flags().Float64Var(&faults.ErrorRate, "error-rate", 0, "fail this fraction (0 to 1) of API calls with --error-status")
	serve.Flags().IntVar(&faults.ErrorStatus, "error-status", 503, "HTTP status of injected failures (e.g. 429, 500, 503)")
	serve.Flags().DurationVar(&faults.RetryAfter, "retry-after", 0, "Retry-After sent with injected failures")
	serve.Flags().IntVar(&faults.EtagConflicts, "etag-conflicts", 0, "make this many setIamPolicy calls meet a concurrent writer (409)")
	serve.Flags().Int64Var(&faults.Seed, "seed", 1, "seed of the fault generator: the same seed fails the same calls")
	serve.Flags().StringVar(&profile, "faults", "", "inject a named fault profile, drawn from --seed, in place of the fault flags above: "+
		strings.Join(sandbox.FaultProfiles(), ", "))
	serve.Flags().StringArrayVar(&githubTokens, "github-token", nil, "a token the GitHub emulator accepts (repeatable; default "+sandbox.DefaultGitHubToken+")")
	cmd.AddCommand(serve)
	return cmd
}
