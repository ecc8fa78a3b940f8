package localfs

import "os"

// writeback writes to a blob's temp file and starts the disk writing each
// chunk at once (startWriteback), so that the fsync that makes the blob
// durable waits for the last chunk rather than for all of them: an upload
// is answered sooner after its last byte.
type writeback struct {
	f     *os.File
	off   int64
	early bool // false: leave it all to the fsync (for the benchmark)
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if n > 0 && w.early {
		startWriteback(w.f, w.off, int64(n))
	}
	w.off += int64(n)
	return n, err
}
