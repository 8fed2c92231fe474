// Command rss measures an offline scan end to end: it writes a synthetic export (package
// synth) to a temporary file, or takes one with -export, scans it with the default rule set
// in a child process, as `zerodrift scan --assets` does, and reports the child's peak
// resident set size, wall and CPU time, and throughput:
//
//	go run ./bench/rss -assets 100000 -no-drift
//	go run ./bench/rss -assets 1000000 -no-drift
//	GOMAXPROCS=1 go run ./bench/rss -assets 1000000
//
// The export is written by the parent, so the child's peak RSS is the scan's alone:
// decoding, rules, and the findings it keeps for the report. -no-drift writes an export
// with no finding, to see memory without them; it should not grow with the export.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/zerodrift/zerodrift/bench/synth"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

func main() {
	n := flag.Int("assets", 100000, "number of synthetic assets to scan")
	seed := flag.Uint64("seed", 1, "random seed of the synthetic export")
	noDrift := flag.Bool("no-drift", false, "scan an export without drift: no finding at all")
	export := flag.String("export", "", "scan this CAI export instead of a synthetic one")
	child := flag.Bool("child", false, "scan -export in this process (used by the parent)")
	flag.Parse()
	if *child {
		if err := scanExport(*export); err != nil {
			fmt.Fprintln(os.Stderr, "rss:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *seed, *noDrift, *export); err != nil {
		fmt.Fprintln(os.Stderr, "rss:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, noDrift bool, export string) error {
	if export == "" {
		f, err := os.CreateTemp("", "zerodrift-rss-*.json")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		if err := synth.WriteOptions(f, n, seed, synth.Options{NoDrift: noDrift}); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		export = f.Name()
	}
	st, err := os.Stat(export)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-child", "-export", export)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scanning in a child process: %w", err)
	}
	wall := time.Since(start)
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Printf("export: %s, %.1f MB\n", export, float64(st.Size())/1e6)
	fmt.Printf("child: %.2fs wall, %.2fs CPU, peak RSS %s (GOMAXPROCS=%d)\n",
		wall.Seconds(), cpu.Seconds(), peakRSS(cmd.ProcessState), gomaxprocs())
	return nil
}

// gomaxprocs is the child's GOMAXPROCS: it inherits the environment, so it is the parent's.
func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// scanExport scans the export as `zerodrift scan --assets` does and prints what it saw.
func scanExport(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	opts := scan.Options{Rules: rules.Default(), Env: rules.DefaultEnv(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))}
	start := time.Now()
	rep, err := scan.Run(context.Background(), &inventory.ExportSource{Name: path, R: bufio.NewReaderSize(f, 1<<20)}, opts)
	if err != nil {
		return err
	}
	took := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("scan: %d assets, %d findings, %d errors in %.2fs: %.0f assets/s; heap in use at the end %.1f MB\n",
		rep.Summary.Assets, len(rep.Findings), len(rep.Errors), took.Seconds(),
		float64(rep.Summary.Assets)/took.Seconds(), float64(ms.HeapInuse)/1e6)
	return nil
}
