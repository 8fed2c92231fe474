// Package process identifies a process well enough that another process can later prove it
// dead: a run that crashed holding a resource lock leaves the lock to its successor at once,
// instead of blocking it until the lock's TTL passes.
//
// An ID is the kernel's boot ID, the PID namespace, the PID and the process's start time
// (and the host name, for people). Another process can prove the holder dead only when it
// runs under the same boot and in the same PID namespace: then the PID either no longer
// exists or now belongs to a process that started at another time. In any other case (another
// host, another container, a system without /proc) nothing is proven and the lock's TTL
// decides, as before.
package process

import (
	"fmt"
	"strconv"
	"strings"
)

// ID identifies one process. The zero ID identifies nothing and is never proven dead.
type ID struct {
	Host  string
	Boot  string
	PIDNS string
	PID   int
	// Start is the process's start time, in clock ticks since boot.
	Start uint64
}

// IsZero reports whether the ID identifies nothing.
func (id ID) IsZero() bool { return id.Boot == "" || id.PID <= 0 }

// String renders the ID as Parse reads it: host/pid/start/pidns/boot.
func (id ID) String() string {
	if id.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s/%d/%d/%s/%s", id.Host, id.PID, id.Start, id.PIDNS, id.Boot)
}

// Parse reads an ID that String rendered.
func Parse(s string) (ID, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return ID{}, false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return ID{}, false
	}
	start, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return ID{}, false
	}
	id := ID{Host: parts[0], PID: pid, Start: start, PIDNS: parts[3], Boot: parts[4]}
	if id.IsZero() || id.PIDNS == "" {
		return ID{}, false
	}
	return id, true
}

// Self identifies the calling process; the zero ID where the system does not tell enough.
func Self() ID { return self() }

// Dead reports whether id's process is proven to have ended, as seen from the calling
// process (self, from Self). False means alive or unknown.
func Dead(self, id ID) bool {
	if self.IsZero() || id.IsZero() || self.Boot != id.Boot || self.PIDNS != id.PIDNS || self.PIDNS == "" {
		return false
	}
	if id.PID == self.PID {
		return id.Start != self.Start
	}
	start, exists, known := startOf(id.PID)
	if !known {
		return false
	}
	return !exists || start != id.Start
}
