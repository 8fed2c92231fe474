// Command gen writes a synthetic Cloud Asset Inventory export (JSON lines, as `gcloud asset
// export` writes them) to standard output, for benchmarking zerodrift on exports of any size:
//
//	go run ./bench/gen -assets 1000000 > export.json
//	zerodrift scan --assets export.json --format json > /dev/null
//
// The export mixes firewalls, instances, subnetworks, networks, service accounts, service
// account keys and project IAM policies, about 1.5 KB an asset, of which about 8.9% drift
// (one finding or more with the default rule set); -no-drift writes the same mix with no
// drift at all. Package synth documents the mix in detail, and bench/README.md how to
// measure with it.
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
	noDrift := flag.Bool("no-drift", false, "write the same mix without drift: no finding at all")
	flag.Parse()
	if *n < 0 {
		fmt.Fprintln(os.Stderr, "gen: -assets must be 0 or more")
		os.Exit(2)
	}
	if err := synth.WriteOptions(os.Stdout, *n, *seed, synth.Options{NoDrift: *noDrift}); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
