// Command gen writes a synthetic Cloud Asset Inventory export (JSON lines) to standard output,
// for benchmarking zerodrift on exports of any size:
//
//	go run ./bench/gen -assets 1000000 > export.json
//	zerodrift scan --assets export.json --format json > /dev/null
//
// The mix of asset types is documented in package synth.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zerodrift/zerodrift/bench/synth"
)

func main() {
	n := flag.Int("assets", 100000, "number of assets to write")
	seed := flag.Uint64("seed", 1, "random seed; the same seed writes the same export")
	flag.Parse()
	if *n < 0 {
		fmt.Fprintln(os.Stderr, "gen: -assets must be 0 or more")
		os.Exit(2)
	}
	if err := synth.Write(os.Stdout, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
