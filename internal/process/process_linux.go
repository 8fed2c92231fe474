package process

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

func self() ID {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ID{}
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ID{}
	}
	pid := os.Getpid()
	start, exists, known := startOf(pid)
	if !exists || !known {
		return ID{}
	}
	host, _ := os.Hostname()
	return ID{Host: strings.ReplaceAll(host, "/", "_"), Boot: strings.TrimSpace(string(boot)),
		PIDNS: strings.Trim(strings.TrimPrefix(ns, "pid:"), "[]"), PID: pid, Start: start}
}

// startOf reads a process's start time from /proc/PID/stat: exists is false when there is
// no such process, known is false when /proc could not tell.
func startOf(pid int) (start uint64, exists, known bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, true
	}
	if err != nil {
		return 0, false, false
	}
	// The command name (field 2) is in parentheses and may hold anything: the fields
	// after its last ')' start with field 3, the state; the start time is field 22.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false, false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, false, false
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, false, false
	}
	return start, true, true
}
