package s3

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/mp3converter/mp3converter"
)

const (
	// fetchChunk is the size of each ranged GET of Fetch, and
	// fetchInFlight how many run at once.
	fetchChunk    = 8 << 20
	fetchInFlight = 4
	// fetchBuffer is what each GET of Fetch reads at a time.
	fetchBuffer = 1 << 20
)

// Fetch copies blob id into dst, at the same offsets, with up to
// fetchInFlight ranged GETs at once, and returns its size: faster than
// reading Get's reader through, for a reader that needs the whole blob as
// a file (the converter's ffmpeg). An *os.File is an io.WriterAt. It holds
// fetchInFlight buffers of 1 MiB. On error, dst holds part of the blob.
//
// Fetch returns an error wrapping mp3converter.ErrNotFound if id is invalid
// or the object is absent, one wrapping mp3converter.ErrUnavailable in an
// outage, and one wrapping mp3converter.ErrInsufficientStorage if dst's
// disk is full.
func (s *Store) Fetch(ctx context.Context, id string, dst io.WriterAt) (int64, error) {
	h, err := s.head(ctx, "fetch", id)
	if err != nil {
		return 0, err
	}
	size := *h.ContentLength
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchInFlight)
	for off := int64(0); off < size && gctx.Err() == nil; off += fetchChunk {
		g.Go(func() error {
			return s.fetchRange(gctx, id, h.ETag, dst, off, min(off+fetchChunk, size))
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("s3 fetch %s: %w", id, err)
	}
	return size, nil
}

// fetchRange copies bytes [from, to) of blob id's object to dst.
func (s *Store) fetchRange(ctx context.Context, id string, etag *string, dst io.WriterAt, from, to int64) error {
	body, err := s.getRange(ctx, "fetch", id, etag, from, to-1)
	if err != nil {
		return err
	}
	defer body.Close()
	buf := make([]byte, min(fetchBuffer, to-from))
	for off := from; off < to; {
		n, err := io.ReadFull(body, buf[:min(int64(len(buf)), to-off)])
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return s.c.wrap(ctx, "fetch", id, err)
		}
		if _, err := dst.WriteAt(buf[:n], off); err != nil {
			if mp3converter.IsOutOfSpace(err) {
				return fmt.Errorf("s3 fetch %s: %w: %w", id, mp3converter.ErrInsufficientStorage, err)
			}
			return fmt.Errorf("s3 fetch %s: writing: %w", id, err)
		}
		off += int64(n)
	}
	return nil
}
