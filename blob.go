package mp3converter

import (
	"context"
	"io"
)

// BlobStore keeps media files (videos or MP3s) under ids of the form NewID
// returns. Files are streamed in both directions, never held in memory.
type BlobStore interface {
	// Put stores everything read from r as id and returns its size. The blob
	// appears whole or not at all: if r fails or ctx ends, nothing is left.
	// It returns ErrConflict if id exists.
	Put(ctx context.Context, id string, r io.Reader) (int64, error)
	// Get opens a blob; the caller closes it. The ReadCloser may also
	// implement io.Seeker, for range requests. ErrNotFound if absent.
	Get(ctx context.Context, id string) (io.ReadCloser, error)
	// Delete removes a blob; ErrNotFound if absent.
	Delete(ctx context.Context, id string) error
}

// Pinger is implemented by stores and queues that can check that their
// backend is reachable, for readiness probes.
type Pinger interface {
	Ping(ctx context.Context) error
}
