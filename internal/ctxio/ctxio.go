// Package ctxio ties reads to a context, so that a copy with no deadline of
// its own (a blob store's Put) stops when its request or job ends.
package ctxio

import (
	"context"
	"io"
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
