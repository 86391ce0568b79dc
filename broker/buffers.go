package broker

import "sync"

// Read and write buffers are pooled: a connection holds one only while
// data is in flight, so an idle connection holds none.
const (
	readChunk  = 16 << 10
	poolMaxCap = 256 << 10
)

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, readChunk); return &b }}

// getBuffer returns an empty buffer with room for readChunk bytes.
func getBuffer() []byte { return (*bufferPool.Get().(*[]byte))[:0] }

// putBuffer returns a buffer to the pool; very large ones go to the
// collector instead, so one burst does not pin memory.
func putBuffer(b []byte) {
	if cap(b) < readChunk || cap(b) > poolMaxCap {
		return
	}
	b = b[:0]
	bufferPool.Put(&b)
}
