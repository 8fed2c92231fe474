//go:build !linux

package process

// self knows no process identity off Linux: locks are then left to their TTL.
func self() ID { return ID{} }

func startOf(int) (start uint64, exists, known bool) { return 0, false, false }
