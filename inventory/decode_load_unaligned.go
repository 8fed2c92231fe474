//go:build amd64 || arm64 || 386 || ppc64le

package inventory

import "unsafe"

// load64 returns the eight bytes of b at i as a little-endian word. The caller has checked
// that i >= 0 and i+8 <= len(b). These architectures load unaligned words directly, which
// spares the scanner's inner loop the bounds checks of encoding/binary.
func load64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}
