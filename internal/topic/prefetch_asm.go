//go:build amd64 || arm64

package topic

import "unsafe"

// prefetch asks the processor to start loading the cache line at p, without
// waiting for it: Go has no prefetch of its own outside the runtime, and a
// plain load would hold up every instruction after it until the line came.
//
//go:noescape
func prefetch(p unsafe.Pointer)
