//go:build !amd64 && !arm64

package topic

import "unsafe"

// prefetch does nothing where Petrel has no prefetch instruction for the
// processor: matches stay correct, their cache misses just overlap less.
func prefetch(unsafe.Pointer) {}
