// Package ctxio ties reads to a context, so that a copy with no deadline of
// its own (a blob store's Put) stops when its request or job ends.
package ctxio

import (
	"context"
	"io"
	"sync"
)

// Reader returns a reader that reads from r until ctx ends, and from then on
// returns ctx's error. A Read already blocked in r is not interrupted.
func Reader(ctx context.Context, r io.Reader) io.Reader {
	return reader{ctx, r}
}

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// copyBuffer is the most bytes Copy writes at once.
const copyBuffer = 1 << 20

// buffers are Copy's, reused: on a VM, new memory's first touch costs
// more than copying into it, and each upload's fresh buffer was garbage
// that brought the next collection sooner.
var buffers = sync.Pool{New: func() any { return new([copyBuffer]byte) }}

// Copy copies src to dst until ctx ends, in writes of up to 1 MiB rather
// than io.Copy's 32 KiB: writing a file costs a system call per write,
// and on a VM the calls cost more than copying the bytes.
func Copy(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	bp := buffers.Get().(*[copyBuffer]byte)
	defer buffers.Put(bp)
	buf := bp[:]
	src = Reader(ctx, src)
	var n int64
	for {
		k, err := io.ReadFull(src, buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return n, nil
		default:
			return n, err
		}
	}
}
