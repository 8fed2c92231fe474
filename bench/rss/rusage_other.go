//go:build !unix

package main

import "os"

// peakRSS is not known on this system.
func peakRSS(*os.ProcessState) string { return "unknown" }
