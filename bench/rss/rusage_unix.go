//go:build unix

package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// peakRSS reads the peak resident set size of a finished child process.
func peakRSS(ps *os.ProcessState) string {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return "unknown"
	}
	b := float64(ru.Maxrss) * 1024 // kilobytes on Linux and the BSDs
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		b = float64(ru.Maxrss) // bytes
	}
	return fmt.Sprintf("%.1f MB", b/1e6)
}
