//go:build !(amd64 || arm64 || 386 || ppc64le)

package inventory

import "encoding/binary"

// load64 returns the eight bytes of b at i as a little-endian word; i+8 <= len(b).
func load64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }
